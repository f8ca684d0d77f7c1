"""Pure parts of politeness: the host gate, the board's per-host queues, robots, retry timing."""

import random

import pytest

from crawler.master.board import Task, TaskBoard
from crawler.rules.politeness import HostGate
from crawler.rules.retry import parse_retry_after, should_retry, wait_seconds
from crawler.rules.robots import Robots


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def task(i, host="a"):
    return Task(i, f"http://{host}/{i}.jpg", None)


def test_gate_limits_in_flight_and_spaces_starts():
    clock = Clock()
    gate = HostGate(per_host=2, delay=1.0, clock=clock)
    assert gate.try_start("h") and not gate.try_start("h")  # delay
    clock.now += 1
    assert gate.try_start("h")
    clock.now += 1
    assert not gate.try_start("h")  # two in flight
    gate.finish("h")
    assert gate.try_start("h") and gate.try_start("other")


def test_a_crawl_delay_raises_the_delay_for_its_host_only():
    gate = HostGate(per_host=8, delay=0.5)
    gate.set_delay("slow", 3.0)
    assert gate.delay_for("slow") == 3.0 and gate.delay_for("fast") == 0.5


def test_a_crawl_delay_counts_from_the_robots_txt_that_asked_for_it():
    clock = Clock()
    gate = HostGate(per_host=8, delay=0.0, clock=clock)
    assert gate.try_start("h")  # robots.txt
    clock.now += 0.1
    gate.finish("h")
    gate.set_delay("h", 3.0)  # its answer asks for 3 s
    clock.now += 2.9
    assert not gate.try_start("h")
    clock.now += 0.1
    assert gate.try_start("h") and not gate.try_start("h")


def test_board_hands_out_hosts_in_turn_and_respects_their_limits():
    board = TaskBoard(60, gate=HostGate(per_host=2, delay=0.0))
    board.add_many([task(i, "a") for i in range(1, 6)] + [task(i, "b") for i in range(6, 8)])
    got = board.get_many("w", 10)
    assert sorted(t["url"].split("/")[2] for t in got) == ["a", "a", "b", "b"]
    assert board.get_many("w", 10) == []  # both hosts at their limit
    board.ack(Task(got[0]["id"], got[0]["url"], None))
    assert len(board.get_many("w", 10)) == 1


def test_board_gives_delayed_hosts_only_to_idle_threads():
    clock = Clock()
    board = TaskBoard(60, clock=clock, gate=HostGate(per_host=8, delay=0.2, clock=clock))
    board.add_many([task(i) for i in range(1, 4)])
    assert board.get_many("w", 8, 0, idle=0) == []
    assert len(board.get_many("w", 8, 0, idle=3)) == 1  # and one per delay
    clock.now += 0.2
    assert len(board.get_many("w", 8, 0, idle=3)) == 1


def test_pages_waiting_for_a_host_get_its_slots_while_few_images_wait():
    board = TaskBoard(60, gate=HostGate(per_host=2, delay=0.0))
    board.add_many([task(i) for i in range(1, 4)])  # 3 images of host a: fewer than 2 x per_host
    assert len(board.get_many("w", 8)) == 2  # nobody else waits: both slots
    board.wait_for_pages({"a": 1})  # the master has a page of a, and a thread free for it
    board.arrived([{"id": 1, "worker": "w"}])
    assert board.get_many("w", 8) == []  # the freed slot waits for the page
    assert board.try_start("a")  # which takes it
    board.wait_for_pages({})
    board.arrived([{"id": 2, "worker": "w"}])
    assert [t["id"] for t in board.get_many("w", 8)] == [3]  # no page waiting: images again


def test_images_go_first_again_once_enough_of_them_wait():
    board = TaskBoard(60, gate=HostGate(per_host=2, delay=0.0))
    board.add_many([task(i) for i in range(1, 8)])
    assert len(board.get_many("w", 2)) == 2
    board.wait_for_pages({"a": 2, "b": 1})
    board.arrived([{"id": 1, "worker": "w"}])
    assert [t["id"] for t in board.get_many("w", 8)] == [3]  # 5 wait, 2 x per_host: pages wait their turn


def test_expired_and_released_leases_free_their_host():
    clock = Clock()
    board = TaskBoard(10, clock=clock, gate=HostGate(per_host=1, delay=0.0, clock=clock))
    board.add_many([task(1), task(2)])
    first = board.get_many("w", 2)
    assert len(first) == 1
    clock.now += 11
    assert len(board.take_expired()) == 1
    second = board.get_many("w", 2)
    assert len(second) == 1
    assert board.release("w", [second[0]["id"]]) == 1
    assert len(board.get_many("w", 2)) == 1


@pytest.mark.parametrize("status, body, url, allowed", [
    (200, b"User-agent: *\nDisallow: /private/", "http://h/private/x.jpg", False),
    (200, b"User-agent: *\nDisallow: /private/", "http://h/public/x.jpg", True),
    (200, b"User-agent: crawler\nDisallow: /\n\nUser-agent: *\nAllow: /", "http://h/x", False),
    (404, None, "http://h/anything", True),
    (403, None, "http://h/anything", True),
])
def test_robots_verdicts(status, body, url, allowed):
    robots = Robots("crawler/0.1")
    assert robots.verdict(url) is None and robots.due() == ["http://h"]
    robots.fetched("http://h", status, body)
    assert robots.verdict(url) is allowed


def test_robots_5xx_defers_with_backoff_then_gives_up():
    clock = Clock()
    robots = Robots("crawler", clock=clock)
    robots.verdict("http://h/x")
    for attempt in range(4):
        due = robots.due()
        assert due == ["http://h"], attempt
        robots.fetched("http://h", 503, None)
        assert robots.due() == []
        clock.now += 1000
    assert robots.verdict("http://h/x") is False and robots.given_up("http://h/x")
    assert robots.failure("http://h/y")[0] == "robots-unavailable"


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
    r.fetched("http://h:9", None, None, error="connection refused by h", unreachable=True)
    assert r.verdict("http://h:9/a") is False and r.due() == []
    assert r.failure("http://h:9/other") == ("unreachable", "connection refused by h")
    assert r.failure("http://h/a") is None


def test_retry_after_on_a_robots_txt_503_is_honoured_within_bounds():
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


def test_crawl_delay_is_reported():
    robots = Robots("crawler")
    robots.verdict("http://h/")
    robots.due()
    assert robots.fetched("http://h", 200, b"User-agent: *\nCrawl-delay: 2.5\n") == 2.5


@pytest.mark.parametrize("reason, status, retry", [
    ("network", None, True), ("timeout", None, True), ("http-status", 503, True), ("http-status", 429, True),
    ("http-status", 408, True), ("http-status", 404, False), ("http-status", 403, False), ("not-an-image", 200, False),
    ("too-large", 200, False), ("blocked-address", None, False),
])
def test_what_is_retried(reason, status, retry):
    assert should_retry(reason, status) is retry


def test_retry_after_in_seconds_or_as_a_date():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_backoff_grows_with_jitter_and_a_long_retry_after_means_no_retry():
    rng = random.Random(1)
    waits = [wait_seconds(a, None, rng) for a in (1, 2, 3, 4)]
    assert 0.25 <= waits[0] <= 0.5 and 2.0 <= waits[3] <= 4.0
    assert wait_seconds(1, 5.0) == 5.0 and wait_seconds(1, 3600.0) is None
