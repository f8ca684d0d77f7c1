"""What a crawl follows and where it stops, through real crawls against a recording server:
seeds, --include/--exclude, --allow-domain, --same-host-images, --max-depth, the page caps
that end traps, pages that are not HTML; and what -q and -v show of it."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from devtools import imagegen

from .procs import Recorder, crawl, write_file


def crawl_pages(procs, tmp_path, seed, *flags, **kw):
    """`crawl` with sitemaps off: these tests count the pages links lead to, and the guessed
    /sitemap.xml (on by default; tests/test_sitemaps.py) would be one more request and one
    more page against --max-pages."""
    return crawl(procs, tmp_path, seed, "--no-sitemaps", *flags, **kw)

pytestmark = pytest.mark.timeout(120)


def scoped_site(root: Path, cdn: str, port: int) -> dict:
    """A seed page outside /sec1/, sections, a draft, a text file full of markup, a link that
    answers with an image, an image on another host, a page under another host name
    (localhost) of the same server. Returns the scripted routes."""
    write_file(root, "index.html",
               '<a href="/sec1/a.html">a</a><a href="/sec2/b.html">b</a><a href="/sec1/draft/c.html">c</a>'
               '<a href="/sec1/notes.txt">notes</a><a href="/sec1/photo">photo</a>'
               f'<a href="http://localhost:{port}/sec1/elsewhere.html">elsewhere</a>'
               f'<img src="/img/seed.png"><img src="{cdn}cdn.png">')
    write_file(root, "sec1/a.html", '<img src="/img/a.png"><a href="/sec1/deep.html">deeper</a>')
    write_file(root, "sec1/deep.html", '<img src="/img/deep.png">')
    write_file(root, "sec2/b.html", '<img src="/img/b.png">')
    write_file(root, "sec1/draft/c.html", '<img src="/img/c.png">')
    # served as text/plain: not parsed, so neither its image nor its link is taken
    write_file(root, "sec1/notes.txt", '<html><img src="/img/txt.png"><a href="/sec1/from-txt.html">x</a>')
    write_file(root, "sec1/from-txt.html", '<img src="/img/from-txt.png">')
    write_file(root, "sec1/elsewhere.html", '<img src="/img/else.png">')
    for i, name in enumerate(("seed", "a", "deep", "b", "c", "txt", "from-txt", "else")):
        write_file(root, f"img/{name}.png", imagegen.png(8, 8, i))
    return {"/sec1/photo": [(200, {"Content-Type": "image/png"}, imagegen.png(8, 8, 20))]}


def leftover_part(folder: Path) -> Path:
    """A *.crawler-part file whose writer (a process that has exited) was killed mid-download."""
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)
    part = folder / "127.0.0.1" / f"half.png.{dead}-0a1b2c3d.crawler-part"
    write_file(folder, str(part.relative_to(folder)), b"half an image")
    return part


def pages_fetched(rec: Recorder) -> set[str]:
    """host/path of every request but images and robots.txt."""
    with rec.lock:
        return {f"{host}{path}" for _, host, path in rec.requests if not path.endswith((".png", "/robots.txt"))}


@pytest.fixture
def scoped(tmp_path, servers):
    rec = Recorder()
    cdn = servers(tmp_path / "cdn", rec, host="127.0.0.2")
    write_file(tmp_path / "cdn", "cdn.png", imagegen.png(8, 8, 30))
    # the port is known once the server listens: serve first, write the site after
    routes: dict = {}
    base = servers(tmp_path / "site", rec, routes=routes)
    port = int(base.rsplit(":", 1)[1].rstrip("/"))
    routes.update(scoped_site(tmp_path / "site", cdn, port))
    return rec, base, cdn, port


def test_include_keeps_the_seed_and_follows_only_matching_links_while_images_come_from_anywhere(
        tmp_path, procs, scoped):
    rec, base, cdn, port = scoped
    out = tmp_path / "out"
    part = leftover_part(out)
    got, log, _ = crawl_pages(procs, tmp_path, base + "index.html", "--include", "/sec1/", "--exclude", "/draft/",
                        "--allow-private", "-v")
    # the seed is fetched though --include leaves it out, and the log says so in one line
    assert pages_fetched(rec) == {"127.0.0.1/index.html", "127.0.0.1/sec1/a.html", "127.0.0.1/sec1/deep.html",
                                  "127.0.0.1/sec1/notes.txt", "127.0.0.1/sec1/photo"}, log
    assert len(re.findall(r"seed \S+index\.html is outside the scope rules \(it matches no --include\); "
                          r"fetching it anyway", log)) == 1, log
    # images from every page fetched, on any host (include narrows pages, not images); none
    # from the text file; a link that answered with an image is stored as one
    assert {u: r["ok"] for u, r in got.items()} == {
        base + "img/seed.png": True, cdn + "cdn.png": True, base + "img/a.png": True,
        base + "img/deep.png": True, base + "sec1/photo": True}, log
    assert got[base + "sec1/photo"]["source"] == "page"
    # -v: a line for every page and every download
    for page in ("index.html", "sec1/a.html", "sec1/deep.html", "sec1/notes.txt"):
        assert re.search(rf"DEBUG +page {re.escape(base + page)}", log), (page, log)
    assert len(re.findall(r"DEBUG +\[worker [^]]+\] stored http://", log)) == 5, log
    # the worker removed the partial file a killed worker had left in its --out
    assert not part.exists() and "removed 1 partial file(s)" in log, log


def test_allow_domain_same_host_images_and_max_depth_through_a_crawl_and_q_shows_warnings_only(
        tmp_path, procs, scoped):
    rec, base, cdn, port = scoped
    got, log, _ = crawl_pages(procs, tmp_path, base + "index.html", "--allow-domain", "localhost",
                        "--same-host-images", "--max-depth", "1", "--allow-private", "-q")
    # depth 1: the seed's links, not deep.html (2 hops); localhost is crawled as an allowed domain
    assert pages_fetched(rec) == {
        "127.0.0.1/index.html", "127.0.0.1/sec1/a.html", "127.0.0.1/sec2/b.html", "127.0.0.1/sec1/draft/c.html",
        "127.0.0.1/sec1/notes.txt", "127.0.0.1/sec1/photo", "localhost/sec1/elsewhere.html"}
    # images of the crawl's own hosts only: nothing from the other host
    assert sorted(u.rsplit("/", 1)[1] for u in got) == ["a.png", "b.png", "c.png", "else.png", "photo", "seed.png"]
    assert all(r["ok"] for r in got.values()) and not [p for _, h, p in rec.requests if h == "127.0.0.2"]
    # -q: warnings only (this crawl has none), from the master and from its workers
    assert not [line for line in log.splitlines() if line.strip()], log


@pytest.mark.parametrize("flags, fetched, warnings", [
    (("--max-depth", "2"), {"127.0.0.1": 3}, []),
    (("--max-pages", "4"), {"127.0.0.1": 4}, ["reached --max-pages 4; not following more links"]),
    (("--max-pages-per-host", "3", "--allow-domain", "localhost", "--allow-private"),
     {"127.0.0.1": 3, "localhost": 3},
     ["reached --max-pages-per-host 3 on 127.0.0.1", "reached --max-pages-per-host 3 on localhost"]),
], ids=["max-depth", "max-pages", "max-pages-per-host"])
def test_an_endless_calendar_ends_at_the_page_caps(tmp_path, procs, servers, flags, fetched, warnings):
    """Every calendar page links to the next month, on its own host and under the other host
    name of the same server (localhost): without a cap the crawl would take all 40 of each."""
    rec = Recorder()
    base = servers(tmp_path / "site", rec)
    port = int(base.rsplit(":", 1)[1].rstrip("/"))
    for month in range(40):
        write_file(tmp_path / "site", f"cal/{month}.html",
                   f'<a href="/cal/{month + 1}.html">next</a><a href="http://localhost:{port}/cal/{month}.html">'
                   f'mirror</a><img src="/img/{month}.png">')
        write_file(tmp_path / "site", f"img/{month}.png", imagegen.png(4, 4, month))
    got, log, _ = crawl_pages(procs, tmp_path, base + "cal/0.html", *flags)
    pages = [(h, p) for _, h, p in rec.requests if p.startswith("/cal/")]
    by_host = {h: sum(1 for host, _ in pages if host == h) for h in {h for h, _ in pages}}
    assert by_host == fetched, (by_host, log)
    assert len(set(pages)) == len(pages)  # each page once
    # the pages taken are the nearest ones, and every image on them is recorded
    assert {p for _, p in pages} == {f"/cal/{m}.html" for m in range(max(fetched.values()))}
    assert len(got) == sum(fetched.values()) and all(r["ok"] for r in got.values())
    for warning in warnings:
        assert log.count(warning) == 1, log


def test_max_page_bytes_cuts_a_page_and_parses_its_first_part(tmp_path, procs, servers):
    rec = Recorder()
    base = servers(tmp_path / "site", rec)
    write_file(tmp_path / "site", "index.html",
               '<img src="/first.png">' + "<p>filler</p>" * 2000 + '<img src="/past-the-cut.png">')
    for i, name in enumerate(("first", "past-the-cut")):
        write_file(tmp_path / "site", f"{name}.png", imagegen.png(8, 8, i))
    got, log, _ = crawl_pages(procs, tmp_path, base + "index.html", "--max-page-bytes", "4096", "--allow-private")
    assert list(got) == [base + "first.png"] and got[base + "first.png"]["ok"], log
    assert f"page {base}index.html is larger than 4096 bytes; parsed the first part only" in log, log
    assert not [p for _, _, p in rec.requests if p == "/past-the-cut.png"]
