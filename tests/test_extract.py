from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.page.extract import extract, has_image_extension

BASE = "http://site.example/dir/page.html"


def images(html, base=BASE):
    return [(i.url, i.source) for i in extract(html, base).images]


@pytest.mark.parametrize("html, expected", [
    ('<img src="a.jpg">', [("http://site.example/dir/a.jpg", "img")]),
    ('<img srcset="a.jpg 1x, b.jpg 2x">', [("http://site.example/dir/a.jpg", "srcset"),
                                           ("http://site.example/dir/b.jpg", "srcset")]),
    ('<picture><source srcset="p1.webp 480w, p2.webp 960w"><img src="p.jpg"></picture>',
     [("http://site.example/dir/p1.webp", "picture"), ("http://site.example/dir/p2.webp", "picture"),
      ("http://site.example/dir/p.jpg", "img")]),
    ('<video><source src="v.mp4"></video>', []),
    ('<img src="ph.gif" data-src="real.jpg">', [("http://site.example/dir/ph.gif", "img"),
                                                ("http://site.example/dir/real.jpg", "data-src")]),
    ('<img data-srcset="l1.jpg 1x, l2.jpg 2x">', [("http://site.example/dir/l1.jpg", "data-src"),
                                                  ("http://site.example/dir/l2.jpg", "data-src")]),
    ('<img data-original="o.png">', [("http://site.example/dir/o.png", "data-src")]),
    ('<img data-lazy-src="z.png">', [("http://site.example/dir/z.png", "data-src")]),
    ('<div data-bg="bg.jpg"></div><div data-bg="not-an-image"></div>',
     [("http://site.example/dir/bg.jpg", "data-src")]),
    ('<a href="big.PNG">x</a>', [("http://site.example/dir/big.PNG", "a-href")]),
    ('<meta property="og:image" content="/og.jpg">', [("http://site.example/og.jpg", "og:image")]),
    ('<meta name="twitter:image" content="https://cdn.example/t.jpg">', [("https://cdn.example/t.jpg", "og:image")]),
    ('<link rel="image_src" href="l.jpg">', [("http://site.example/dir/l.jpg", "link")]),
    ('<link rel="stylesheet" href="s.css">', []),
    ('<input type="image" src="button.gif">', [("http://site.example/dir/button.gif", "input")]),
    ('<input type="text" src="no.gif">', []),
    ('<div style="background: url(\'bg.png\') no-repeat, url(&quot;b2.png&quot;), url(b3.png)"></div>',
     [("http://site.example/dir/bg.png", "style"), ("http://site.example/dir/b2.png", "style"),
      ("http://site.example/dir/b3.png", "style")]),
    ('<style>.x { background-image: url("/css.png") }</style>', [("http://site.example/css.png", "style")]),
    ('<svg><image href="s.png"/><image xlink:href="x.png"/></svg>',
     [("http://site.example/dir/s.png", "svg"), ("http://site.example/dir/x.png", "svg")]),
    ('<img src="data:image/png;base64,AAAA"><img src="javascript:x">', []),
    ('<img src="a.jpg"><img data-src="a.jpg"><a href="a.jpg">', [("http://site.example/dir/a.jpg", "img")]),
])
def test_each_image_source(html, expected):
    assert images(html) == expected


def test_base_href_absolute_and_relative():
    assert images('<base href="https://cdn.example/x/"><img src="a.jpg">') == [("https://cdn.example/x/a.jpg", "img")]
    assert images('<base href="../other/"><img src="a.jpg">') == [("http://site.example/other/a.jpg", "img")]
    ex = extract('<base href="/b/"><a href="next.html">n</a>', BASE)
    assert ex.links == ["http://site.example/b/next.html"]


def test_relative_paths_from_a_deep_page():
    assert images('<img src="../../img/a.png">', "http://h/a/b/c/page.html") == [("http://h/a/img/a.png", "img")]


def test_page_links_from_a_area_frame_iframe_and_not_images_or_other_schemes():
    html = ('<a href="p1.html">1</a><area href="/p2"><frame src="f.html"><iframe src="//other.example/i"></iframe>'
            '<a href="big.jpg">img</a><a href="mailto:x@y">m</a><a href="javascript:void(0)">j</a><a href="#top">t</a>'
            '<a href="p1.html#section">again</a>')
    ex = extract(html, BASE)
    assert ex.links == ["http://site.example/dir/p1.html", "http://site.example/p2", "http://site.example/dir/f.html",
                        "http://other.example/i", "http://site.example/dir/page.html"]
    assert [i.url for i in ex.images] == ["http://site.example/dir/big.jpg"]


