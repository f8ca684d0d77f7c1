"""Crawling like a good citizen, end to end: robots.txt, per-host limits over the whole
cluster, retries, redirects, content dedupe and filters, against recording local servers."""

import signal
from itertools import pairwise
from pathlib import Path

import pytest

from devtools import imagegen

from .procs import Recorder, crawl, output, records, wait_for, write_file

pytestmark = pytest.mark.timeout(120)


def robots_site(root: Path) -> None:
    write_file(root, "robots.txt", "User-agent: *\nDisallow: /private/\n")
    write_file(root, "index.html", '<a href="/private/p.html">p</a><a href="/public/p.html">q</a>'
                                   '<img src="/public/a.png"><img src="/private/b.png">')
    write_file(root, "private/p.html", '<img src="/public/c.png">')
    write_file(root, "public/p.html", '<img src="/public/d.png">')
    for i, name in enumerate("abcd"):
        write_file(root, f"{'private' if name == 'b' else 'public'}/{name}.png", imagegen.png(8, 8, i))


def test_robots_txt_keeps_pages_and_images_out_of_a_disallowed_folder(tmp_path, procs, servers):
    robots_site(tmp_path / "site")
    rec = Recorder()
    base = servers(tmp_path / "site", rec)
    got, log, _ = crawl(procs, tmp_path, base + "index.html")
    assert not [p for p in rec.paths() if p.startswith("/private/")]
    assert rec.paths().count("/robots.txt") == 1
    assert got[base + "public/a.png"]["ok"] and got[base + "public/d.png"]["ok"]
    assert got[base + "private/b.png"]["reason"] == "robots" and base + "public/c.png" not in got


def test_ignore_robots_crawls_the_disallowed_folder_too(tmp_path, procs, servers):
    robots_site(tmp_path / "site")
    rec = Recorder()
    base = servers(tmp_path / "site", rec)
    got, _, _ = crawl(procs, tmp_path, base + "index.html", "--ignore-robots")
    assert "/robots.txt" not in rec.paths() and "/private/p.html" in rec.paths()
    assert all(got[base + f"{d}/{n}.png"]["ok"] for d, n in (("public", "a"), ("private", "b"), ("public", "c")))


