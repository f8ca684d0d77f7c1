"""The sitemap reader: what it takes from the shapes sites serve, and what it refuses."""

import gzip
import time
import zlib

import pytest

from crawler.errors import SitemapError
from crawler.page import sitemap
from crawler.page.sitemap import Entry, SitemapReader, parse, sniff

BASE = "https://ex.com/sitemap.xml"
NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
IMG_NS = 'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"'

URLSET = f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset {NS} {IMG_NS}>
  <url><loc>https://ex.com/a.html</loc><lastmod>2024-01-01</lastmod>
    <image:image><image:loc>https://cdn.ex.com/1.jpg</image:loc><image:caption>one</image:caption></image:image>
    <image:image><image:loc>/2.jpg</image:loc></image:image>
  </url>
  <url><image:image><image:loc>https://ex.com/3.png</image:loc></image:image>
       <loc>https://ex.com/b.html?x=1&amp;y=2</loc></url>
  <url><loc>ftp://ex.com/not-http</loc></url>
</urlset>
""".encode()

EXPECTED = [Entry("https://ex.com/a.html", ["https://cdn.ex.com/1.jpg", "https://ex.com/2.jpg"]),
            Entry("https://ex.com/b.html?x=1&y=2", ["https://ex.com/3.png"])]


def feed_in_pieces(data: bytes, size: int, url: str = BASE) -> sitemap.Sitemap:
    reader = SitemapReader(url)
    for i in range(0, len(data), size):
        reader.feed(data[i:i + size])
    return reader.close()


@pytest.mark.parametrize("body", [URLSET, gzip.compress(URLSET), b"\xef\xbb\xbf\n  " + URLSET,
                                  URLSET.replace(b"<urlset", b"<sm:urlset").replace(b"</urlset", b"</sm:urlset")
                                  .replace(NS.encode(), b'xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9"')
                                  .replace(b"<url>", b"<sm:url>").replace(b"</url>", b"</sm:url>")
                                  .replace(b"<loc>", b"<sm:loc>").replace(b"</loc>", b"</sm:loc>")],
                         ids=["plain", "gzip", "bom-and-space", "prefixed"])
@pytest.mark.parametrize("piece", [1, 7, 1 << 20])
def test_a_urlset_gives_its_pages_with_the_images_listed_on_them(body, piece):
    found = feed_in_pieces(body, piece)
    assert found.kind == "urlset" and found.pages == EXPECTED
    assert found.skipped == 1 and found.problem is None and found.images == 3


def test_an_index_gives_its_sitemaps():
    body = (f'<sitemapindex {NS}><sitemap><loc>https://ex.com/s1.xml.gz</loc><lastmod>2024</lastmod></sitemap>'
            '<sitemap><loc>/s2.xml</loc></sitemap></sitemapindex>').encode()
    found = parse(body, BASE)
    assert found.kind == "sitemapindex" and found.pages == []
    assert found.sitemaps == ["https://ex.com/s1.xml.gz", "https://ex.com/s2.xml"]


@pytest.mark.parametrize("body,kind,pages", [
    (b"https://ex.com/a\r\nhttps://ex.com/b\n\n# a comment\nrelative/c\n", "text", ["https://ex.com/a", "https://ex.com/b"]),
    (b'<rss version="2.0"><channel><link>https://ex.com/</link><item><title>t</title>'
     b'<link>https://ex.com/p1</link></item><item><link> https://ex.com/p2 </link></item></channel></rss>',
     "rss", ["https://ex.com/p1", "https://ex.com/p2"]),
    (b'<feed xmlns="http://www.w3.org/2005/Atom"><link href="https://ex.com/"/><entry>'
     b'<link rel="edit" href="https://ex.com/edit"/><link href="https://ex.com/e1"/></entry></feed>', "atom",
     ["https://ex.com/e1"]),
])
def test_text_files_and_feeds_are_sitemaps_too(body, kind, pages):
    found = parse(body, BASE)
    assert found.kind == kind and [e.loc for e in found.pages] == pages


@pytest.mark.parametrize("body,problem", [
    (b"<!DOCTYPE html><html><body><p>Not found</p></body></html>", "not a sitemap: its root element is <html>"),
    (b"", "empty"),
    (b"\x00\x01 binary junk", "not a sitemap: no line is a URL"),
])
def test_what_is_no_sitemap_says_so(body, problem):
    found = parse(body, BASE)
    assert found.pages == [] and found.problem == problem


def test_a_file_cut_short_keeps_what_came_before_and_says_where_it_broke():
    body = URLSET[:URLSET.index(b"<url><image")] + b"<url><loc>https://ex.com/c</loc><broken"
    found = parse(body, BASE)
    assert found.pages == EXPECTED[:1]
    assert found.problem.startswith("not well-formed XML at line ")
    cut_gzip = gzip.compress(URLSET)[:-30]
    assert parse(cut_gzip, BASE).problem == "the gzip file ends early"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<urlset><url><loc>https://ex.com/&lol9;</loc></url></urlset>"""