def test_caps_bound_what_a_hostile_page_costs():
    html = "".join(f'<a href="/p{i}">x</a><img src="/i{i}.jpg">' for i in range(500))
    ex = extract(html, BASE, max_links=10, max_images=20)
    assert len(ex.links) == 10 and len(ex.images) == 20


@pytest.mark.parametrize("html, expected", [
    ("", []), ("   ", []), (b"", []), (b"\x00\xff\xfe", []), ("<", []), ("<html><body><img src=", []),
    ('<img src="x.png"><a href="p.html">p</a><img src=', ["http://site.example/dir/x.png"]),
    ("<?xml version='1.0' encoding='utf-8'?><html><img src='a.png'></html>", ["http://site.example/dir/a.png"]),
])
def test_broken_and_empty_documents_give_what_they_hold(html, expected):
    ex = extract(html, BASE)
    assert [i.url for i in ex.images] == expected
    assert ex.links == (["http://site.example/dir/p.html"] if "href" in str(html) else [])


def test_bytes_in_a_declared_charset():
    html = '<html><head><meta charset="shift_jis"></head><body><img src="写真.jpg"></body></html>'.encode("shift_jis")
    assert images(html) == [("http://site.example/dir/%E5%86%99%E7%9C%9F.jpg", "img")]


@pytest.mark.parametrize("url, yes", [
    ("http://h/a.JPG", True), ("http://h/a.webp?x=1", True), ("http://h/a.html", False),
    ("http://h/jpg", False), ("http://h/a.svg#x", True),
    ("http://h/a.jpe", True), ("http://h/a.JFIF", True), ("http://h/a.pjp", True), ("http://h/a.tiff", True),
])
def test_looks_like_image_url(url, yes):
    assert has_image_extension(urlsplit(url).path) is yes


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_extraction_on_any_text_never_raises_and_returns_only_http_urls(text):
    ex = extract(text, BASE)
    for url in ex.links + [i.url for i in ex.images]:
        assert url.startswith(("http://", "https://"))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["<img src='", "<a href='", "' srcset='", "'>", "<base href='", "data:", "//",
                                 "../", ",", " 2x", "javascript:", "%2e%2e", "http://x", "<picture><source srcset='"]),
                max_size=30).map("".join))
def test_extraction_on_tag_soup_returns_only_http_urls(html):
    ex = extract(html, BASE)
    for url in ex.links + [i.url for i in ex.images]:
        assert url.startswith(("http://", "https://"))


D = "http://site.example/dir/"


@pytest.mark.parametrize("html, expected", [
    ('<meta property="og:image:secure_url" content="https://s/o.jpg">', [("https://s/o.jpg", "og:image")]),
    ('<meta property="og:image:url" content="o.jpg">', [(D + "o.jpg", "og:image")]),
    ('<meta property="Twitter:Image:Src" content="t.jpg">', [(D + "t.jpg", "og:image")]),
    ('<meta property="og:title" content="t.jpg">', []),
    ('<link rel="shortcut icon" href="/favicon.ico">', [("http://site.example/favicon.ico", "link")]),
    ('<link rel="Apple-Touch-Icon" href="t.png">', [(D + "t.png", "link")]),
    ('<link rel="preload" as="image" href="hero.avif">', [(D + "hero.avif", "link")]),
    ('<link rel="preload" as="script" href="app.js">', []),
], ids=["og-secure-url", "og-url", "twitter-src-any-case", "other-meta", "favicon", "touch-icon", "preload-image",
        "preload-script"])
def test_meta_and_link_images(html, expected):
    assert images(html) == expected


