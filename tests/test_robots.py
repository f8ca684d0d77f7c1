"""robots.txt states per origin: pure, with a fake clock."""

from crawler.robots import MAX_TRIES, RETRY_SECONDS, Robots


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_an_unknown_origin_waits_and_only_that_origin():
    r = Robots("bot", clock=Clock())
    assert r.verdict("http://h/a") is None and r.verdict("http://h:9/a") is None
    assert r.due() == ["http://h", "http://h:9"] and r.due() == []  # pending: asked for once
    r.fetched("http://h", 404, None)
    assert r.verdict("http://h/a") is True and r.verdict("http://h:9/b") is None


def test_a_refused_or_unresolvable_origin_is_given_up_at_once_with_its_error():
    r = Robots("bot", clock=Clock())
    r.verdict("http://h:9/a")
    r.due()
    r.fetched("http://h:9", None, None, error="connection refused: [Errno 111]", unreachable=True)
    assert r.verdict("http://h:9/a") is False and r.due() == [] and not r.pending()
    assert r.failure("http://h:9/other") == ("unreachable", "connection refused: [Errno 111]")
    assert r.failure("http://h/a") is None


def test_a_5xx_defers_with_backoff_then_gives_up_as_robots_unavailable():
    clock = Clock()
    r = Robots("bot", clock=clock)
    r.verdict("http://h/a")
    for attempt in range(1, MAX_TRIES):
        assert r.due() == ["http://h"]
        r.fetched("http://h", 503, None, error="HTTP 503")
        assert r.verdict("http://h/a") is None and r.due() == []
        clock.now += RETRY_SECONDS * 2 ** (attempt - 1)
    assert r.due() == ["http://h"]
    r.fetched("http://h", None, None, error="timed out")
    assert r.verdict("http://h/a") is False and r.failure("http://h/a") == ("robots-unavailable", "timed out")


def test_retry_after_on_a_503_is_honoured_within_bounds():
    clock = Clock()
    r = Robots("bot", clock=clock)
    r.verdict("http://h/a")
    r.due()
    r.fetched("http://h", 503, None, retry_after=1.0)
    clock.now += 1.0
    assert r.due() == ["http://h"]  # not the 5 s of the default backoff
    r.fetched("http://h", 503, None, retry_after=0.0)
    clock.now += 0.5
    assert r.due() == []  # at least a second between tries, whatever the server says
    clock.now += 0.5
    assert r.due() == ["http://h"]
    r.fetched("http://h", 200, b"User-agent: *\nDisallow: /private/\n")
    assert r.verdict("http://h/a") is True and r.verdict("http://h/private/x") is False
    assert r.failure("http://h/private/x") is None  # disallowed, not given up
