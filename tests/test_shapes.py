"""Extraction on the shape table (tests/shapes.py): documents whose tree an HTML 4 parser
builds differently from a browser. Each row's URLs must and must not come out, with
--srcset all and largest; and the table itself is checked against what Chromium loads."""

import html

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.page.extract import extract
from crawler.rules.urls import normalize_url

from . import browser
from .shapes import SHAPES

PAGE = "http://site.example/dir/page.html"


def resolved(urls, page=PAGE):
    return [normalize_url(u, page) for u in urls]


@pytest.mark.parametrize("row", SHAPES, ids=[r.id for r in SHAPES])
def test_every_row_takes_what_it_must_and_nothing_it_must_not(row):
    got = [i.url for i in extract(row.html, PAGE).images]
    assert [u for u in resolved(row.must) if u not in got] == []
    assert [u for u in resolved(row.must_not) if u in got] == []


@pytest.mark.parametrize("row", SHAPES, ids=[r.id for r in SHAPES])
def test_every_row_with_srcset_largest_takes_one_candidate_per_picture_or_img(row):
    got = [i.url for i in extract(row.html, PAGE, srcset="largest").images]
    assert got == resolved(row.largest if row.largest is not None else row.must)


@pytest.mark.timeout(120)
def test_the_table_agrees_with_what_chromium_loads(server):
    """What Chromium fetches as an image (Sec-Fetch-Dest: image) from each row is in the row's
    `must`, and nothing in `must_not` (a video fetches its sources, but as media); a row that
    says why Chromium loads fewer is allowed to, every other row must be loaded whole."""
    if not browser.available():
        pytest.skip("chromium is not installed (apt-get install chromium)")
    frames = []
    for row in SHAPES:
        server.add(f"/dir/{row.id}.html", row.html.encode(), headers={"Content-Type": "text/html; charset=utf-8"})
        frames.append(f'<iframe src="/dir/{html.escape(row.id)}.html" width="600" height="220"></iframe>')
    server.add("/probe.html", ("<!DOCTYPE html><title>probe</title>" + "".join(frames)).encode(),
               headers={"Content-Type": "text/html; charset=utf-8"})
    browser.load(server.base + "/probe.html", timeout=90)
    fetched: dict[str, set[str]] = {row.id: set() for row in SHAPES}   # row -> URLs fetched as images
    for path, headers, _port in server.seen:
        referer = headers.get("Referer", "")
        row_id = referer.rsplit("/", 1)[-1].removesuffix(".html")
        if row_id in fetched and headers.get("Sec-Fetch-Dest") == "image":
            fetched[row_id].add(normalize_url(server.base + path))
    assert any(fetched.values()), "Chromium fetched no image at all: the harness is broken"
    for row in SHAPES:
        page = f"{server.base}/dir/{row.id}.html"
        must, must_not = set(resolved(row.must, page)), set(resolved(row.must_not, page))
        assert fetched[row.id] <= must, row.id
        assert not fetched[row.id] & must_not, row.id
        if not row.browser:
            assert fetched[row.id] == must, row.id


# HTML tag soup that leaves the <picture> an HTML element the browser shows: no raw-text context
# (script, style, title, textarea, comments), no foreign content (svg, math), no <select>,
# <template> or <frameset>, which drop it or hide it from the standard's tree too
_SOUP = ["<p>", "</p>", "<div>", "</div>", "<table>", "<tr>", "<td>", "</table>", "<li>", "<ul>", "</ul>",
         "<b>", "</i>", "<a href='x.html'>", "</a>", "<noscript>", "</noscript>", "<SPAN>", "</source>",
         "<source>", "<br/>", "<wbr>", "<track>", "<embed src=e.swf>", "<form>", "<button>", "<h1>", "<dl><dt>",
         "<picture>", "</picture>", "<img src=x.png>", "<svg><image href=s.png/></svg>", "text & more", "<font>",
         "\n", "<P CLASS=a>", "<hr/>"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_SOUP), max_size=12), st.lists(st.sampled_from(_SOUP), max_size=12))
def test_a_picture_inside_tag_soup_gives_every_source(before, after):
    picture = ('<picture><source srcset="s1.webp 1x, s2.webp 2x" type="image/webp"><SOURCE SRCSET="t1.png 1x, '
               't2.png 2x"><img src="i.png"></picture>')
    found = {i.url for i in extract("".join(before) + picture + "".join(after), PAGE).images}
    assert set(resolved(["s1.webp", "s2.webp", "t1.png", "t2.png", "i.png"])) <= found, (before, after)