@pytest.mark.parametrize("html, expected", [
    ('<picture><source src="s.webp"></picture>', [(D + "s.webp", "picture")]),
    ('<picture><source data-srcset="l.webp 2x"></picture>', [(D + "l.webp", "data-src")]),
    ('<div data-background="/bg.webp"></div>', [("http://site.example/bg.webp", "data-src")]),
    ('<div data-url="/api/item"></div><div data-url="/i.png"></div>', [("http://site.example/i.png", "data-src")]),
    ('<span data-src="any-url-at-all"></span>', [(D + "any-url-at-all", "data-src")]),
    ('<iframe data-src="https://video.example/embed/1"></iframe>', []),   # a lazy frame, not an image
    ('<video><source data-src="v.mp4"></video>', []),
    ('<img data-hi-res-src="h.jpg" data-full-src="f.jpg" data-large-src="l.jpg" data-echo="e.jpg">',
     [(D + "h.jpg", "data-src"), (D + "f.jpg", "data-src"), (D + "l.jpg", "data-src"), (D + "e.jpg", "data-src")]),
], ids=["picture-source-src", "picture-lazy-srcset", "data-background", "data-url-only-images", "data-src-any-element",
        "lazy-iframe-skipped", "lazy-video-source-skipped", "more-lazy-attributes"])
def test_lazy_load_attributes(html, expected):
    assert images(html) == expected


@pytest.mark.parametrize("html, expected", [
    ("<style>@import url('theme.css'); @font-face { src: url(f.woff2) } .a { background: url(a.png) }</style>",
     [(D + "a.png", "style")]),
    ('<div style="fill: url(#gradient); background: url(data:image/png;base64,AAAA)"></div>', []),
    ('<div style="BACKGROUND: URL( b.png )"></div>', [(D + "b.png", "style")]),
], ids=["stylesheets-and-fonts-are-not-images", "fragment-and-data-urls", "any-case-and-spaces"])
def test_css_urls(html, expected):
    assert images(html) == expected


def test_upper_case_markup_is_read_like_lower_case():
    ex = extract('<IMG SRC="a.jpg"><A HREF="p.html">p</A><DIV STYLE="background:url(b.png)"></DIV>', BASE)
    assert [(i.url, i.source) for i in ex.images] == [(D + "a.jpg", "img"), (D + "b.png", "style")]
    assert ex.links == [D + "p.html"]


def test_first_source_of_a_url_wins():
    html = '<meta property="og:image" content="a.jpg"><a href="a.jpg">x</a><img src="a.jpg"><img srcset="a.jpg 2x">'
    assert images(html) == [(D + "a.jpg", "og:image")]


def test_a_non_http_base_href_is_ignored():
    assert images('<base href="javascript:x"><img src="a.jpg">') == [(D + "a.jpg", "img")]


def test_only_the_first_base_href_counts():
    assert images('<base target="_top"><base href="/one/"><base href="/two/"><img src="a.jpg">') == \
        [("http://site.example/one/a.jpg", "img")]


def test_utf8_bytes_without_a_declared_charset():
    assert images('<img src="café.png">'.encode()) == [(D + "caf%C3%A9.png", "img")]


def test_a_string_with_an_xml_encoding_declaration():
    html = "<?xml version='1.0' encoding='iso-8859-1'?><html><body><img src='é.png'></body></html>"
    assert images(html) == [(D + "%C3%A9.png", "img")]


def test_caps_apply_to_each_kind_separately():
    html = "".join(f'<a href="/p{i}">x</a><img src="/i{i}.jpg">' for i in range(50))
    ex = extract(html, BASE, max_links=0, max_images=5)
    assert ex.links == [] and [i.url for i in ex.images] == [f"http://site.example/i{i}.jpg" for i in range(5)]


def test_a_huge_attribute_is_skipped_not_parsed():
    html = '<img src="a.jpg" srcset="' + "b.jpg 1x, " * 20_000 + '"><img src="c.jpg">'
    assert images(html) == [(D + "a.jpg", "img"), (D + "c.jpg", "img")]


@pytest.mark.parametrize("html", [
    "<html><body><p><img src='a.jpg'><table><tr><td><img src='b.jpg'></div></span>",
    "<img src='a.jpg'<img src='b.jpg'>",
    "<!-- <img src='c.jpg'> --><img src='a.jpg'>"
    "<script>document.write('<img src=\"s.jpg\">')</script><img src='b.jpg'>",
], ids=["unclosed-and-stray-end-tags", "missing-bracket", "comments-and-scripts"])
def test_malformed_html_still_yields_its_images(html):
    found = [u for u, _ in images(html)]
    assert D + "a.jpg" in found and D + "c.jpg" not in found and D + "s.jpg" not in found


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_extraction_on_any_bytes_never_raises_and_returns_only_http_urls(data):
    ex = extract(data, BASE)
    for url in ex.links + [i.url for i in ex.images]:
        assert url.startswith(("http://", "https://"))