def test_robots_txt_answering_503_defers_its_origin_and_one_that_never_recovers_is_given_up(
        tmp_path, procs, servers):
    robots_site(tmp_path / "site")
    rec = Recorder()
    busy = (503, {"Retry-After": "1"}, b"busy")
    down = servers(tmp_path / "down", rec, host="127.0.0.2", routes={"/robots.txt": [busy]})
    write_file(tmp_path / "down", "page.html", '<img src="/b.png">')
    write_file(tmp_path / "down", "b.png", imagegen.png(8, 8, 5))
    with open(tmp_path / "site" / "index.html", "a") as f:
        f.write(f'<a href="{down}page.html">down</a><img src="{down}b.png">')
    routes = {"/robots.txt": [busy, (200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private/\n")]}
    base = servers(tmp_path / "site", rec, routes=routes)
    got, log, _ = crawl(procs, tmp_path, base + "index.html", "--allow-domain", "127.0.0.2", "--allow-private")
    ours = [p for _, h, p in rec.requests if h == "127.0.0.1"]
    assert ours[:2] == ["/robots.txt", "/robots.txt"], ours  # nothing else before robots.txt is known
    assert "tried again later" in log and got[base + "private/b.png"]["reason"] == "robots"
    # the other origin's robots.txt never recovers: tried 4 times, Retry-After apart, then given
    # up; its page and image are never requested, and are recorded as such
    theirs = [(t, p) for t, h, p in rec.requests if h == "127.0.0.2"]
    assert [p for _, p in theirs] == ["/robots.txt"] * 4, theirs
    assert all(b - a >= 0.9 for (a, _), (b, _) in pairwise(theirs)), theirs
    assert not got[down + "b.png"]["ok"] and got[down + "b.png"]["reason"] == "robots-unavailable"
    assert f"{down.rstrip('/')}/robots.txt could not be read (HTTP 503" in log and "giving up on that site" in log
    assert "2 skipped (robots 1, robots-unavailable 1)" in log, log


def test_an_origin_whose_robots_txt_answers_503_waits_alone_while_its_host_name_goes_on(tmp_path, procs, servers):
    rec = Recorder()
    routes = {"/robots.txt": [(503, {"Retry-After": "1"}, b"busy"), (404, {}, b"")]}
    other = servers(tmp_path / "b", rec, routes=routes)  # the same host name, another port
    write_file(tmp_path / "b", "page.html", '<img src="/later.png">')
    write_file(tmp_path / "b", "later.png", imagegen.png(8, 8, 9))
    site = tmp_path / "a"
    write_file(site, "index.html", f'<a href="{other}page.html">b</a><img src="{other}later.png">'
                                   + "".join(f'<a href="/a{i}.html">{i}</a>' for i in range(5)))
    for i in range(5):
        write_file(site, f"a{i}.html", f'<img src="/img/{i}.png">')
        write_file(site, f"img/{i}.png", imagegen.png(8, 8, i))
    base = servers(site, rec)
    got, log, _ = crawl(procs, tmp_path, base + "index.html")
    assert sum(r["ok"] for r in got.values()) == 6, got
    port = other.rsplit(":", 1)[1].rstrip("/")
    retried = [t for t, _, p in rec.requests if p == "/robots.txt"][-1]  # the other origin's second try
    ours = [t for t, _, p in rec.requests if p.startswith(("/a", "/img/"))]
    assert len(ours) == 10 and max(ours) < retried, "the site waited for another origin's robots.txt"
    assert f"127.0.0.1:{port}/robots.txt could not be read" in log


def many_images_site(root: Path, n: int, other_base: str | None = None, other_n: int = 0) -> None:
    tags = [f'<img src="/img/{i}.png">' for i in range(n)]
    tags += [f'<img src="{other_base}img/{i}.png">' for i in range(other_n)]
    write_file(root, "index.html", "".join(tags))
    for i in range(max(n, other_n)):
        write_file(root, f"img/{i}.png", imagegen.png(8, 8, i))


def test_per_host_limit_holds_over_all_workers_and_threads(tmp_path, procs, servers):
    rec = Recorder()
    other = servers(tmp_path / "b", rec, host="127.0.0.2", delay=0.05)
    many_images_site(tmp_path / "b", 12)
    base = servers(tmp_path / "a", rec, delay=0.05)
    many_images_site(tmp_path / "a", 30, other, 12)
    got, _, _ = crawl(procs, tmp_path, base + "index.html", "--per-host", "2", "--threads", "8",
                      "--allow-private", workers=2)
    assert sum(r["ok"] for r in got.values()) == 42
    assert rec.peak["127.0.0.1"] == 2 and rec.peak["127.0.0.2"] == 2, rec.peak


class ImageRecorder(Recorder):
    """A Recorder that counts image requests under the host "images", so that the pages and
    robots.txt the master fetches do not raise the images' peak."""

    def __init__(self):
        import threading
        super().__init__()
        self.local = threading.local()  # a request begins and ends on its server thread

    def begin(self, host: str, path: str) -> None:
        self.local.key = "images" if path.endswith(".png") else host
        super().begin(self.local.key, path)

    def end(self, host: str) -> None:
        super().end(self.local.key)


def test_two_workers_with_fewer_threads_than_per_host_share_the_hosts_slots(tmp_path, procs, servers):
    """Two workers of 4 threads, --per-host 8, one host: the site sees more than 4 image
    requests at once and both workers store images. The tasks one worker leases ahead of its
    threads must not hold the host's slots while the other's threads idle (master/board/waiting.py):
    on main the first to ask held all 8 and took back every slot its results freed."""
    from collections import Counter
    rec = ImageRecorder()
    base = servers(tmp_path / "a", rec, delay=0.05)
    many_images_site(tmp_path / "a", 120)
    got, _, _ = crawl(procs, tmp_path, base + "index.html", "--per-host", "8", "--threads", "4", workers=2)
    stored = Counter(r["worker"] for r in got.values() if r["ok"])
    assert sum(stored.values()) == 120 and len(stored) == 2 and min(stored.values()) >= 30, stored
    assert 4 < rec.peak["images"] <= 8, rec.peak


DISPATCH_SLACK = 0.1
"""The most a request's way from the master's hand-out to the server may take here."""


def assert_spaced(starts: list[float], delay: float) -> None:
    """Request starts at least `delay` apart, as the master hands them out. Each reaches the
    server a little later (a worker's thread to wake, a connection to take), by a lag that a
    loaded machine stretches, so each start is held against every earlier one:
    t[j] - t[i] >= (j - i) * delay - DISPATCH_SLACK. One late request cannot break that;
    requests not spaced at all (a few ms apart) always do."""
    for i, a in enumerate(starts):
        for j in range(i + 1, len(starts)):
            assert starts[j] - a >= (j - i) * delay - DISPATCH_SLACK, (i, j, [round(t - starts[0], 3) for t in starts])


def test_delay_spaces_request_starts_while_another_host_proceeds(tmp_path, procs, servers):
    rec = Recorder()
    other = servers(tmp_path / "b", rec, host="127.0.0.2")
    many_images_site(tmp_path / "b", 6)
    base = servers(tmp_path / "a", rec)
    many_images_site(tmp_path / "a", 6, other, 6)
    got, _, _ = crawl(procs, tmp_path, base + "index.html", "--delay", "0.3", "--threads", "8",
                      "--allow-private", workers=2)
    assert sum(r["ok"] for r in got.values()) == 12
    for host in ("127.0.0.1", "127.0.0.2"):
        assert_spaced([t for t, h, _ in rec.requests if h == host], 0.3)
    a = [t for t, h, p in rec.requests if h == "127.0.0.1" and p.startswith("/img/")]
    b = [t for t, h, p in rec.requests if h == "127.0.0.2"]
    assert any(a[0] < t < a[-1] for t in b), "the second host waited for the first"


def test_crawl_delay_spaces_its_hosts_requests_up_to_30_s_and_sigterm_stops_the_crawl_cleanly(
        tmp_path, procs, servers):
    rec = Recorder()
    slow = servers(tmp_path / "b", rec, host="127.0.0.2")
    write_file(tmp_path / "b", "robots.txt", "User-agent: *\nCrawl-delay: 3600\n")  # an hour: 30 s here
    write_file(tmp_path / "b", "late.png", imagegen.png(8, 8, 9))
    site = tmp_path / "a"
    write_file(site, "robots.txt", "User-agent: *\nCrawl-delay: 0.3\n")
    base = servers(site, rec, delay=0.3)  # answers held 0.3 s: the last image is in flight at SIGTERM
    many_images_site(site, 5)
    with open(site / "index.html", "a") as f:
        f.write(f'<img src="{slow}late.png">')
    seeds, out = tmp_path / "seeds.txt", tmp_path / "out"
    seeds.write_text(base + "index.html\n")
    p = procs.start("run", str(seeds), "--workers", "1", "--out", str(out), "--timeout", "5", "--allow-private")
    lines = [p.stdout.readline().decode()]
    while "Crawl-delay of" not in lines[-1] or "127.0.0.2" not in lines[-1]:
        lines.append(p.stdout.readline().decode())
        assert lines[-1], "".join(lines)
    assert "127.0.0.2:" in lines[-1] and "asks for a Crawl-delay of 30 s; honouring it" in lines[-1], lines[-1]
    # the first host's 5 images have been asked for; the second host's image waits its 30 s
    wait_for(lambda: len([h for _, h, p in rec.requests if h == "127.0.0.1" and p.startswith("/img/")]) == 5,
             30, "the first host's images")
    p.send_signal(signal.SIGTERM)
    log = "".join(lines) + output(p, 30)
    assert p.returncode == 130 and "SIGTERM: stopping cleanly" in log, log
    assert_spaced([t for t, h, path in rec.requests if h == "127.0.0.1" and path != "/robots.txt"], 0.3)
    assert [path for _, h, path in rec.requests if h == "127.0.0.2"] == ["/robots.txt"]
    # stopped cleanly: the results in flight were waited for and recorded, the waiting task was not
    got = {r["url"]: r for r in records(out)}
    assert sorted(got) == [base + f"img/{i}.png" for i in range(5)] and all(r["ok"] for r in got.values()), log


def test_503_with_retry_after_is_retried_and_stored_after_3_attempts(tmp_path, procs, servers):
    rec = Recorder()
    png = imagegen.png(8, 8, 1)
    routes = {"/flaky.png": [(503, {"Retry-After": "1"}, b"busy"), (503, {"Retry-After": "1"}, b"busy"),
                             (200, {"Content-Type": "image/png"}, png)]}
    write_file(tmp_path / "site", "index.html", '<img src="/flaky.png">')
    base = servers(tmp_path / "site", rec, routes=routes)
    got, log, out = crawl(procs, tmp_path, base + "index.html")
    r = got[base + "flaky.png"]
    assert r["ok"] and r["attempts"] == 3 and (out / r["path"]).read_bytes() == png
    times = [t for t, _, p in rec.requests if p == "/flaky.png"]
    assert times[1] - times[0] >= 0.95 and times[2] - times[1] >= 0.95  # Retry-After honoured
    assert log.count("retrying") >= 2


def test_404_is_final_and_500_is_retried_until_the_retries_run_out(tmp_path, procs, servers):
    rec = Recorder()
    routes = {"/gone.png": [(404, {}, b"no")], "/broken.png": [(500, {}, b"oops")]}
    write_file(tmp_path / "site", "index.html", '<img src="/gone.png"><img src="/broken.png">')
    base = servers(tmp_path / "site", rec, routes=routes)
    got, _, _ = crawl(procs, tmp_path, base + "index.html", "--retries", "1")
    assert got[base + "gone.png"]["attempts"] == 1 and rec.paths().count("/gone.png") == 1
    assert got[base + "broken.png"]["attempts"] == 2 and got[base + "broken.png"]["status"] == 500


def test_redirect_chain_and_same_bytes_under_other_urls_are_stored_once(tmp_path, procs, servers):
    rec = Recorder()
    logo = imagegen.png(16, 16, 7)
    site = tmp_path / "site"
    for name in ("logo.png", "copy1.png", "copy2.png"):
        write_file(site, f"img/{name}", logo)
    routes = {"/r1.png": [(301, {"Location": "/r2.png"}, b"")], "/r2.png": [(302, {"Location": "/img/logo.png"}, b"")],
              "/loop.png": [(302, {"Location": "/loop.png"}, b"")],
              "/ftp.png": [(302, {"Location": "ftp://files.example/x.png"}, b"")]}
    paths = ("/img/logo.png", "/img/copy1.png", "/img/copy2.png", "/r1.png", "/loop.png", "/ftp.png")
    write_file(site, "index.html", "".join(f'<img src="{p}">' for p in paths))
    base = servers(site, rec, routes=routes)
    got, _, out = crawl(procs, tmp_path, base + "index.html", workers=2)
    assert got[base + "r1.png"]["final_url"] == base + "img/logo.png"
    assert got[base + "loop.png"]["reason"] == "redirect" and got[base + "ftp.png"]["reason"] == "redirect"
    same = [got[base + p] for p in ("img/logo.png", "img/copy1.png", "img/copy2.png", "r1.png")]
    assert all(r["ok"] for r in same)
    firsts = [r for r in same if "duplicate_of" not in r]
    assert len(firsts) == 1
    assert all(r["duplicate_of"] == firsts[0]["path"] == r["path"] for r in same if r is not firsts[0])
    stored = [p for p in out.rglob("*.png") if ".crawler" not in p.parts]
    assert len(stored) == 1 and stored[0].read_bytes() == logo


def test_accept_and_min_bytes_skip_images_and_say_why(tmp_path, procs, servers):
    rec = Recorder()
    site = tmp_path / "site"
    write_file(site, "big.png", imagegen.png(64, 64, 1, noise=0.5))
    write_file(site, "pixel.png", imagegen.png(1, 1, 2))
    write_file(site, "anim.gif", imagegen.gif(32, 32, 3))
    write_file(site, "index.html", '<img src="/big.png"><img src="/pixel.png"><img src="/anim.gif">')
    base = servers(site, rec)
    got, _, out = crawl(procs, tmp_path, base + "index.html", "--accept", "png,jpg", "--min-bytes", "1000")
    assert got[base + "big.png"]["ok"]
    assert got[base + "pixel.png"]["reason"] == "filtered" and "--min-bytes" in got[base + "pixel.png"]["error"]
    assert got[base + "anim.gif"]["reason"] == "filtered" and "not accepted" in got[base + "anim.gif"]["error"]
    stored = [p.name for p in out.rglob("*") if p.is_file() and ".crawler" not in p.parts
              and p.suffix not in (".jsonl", ".html")]  # the manifest and the gallery
    assert stored == ["big.png"]
