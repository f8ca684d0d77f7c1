"""Where the master parses pages: its threads, or a pool of processes (--page-processes)."""

import logging
import os
import signal

import pytest

from crawler.parsing import PageParser, parse_page

pytestmark = pytest.mark.timeout(60)

PAGE = ('<meta charset="windows-1251"><picture><source srcset="a.webp 1x, a2.webp 2x"><source srcset="a.png">'
        '<img src="a.png"></picture><a href="next.html">далее</a><img src="фото.jpg">').encode("cp1251")
BASE = "http://site.example/dir/page.html"


def test_a_pool_of_processes_parses_as_the_thread_does():
    parser = PageParser(1)
    try:
        for srcset in ("all", "largest"):
            assert parser.parse(PAGE, None, BASE, srcset) == parse_page(PAGE, None, BASE, srcset)
        got = parser.parse(PAGE, None, BASE, "all")
        assert [i.url for i in got.images][-1] == "http://site.example/dir/%D1%84%D0%BE%D1%82%D0%BE.jpg"
        assert got.links == ["http://site.example/dir/next.html"]
    finally:
        parser.close()


def test_a_header_charset_wins_over_the_documents_meta():
    body = '<meta charset="windows-1251"><img src="é.png">'.encode("utf-8")
    assert [i.url for i in parse_page(body, "utf-8", BASE, "all").images] == ["http://site.example/dir/%C3%A9.png"]


def test_when_a_parsing_process_dies_pages_are_parsed_in_the_thread_with_one_error(caplog):
    parser = PageParser(1)
    try:
        expected = parser.parse(PAGE, None, BASE, "all")  # the pool's process is up
        for pid in list(parser._pool._processes):
            os.kill(pid, signal.SIGKILL)
        with caplog.at_level(logging.ERROR, logger="crawler.parsing"):
            assert parser.parse(PAGE, None, BASE, "all") == expected
            assert parser.parse(PAGE, None, BASE, "all") == expected
        assert caplog.text.count("a page-parsing process died") == 1
    finally:
        parser.close()
