"""Extraction seen end to end: what `crawler extract` shows is what a crawl takes, whatever
the page's encoding; `--srcset all|largest`; the manifest's `source`."""

import json
import subprocess
import sys

import pytest

from crawler.cli.demo import serve_directory

from .conftest import make_png
from .procs import ENV_BASE, records

pytestmark = pytest.mark.timeout(120)

KEY = {"CRAWLER_AUTHKEY": "extract-crawl-test-key-0123456789"}


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    server, base_url = serve_directory(root)  # text/html with no charset: the page says what it is, or not
    yield root, base_url
    server.shutdown()
    server.server_close()


def crawl(tmp_path, base_url, pages, *extra):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("".join(base_url + p + "\n" for p in pages))
    out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
    p = subprocess.run([sys.executable, "-m", "crawler", "run", str(seeds), "--workers", "1", "--out", str(out),
                        "--max-depth", "0", "-q", *extra], capture_output=True, text=True, timeout=90,
                       env={**ENV_BASE, **KEY})
    assert p.returncode == 0, p.stderr
    return records(out)


def extract_file(path, base, *extra):
    p = subprocess.run([sys.executable, "-m", "crawler", "extract", str(path), "--base", base, "--json", *extra],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return {i["url"]: i["source"] for i in json.loads(p.stdout)["images"]}


PAGES = {
    # declared only in the document, as the HTML standard's prescan finds it
    "meta-1251.html": '<html><head><meta charset="windows-1251"><title>Фото</title></head>'
                      '<body><img src="фото-1.jpg"></body></html>'.encode("cp1251"),
    # declared nowhere: detection
    "plain-1251.html": '<html><body><p>Привет! Это страница на русском языке, с фотографиями нашего города.'
                       '</p><img src="фото-2.jpg"></body></html>'.encode("cp1251"),
    # "iso-8859-1" means windows-1252 to a browser: 0x93 is a curly quote, not a C1 control
    "latin1-label.html": b'<meta charset="iso-8859-1"><img src="\x93quoted\x94.jpg">',
}


def test_extract_file_takes_the_urls_a_crawl_takes_from_pages_that_are_not_utf8(site, tmp_path):
    root, base_url = site
    for name, body in PAGES.items():
        (root / name).write_bytes(body)
    recs = crawl(tmp_path, base_url, list(PAGES))
    crawled: dict[str, set[str]] = {}
    for r in recs:
        crawled.setdefault(r["page"], set()).add(r["url"])
    for name in PAGES:
        shown = set(extract_file(root / name, base_url + name))
        assert shown == crawled[base_url + name], name
    assert crawled[base_url + "meta-1251.html"] == {base_url + "%D1%84%D0%BE%D1%82%D0%BE-1.jpg"}
    assert crawled[base_url + "latin1-label.html"] == {base_url + "%E2%80%9Cquoted%E2%80%9D.jpg"}


GATSBY = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>post</title></head><body>
<div class="gatsby-image-wrapper"><picture>
  <source type="image/webp" srcset="img/a-200.webp 200w, img/a-400.webp 400w, img/a-800.webp 800w" sizes="100vw">
  <source type="image/png" srcset="img/a-200.png 200w, img/a-400.png 400w, img/a-800.png 800w" sizes="100vw">
  <img src="img/a-800.png" alt="" loading="lazy"></picture></div>
<p><img src="img/b.png" srcset="img/b@2x.png 2x" alt="">
<div style="background-image: image-set('img/c.png' 1x, 'img/c@2x.png' 2x)"></div>
<video poster="img/poster.png" controls><source src="img/clip.mp4" type="video/mp4"></video>
</body></html>"""

ALL = {"img/a-200.webp": "picture", "img/a-400.webp": "picture", "img/a-800.webp": "picture",
       "img/a-200.png": "picture", "img/a-400.png": "picture", "img/a-800.png": "picture",
       "img/b.png": "img", "img/b@2x.png": "srcset", "img/c.png": "style", "img/c@2x.png": "style",
       "img/poster.png": "poster"}
LARGEST = {"img/a-800.webp": "picture", "img/b@2x.png": "srcset", "img/c@2x.png": "style",
           "img/poster.png": "poster"}


# each mode once with the pages parsed in the page threads, once in a process beside the master
@pytest.mark.parametrize("mode, expected, processes", [("all", ALL, "0"), ("largest", LARGEST, "1")])
def test_srcset_mode_decides_the_candidates_stored_and_the_manifest_says_where_each_came_from(
        site, tmp_path, mode, expected, processes):
    root, base_url = site
    (root / "img").mkdir()
    for i, rel in enumerate(ALL):
        (root / rel).write_bytes(make_png(4 + i, 4))  # distinct bytes: no duplicates
    (root / "post.html").write_text(GATSBY, encoding="utf-8")
    recs = crawl(tmp_path, base_url, ["post.html"], "--srcset", mode, "--page-processes", processes)
    assert {r["url"]: r["source"] for r in recs} == {base_url + rel: src for rel, src in expected.items()}
    assert all(r["ok"] for r in recs), [r["error"] for r in recs if not r["ok"]]
    shown = extract_file(root / "post.html", base_url + "post.html", "--srcset", mode)
    assert shown == {base_url + rel: src for rel, src in expected.items()}
