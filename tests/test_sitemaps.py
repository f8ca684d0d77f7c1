"""Sitemaps in a crawl: a real local site whose robots.txt names a sitemap index, real master
and worker processes; and `crawler extract` on a sitemap."""

import gzip
import json
import zlib

import pytest

from .conftest import make_png
from .mutable_site import MutableSite
from .procs import output, records

pytestmark = pytest.mark.timeout(120)

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
IMG_NS = 'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"'
BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  '<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                  '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>'
                  '<urlset><url><loc>http://x/&lol2;</loc></url></urlset>')


def urlset(*entries: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset {NS} {IMG_NS}>' + "".join(entries) + "</urlset>"


def oversize_gzip() -> bytes:
    """51 MB of XML in 50 kB of gzip: a sitemap over the protocol's 50 MB."""
    z = zlib.compressobj(1, wbits=31)
    return z.compress(urlset().encode()[:-len("</urlset>")]) + z.compress(b" " * (51 << 20)) + z.flush()


@pytest.fixture(scope="module")
def site():
    s = MutableSite()
    s.put("/robots.txt", "User-agent: *\nDisallow: /private/\nSitemap: /sitemap_index.xml\n")
    s.put("/index.html", '<a href="/a.html">a</a><img src="/img/linked.png">')
    s.put("/a.html", '<img src="/img/a.png">')
    s.put("/hidden.html", '<p>no page links here</p><img src="/img/hidden.png">')
    s.put("/gallery.html", "<p>a gallery whose images a script loads</p>")
    for n, name in enumerate(["linked", "a", "hidden", "only-in-sitemap", "private"]):
        s.put(f"/img/{name}.png", make_png(4, 4, (n * 40, 10, 10)))
    s.put("/sitemap_index.xml",
          f'<?xml version="1.0"?><sitemapindex {NS}>'
          + "".join(f"<sitemap><loc>{s.base}/{name}</loc></sitemap>"
                    for name in ["pages.xml.gz", "images.xml", "bomb.xml", "huge.xml.gz", "nested.xml"])
          + "</sitemapindex>")
    s.put("/pages.xml.gz", gzip.compress(urlset(f"<url><loc>{s.base}/hidden.html</loc></url>",
                                                f"<url><loc>{s.base}/private/secret.html</loc></url>").encode()))
    s.put("/images.xml", urlset(f"<url><loc>{s.base}/gallery.html</loc><image:image><image:loc>{s.base}"
                                "/img/only-in-sitemap.png</image:loc></image:image></url>"))
    s.put("/bomb.xml", BILLION_LAUGHS)
    s.put("/huge.xml.gz", oversize_gzip())
    s.put("/nested.xml", f'<sitemapindex {NS}><sitemap><loc>{s.base}/images.xml</loc></sitemap></sitemapindex>')
    yield s
    s.close()


def crawl(procs, tmp_path, site, *flags):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(site.base + "/index.html\n")
    out = tmp_path / "out"
    mark = site.mark()
    p = procs.start("run", str(seeds), "--workers", "1", "--out", str(out), *flags)
    log = output(p, 90)
    assert p.returncode == 0, log
    return out, log, site.seen(mark)


def test_a_sitemap_index_brings_pages_and_images_nothing_links_to_and_refuses_bombs(site, tmp_path, procs):
    out, log, seen = crawl(procs, tmp_path, site)
    by_url = {r["url"]: r for r in records(out)}
    hidden, only = by_url[site.base + "/img/hidden.png"], by_url[site.base + "/img/only-in-sitemap.png"]
    # a page only the gzipped sitemap lists, fetched at depth 1 and its image taken from it
    assert hidden["ok"] and hidden["page"] == site.base + "/hidden.html" and hidden["source"] == "img"
    # an image only the image sitemap lists, with the page it is listed under
    assert only["ok"] and only["page"] == site.base + "/gallery.html" and only["source"] == "sitemap"
    assert (out / only["path"]).read_bytes() == site.files["/img/only-in-sitemap.png"][0]
    assert len(by_url) == 4 and all(r["ok"] for r in by_url.values())
    paths = [p for p, _ in seen]
    # robots.txt named the index: no guess at /sitemap.xml; robots.txt still rules listed pages
    assert "/sitemap.xml" not in paths and "/private/secret.html" not in paths
    assert paths.count("/sitemap_index.xml") == 1 and paths.count("/images.xml") == 1
    assert f"sitemap {site.base}/bomb.xml not read: refused: it declares XML entities" in log
    assert f"sitemap {site.base}/huge.xml.gz not read: refused: larger than 50 MB uncompressed" in log
    assert (f"sitemap {site.base}/nested.xml not read: refused: a sitemap index listed in a sitemap index"
            in log)
    assert "sitemaps: 3 read, listing 3 pages and 1 images; 3 not read (refused 2, nested-index 1)" in log
    assert "Traceback" not in log


def test_no_sitemaps_reads_none(site, tmp_path, procs):
    out, log, seen = crawl(procs, tmp_path, site, "--no-sitemaps")
    assert not [p for p, _ in seen if "sitemap" in p or p.endswith((".xml", ".gz"))]
    assert sorted(r["url"].rsplit("/", 1)[1] for r in records(out)) == ["a.png", "linked.png"]


def test_extract_shows_what_a_sitemap_lists(site, procs):
    p = procs.start("extract", site.base + "/images.xml", "--json")
    report = json.loads(output(p, 30))
    assert p.returncode == 0 and report["kind"] == "urlset"
    assert report["pages"] == [{"url": site.base + "/gallery.html", "in_scope": True,
                                "images": [{"url": site.base + "/img/only-in-sitemap.png", "allowed": True}]}]
    p = procs.start("extract", site.base + "/pages.xml.gz")
    text = output(p, 30)
    assert p.returncode == 0 and f"  {site.base}/hidden.html\n" in text and "pages: 2 (2 in scope)" in text
    p = procs.start("extract", site.base + "/bomb.xml")
    text = output(p, 30)
    assert p.returncode == 1 and f"sitemap {site.base}/bomb.xml refused: it declares XML entities" in text


def test_each_sitemap_counts_against_max_pages(site, tmp_path, procs):
    out, log, seen = crawl(procs, tmp_path, site, "--max-pages", "3")
    fetched = [p for p, _ in seen if p != "/robots.txt" and not p.startswith("/img/")]
    assert "/sitemap_index.xml" in fetched and len(fetched) == 3, fetched
    assert "reached --max-pages 3" in log