@pytest.mark.parametrize("body", [
    BILLION_LAUGHS,
    b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]><urlset><url><loc>&x;</loc></url></urlset>',
    b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><urlset/>',
], ids=["billion-laughs", "external-entity", "parameter-entity"])
def test_entity_declarations_refuse_the_file(body):
    with pytest.raises(SitemapError, match="declares XML entities"):
        parse(body, BASE)


def test_an_external_dtd_is_never_fetched(server):
    server.add("/x.dtd", b'<!ENTITY a "b">', headers={"Content-Type": "application/xml-dtd"})
    body = (f'<?xml version="1.0"?><!DOCTYPE urlset SYSTEM "{server.base}/x.dtd">'
            '<urlset><url><loc>https://ex.com/a</loc></url></urlset>').encode()
    assert [e.loc for e in parse(body, BASE).pages] == ["https://ex.com/a"]
    assert server.seen == []


def test_a_gzip_bomb_is_refused_at_50_mb_inflated_in_small_steps():
    bomb = zlib.compressobj(1, wbits=31)
    data = bomb.compress(b"<urlset>") + bomb.compress(b" " * (51 * 1024 * 1024)) + bomb.flush()
    assert len(data) < 300_000
    reader = SitemapReader(BASE)
    sizes = []
    real_take = reader._take
    reader._take = lambda chunk: (sizes.append(len(chunk)), real_take(chunk))
    started = time.process_time()
    with pytest.raises(SitemapError, match="larger than 50 MB uncompressed"):
        reader.feed(data)
    assert max(sizes) <= sitemap.STEP and sum(sizes) <= sitemap.MAX_BYTES + sitemap.STEP
    assert time.process_time() - started < 10


def test_more_than_50000_urls_are_refused():
    entries = b"".join(b"<url><loc>https://ex.com/p%d</loc></url>" % i for i in range(50_001))
    body = b"<urlset>" + entries + b"</urlset>"
    with pytest.raises(SitemapError, match="more than 50,000 URLs"):
        parse(body, BASE)
    assert len(parse(body.replace(b"<url><loc>https://ex.com/p50000</loc></url>", b""), BASE).pages) == 50_000


def test_images_past_1000_on_one_page_are_left_out_and_counted():
    images = b"".join(b"<image:image><image:loc>https://ex.com/%d.jpg</image:loc></image:image>" % i
                      for i in range(1005))
    body = (f"<urlset {NS} {IMG_NS}><url><loc>https://ex.com/a</loc>".encode() + images + b"</url></urlset>")
    found = parse(body, BASE)
    assert len(found.pages[0].images) == 1000 and found.images_cut == 5


@pytest.mark.parametrize("head,ctype,name,expected", [
    (URLSET[:512], "application/xml", "", True),
    (b'<?xml version="1.0"?>\n<!-- generated --><sitemapindex xmlns="...">', None, "", True),
    (BILLION_LAUGHS[:512], "text/xml", "", True),
    (gzip.compress(URLSET)[:512], "application/octet-stream", "", True),
    (b"https://ex.com/a\n", "text/plain", "", True),
    (b"https://ex.com/a\n", None, "sitemap.txt", True),
    (b'<rss version="2.0"><channel>', "application/rss+xml", "", True),
    (b"<!DOCTYPE html><html><head>", "text/html", "", False),
    (b'<?xml version="1.0"?><!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN" "x"><html>', None, "", False),
    (b"<html><body>", None, "saved.html", False),
])
def test_sniff_tells_a_sitemap_from_a_page(head, ctype, name, expected):
    assert sniff(head, ctype, name) is expected
