"""The master's loop, in process: what it does the moment a page or robots.txt is done."""

import time

import pytest

pytestmark = pytest.mark.timeout(60)


def test_a_page_done_starts_the_pages_it_found_without_waiting_a_turn(tmp_path, server, monkeypatch):
    from crawler.config import CrawlConfig
    from crawler.master import Master
    from crawler.master import master as master_module

    # The loop waits this long when nothing wakes it: robots.txt done, or a page done, must
    # wake it and start what they allow at once, and the last one end the crawl at once (woken
    # before its outcome was there, with the new links dispatched only after the wait, or
    # waiting before it looked whether anything was left, each step of this chain took the wait)
    monkeypatch.setattr(master_module, "LOOP_WAIT", 3.0)
    html = {"Content-Type": "text/html"}
    server.add("/robots.txt", b"User-agent: *\nDisallow: /private/\n", headers={"Content-Type": "text/plain"})
    server.add("/", b'<a href="/a.html">a</a>', headers=html)
    server.add("/a.html", b'<a href="/b.html">b</a>', headers=html)
    server.add("/b.html", b"<p>the end</p>", headers=html)
    cfg = CrawlConfig(seeds=(server.base + "/",), out=tmp_path / "out", page_threads=1, allow_private=True,
                      retries=0, sitemaps=False)
    started = time.monotonic()
    summary = Master(cfg, b"master-loop-test-key-0123456789abc", ("127.0.0.1", 0)).run()
    took = time.monotonic() - started
    assert summary.pages_ok == 3 and [p for p, _, _ in server.seen] == ["/robots.txt", "/", "/a.html", "/b.html"]
    assert took < 2.5, f"the crawl of 3 pages took {took:.1f} s: the loop waited between them"
