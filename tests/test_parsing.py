"""Where the master parses pages: its threads, or a pool of processes (--page-processes)."""

import logging
import os
import resource
import signal
import time

import pytest

from crawler.master.parsing import PageParser, parse_page

pytestmark = pytest.mark.timeout(60)

PAGE = ('<meta charset="windows-1251"><picture><source srcset="a.webp 1x, a2.webp 2x"><source srcset="a.png">'
        '<img src="a.png"></picture><a href="next.html">далее</a><img src="фото.jpg">').encode("cp1251")
BASE = "http://site.example/dir/page.html"


def in_pool(parser, timeout=20):
    """Parse until the pool's first process is up (the threads parse meanwhile)."""
    deadline = time.monotonic() + timeout
    while parser._ready is None or not parser._ready.done():
        parser.parse(PAGE, None, BASE, "all")
        assert time.monotonic() < deadline, "the pool did not come up"
        time.sleep(0.01)


def test_a_pool_of_processes_parses_as_the_thread_does():
    parser = PageParser(1, start_after=0)
    try:
        in_pool(parser)
        for srcset in ("all", "largest"):
            assert parser.parse(PAGE, None, BASE, srcset) == parse_page(PAGE, None, BASE, srcset)
        got = parser.parse(PAGE, None, BASE, "all")
        assert [i.url for i in got.images][-1] == "http://site.example/dir/%D1%84%D0%BE%D1%82%D0%BE.jpg"
        assert got.links == ["http://site.example/dir/next.html"]
    finally:
        parser.close()


def test_the_pool_starts_only_after_the_threads_have_parsed_for_a_while():
    parser = PageParser(1, start_after=3600)
    try:
        for _ in range(20):
            parser.parse(PAGE, None, BASE, "all")
        assert parser._pool is None and 0 < parser._spent < 3600
        parser.start_after = parser._spent  # the next page crosses it
        parser.parse(PAGE, None, BASE, "all")
        assert parser._pool is not None
    finally:
        parser.close()


def test_the_pools_cpu_is_counted_as_the_masters_children_once_it_is_closed():
    heavy = ("<p>" + "<a href=/p><img src=/i.jpg>" * 20_000).encode()  # about 0.5 s of CPU to parse
    parser = PageParser(1, start_after=0)
    in_pool(parser)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(2):
        parser.parse(heavy, None, BASE, "all")
    parser.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert spent > 0.3, spent  # the fork server was waited for, with the pool process it had waited for


def test_a_header_charset_wins_over_the_documents_meta():
    body = '<meta charset="windows-1251"><img src="é.png">'.encode()
    assert [i.url for i in parse_page(body, "utf-8", BASE, "all").images] == ["http://site.example/dir/%C3%A9.png"]


def test_when_a_parsing_process_dies_pages_are_parsed_in_the_thread_with_one_error(caplog):
    parser = PageParser(1, start_after=0)
    try:
        in_pool(parser)
        expected = parse_page(PAGE, None, BASE, "all")
        for pid in list(parser._pool._processes):
            os.kill(pid, signal.SIGKILL)
        with caplog.at_level(logging.ERROR, logger="crawler.master.parsing"):
            for _ in range(3):
                assert parser.parse(PAGE, None, BASE, "all") == expected
        assert caplog.text.count("a page-parsing process died") == 1
        assert parser._pool is None
    finally:
        parser.close()


def test_a_crawl_parses_its_pages_in_a_process_once_the_threads_have_parsed_enough(tmp_path, server, monkeypatch,
                                                                                   caplog):
    from crawler.config import CrawlConfig
    from crawler.master import Master, parsing

    monkeypatch.setattr(parsing, "START_AFTER_CPU", 0.0)  # the first page crosses it
    html = {"Content-Type": "text/html"}
    server.add("/", b'<a href="/a.html">a</a><img src="http://img.example/0.jpg">', headers=html)
    for name in "abc":  # a chain: each page is found only on the one before, once it was parsed
        nxt = chr(ord(name) + 1)
        server.add(f"/{name}.html", f'<a href="/{nxt}.html">{nxt}</a><img src="http://img.example/{name}.jpg">'
                   .encode(), headers=html)
    cfg = CrawlConfig(seeds=(server.base + "/",), out=tmp_path / "out", page_processes=1, page_threads=1,
                      ignore_robots=True, same_host_images=True, allow_private=True, retries=0)
    with caplog.at_level(logging.INFO):
        summary = Master(cfg, b"parsing-test-key-0123456789abcdef", ("127.0.0.1", 0)).run()
    assert "pages are parsed in 1 process(es) beside the master" in caplog.text
    # every link was found, the last pages' in the process, and its page fetched
    assert summary.pages_ok == 4 and dict(summary.pages_failed) == {"http-status": 1}  # /d.html is not there
    assert "page-parsing process died" not in caplog.text


def test_the_parsing_processes_leave_when_the_master_is_killed(tmp_path, procs):
    import subprocess
    import sys

    import psutil

    script = ("import time\nfrom crawler.master.parsing import PageParser\n"
              "p = PageParser(1, start_after=0)\n"
              "while p._ready is None or not p._ready.done():\n"
              "    p.parse(b'<img src=a.png>', None, 'http://h/', 'all'); time.sleep(0.01)\n"
              "p.parse(b'<img src=a.png>', None, 'http://h/', 'all')\n"
              "print('ready', flush=True)\ntime.sleep(60)\n")
    master = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, start_new_session=True)
    procs.started.append(master)
    assert master.stdout.readline() == b"ready\n"
    me = psutil.Process(master.pid)
    helpers = me.children(recursive=True)
    assert [p for p in helpers if p.ppid() != master.pid], "no pool process (forked by the fork server)"
    os.kill(master.pid, signal.SIGKILL)
    master.wait()
    gone, alive = psutil.wait_procs(helpers, timeout=10)
    assert alive == [], [p.cmdline() for p in alive]
