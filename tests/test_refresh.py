"""`--refresh` and extending a finished crawl, end to end: a real local site that changes
between runs, answering conditional requests as nginx does; real master and worker processes."""

import os
import signal

import pytest

from .conftest import make_png
from .mutable_site import MutableSite
from .procs import manifest_lines, output, records, wait_for

pytestmark = pytest.mark.timeout(120)

IMAGES = [f"p{n}.png" for n in range(8)]


@pytest.fixture
def site():
    s = MutableSite()
    s.put("/robots.txt", "User-agent: *\n")
    s.put("/index.html", "".join(f'<img src="/img/{name}">' for name in IMAGES[:4]) + '<a href="/more.html">more</a>')
    s.put("/more.html", "".join(f'<img src="/img/{name}">' for name in IMAGES[4:]))
    for n, name in enumerate(IMAGES):
        s.put(f"/img/{name}", make_png(6, 6, (n * 20, 0, 0)))
    yield s
    s.close()


def start(procs, tmp_path, site, *flags):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(site.base + "/index.html\n")
    return procs.start("run", str(seeds), "--workers", "1", "--out", str(tmp_path / "out"), "--no-sitemaps", *flags)


def crawl(procs, tmp_path, site, *flags):
    mark = site.mark()
    p = start(procs, tmp_path, site, *flags)
    log = output(p, 90)
    assert p.returncode == 0, log
    return log, site.seen(mark)


def change_the_site(site):
    """Three images change, one is added (on a page), one is deleted."""
    for n, name in enumerate(IMAGES[:3]):
        site.put(f"/img/{name}", make_png(7, 7, (0, n * 30, 200)))
    site.put("/img/new.png", make_png(5, 5, (0, 0, 9)))
    site.put("/more.html", site.files["/more.html"][0].decode() + '<img src="/img/new.png">')
    site.delete(f"/img/{IMAGES[7]}")


def test_refresh_downloads_only_what_changed_and_keeps_one_line_per_url(site, tmp_path, procs):
    out = tmp_path / "out"
    crawl(procs, tmp_path, site)
    first = {r["url"]: r for r in records(out)}
    assert len(first) == 8 and all(r["etag"] and r["last_modified"] and r["change"] == "new" for r in first.values())
    change_the_site(site)

    log, seen = crawl(procs, tmp_path, site, "--refresh")
    assert "refreshing the crawl in " in log and ": 2 pages to fetch again, 8 images to ask again" in log
    images = {p.rsplit("/", 1)[1]: status for p, status in seen if p.startswith("/img/")}
    assert len([p for p, _ in seen if p.startswith("/img/")]) == 9  # each image asked once
    assert sorted(n for n, s in images.items() if s == 200) == ["new.png", "p0.png", "p1.png", "p2.png"]
    assert sorted(n for n, s in images.items() if s == 304) == ["p3.png", "p4.png", "p5.png", "p6.png"]
    assert images["p7.png"] == 404
    assert {p for p, _ in seen if p.endswith(".html")} == {"/index.html", "/more.html"}  # pages fetched again
    assert all("If-None-Match" in h for p, _, h in site.log[-len(seen):] if p.startswith("/img/p"))

    recs = records(out)
    by_url = {r["url"]: r for r in recs}
    assert len(recs) == len(by_url) == 9  # one line per URL
    change = {u.rsplit("/", 1)[1]: r["change"] for u, r in by_url.items()}
    assert change == {"p0.png": "updated", "p1.png": "updated", "p2.png": "updated", "p3.png": "unchanged",
                      "p4.png": "unchanged", "p5.png": "unchanged", "p6.png": "unchanged", "p7.png": "gone",
                      "new.png": "new"}
    for name in IMAGES[:7] + ["new.png"]:  # the files hold what the site serves now
        rec = by_url[site.base + "/img/" + name]
        assert rec["ok"] and (out / rec["path"]).read_bytes() == site.files["/img/" + name][0], name
    gone = by_url[site.base + "/img/p7.png"]
    assert not gone["ok"] and gone["status"] == 404 and (out / gone["path"]).is_file()  # its file is kept
    assert (out / gone["path"]).read_bytes() == make_png(6, 6, (140, 0, 0))
    unchanged = by_url[site.base + "/img/p3.png"]
    assert unchanged["sha256"] == first[unchanged["url"]]["sha256"] and unchanged["bytes"] > 0
    assert "refresh: 1 new, 3 updated, 4 unchanged, 1 gone" in log
    gallery = (out / "index.html").read_text()  # the gallery marks what the refresh brought
    assert gallery.count('<span class="change updated">') == 3 and gallery.count('<span class="change new">') == 1
    assert not (out / ".crawler" / "manifest.previous.jsonl").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".crawler-part")]

    # a refresh of a site that did not change asks again and downloads nothing
    log, seen = crawl(procs, tmp_path, site, "--refresh")
    assert sorted(s for p, s in seen if p.startswith("/img/")) == [304] * 8 + [404]
    assert len(records(out)) == 9 and "refresh: 9 unchanged" in log


def test_a_refresh_killed_midway_resumes_and_ends_with_one_line_per_url(site, tmp_path, procs):
    out = tmp_path / "out"
    crawl(procs, tmp_path, site)
    change_the_site(site)
    site.delay = 0.4  # slow images: the kill lands while some are answered and others are not
    base = out / ".crawler" / "manifest.previous.jsonl"  # the last run's manifest, set aside
    p = start(procs, tmp_path, site, "--refresh", "--per-host", "1")
    wait_for(lambda: base.exists() and manifest_lines(out) >= 2, 60, "a few answers of the refresh")
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    answered = manifest_lines(out)
    assert 2 <= answered < 9 and base.exists(), "the kill should land mid-refresh"
    site.delay = 0.0
    log, seen = crawl(procs, tmp_path, site)  # the same command without --refresh resumes the refresh
    assert "resuming the refresh of the crawl" in log
    recs = records(out)
    assert len(recs) == len({r["url"] for r in recs}) == 9
    assert sorted(r["change"] for r in recs) == sorted(["updated"] * 3 + ["unchanged"] * 4 + ["gone", "new"])
    # what the manifest holds is not asked again; the rest is asked once
    assert len([p for p, _ in seen if p.startswith("/img/")]) == 9 - answered, (seen, log)


def test_a_finished_crawl_goes_on_under_wider_limits_and_fetches_nothing_again(tmp_path, procs):
    site = MutableSite()
    try:
        site.put("/robots.txt", "User-agent: *\n")
        chain = {"/index.html": ["/a.html", "/b.html"], "/a.html": ["/a2.html"], "/a2.html": ["/a3.html"],
                 "/a3.html": [], "/b.html": []}
        for page, links in chain.items():
            name = page[1:-5]
            site.put(page, f'<img src="/img/{name}.png">' + "".join(f'<a href="{link}">x</a>' for link in links))
            site.put(f"/img/{name}.png", make_png(3, 3, (len(name) * 30, 5, 5)))
        first = ["--max-depth", "1", "--exclude", r"b\.html"]
        log, seen = crawl(procs, tmp_path, site, *first)
        assert sorted(p for p, _ in seen if p.endswith(".html")) == ["/a.html", "/index.html"]

        log, seen = crawl(procs, tmp_path, site, *first)  # the same limits: nothing to do
        assert "already finished" in log and seen == []

        log, seen = crawl(procs, tmp_path, site, "--max-depth", "2")  # deeper, and b.html no longer excluded
        assert sorted(p for p, _ in seen if p != "/robots.txt") == ["/a2.html", "/b.html", "/img/a2.png", "/img/b.png"]
        assert (r"the crawl's limits changed since its last run (--max-depth 1 -> 2; --exclude 'b\\.html' removed): "
                "2 pages and 0 images newly in scope") in log
        recs = records(tmp_path / "out")
        assert sorted(r["url"].rsplit("/", 1)[1] for r in recs) == ["a.png", "a2.png", "b.png", "index.png"]
        assert len(recs) == 4 and all(r["ok"] for r in recs)

        log, seen = crawl(procs, tmp_path, site, "--max-depth", "1")  # narrower: nothing stored changes
        assert "--max-depth 2 -> 1): nothing newly in scope; nothing stored changes" in log
        assert [p for p, _ in seen if p != "/robots.txt"] == [] and len(records(tmp_path / "out")) == 4

        site.put("/orphan.html", '<img src="/img/orphan.png"><a href="/a.html">a</a>')  # no page links here
        site.put("/img/orphan.png", make_png(3, 3, (1, 2, 3)))
        (tmp_path / "seeds.txt").write_text(f"{site.base}/index.html\n{site.base}/orphan.html\n")
        mark = site.mark()
        p = procs.start("run", str(tmp_path / "seeds.txt"), "--workers", "1", "--out", str(tmp_path / "out"),
                        "--no-sitemaps", "--max-depth", "1")
        log = output(p, 90)
        assert p.returncode == 0 and "(1 seed(s) added): 1 pages and 0 images newly in scope" in log, log
        assert sorted(p for p, _ in site.seen(mark) if p != "/robots.txt") == ["/img/orphan.png", "/orphan.html"]
        assert len(records(tmp_path / "out")) == 5
    finally:
        site.close()


# -- the pure parts: what each line says, and the manifest a refresh ends with --------------

OLD_OK = {"url": "u", "ok": True, "path": "h/a.png", "bytes": 10, "sha256": "a" * 64, "content_type": "image/png",
          "status": 200, "etag": '"e1"', "last_modified": "Mon, 01 Jan 2024 00:00:00 GMT", "worker": "w1"}


def line(**fields):
    rec = {"url": "u", "ok": False, "path": None, "bytes": 0, "sha256": None, "status": None, "error": None,
           "etag": None, "last_modified": None}
    rec.update(fields)
    return rec


@pytest.mark.parametrize("now,old,change,ok,path", [
    (line(ok=True, path="h/a.png", sha256="b" * 64, status=200), None, "new", True, "h/a.png"),
    (line(ok=True, path="h/a.png", status=304, etag='"e1"'), OLD_OK, "unchanged", True, "h/a.png"),
    (line(ok=True, path="h/a.png", sha256="a" * 64, bytes=10, status=200), OLD_OK, "unchanged", True,
     "h/a.png"),
    (line(ok=True, path="h/a.png", sha256="b" * 64, status=200), OLD_OK, "updated", True, "h/a.png"),
    (line(status=404, error="HTTP 404"), OLD_OK, "gone", False, "h/a.png"),
    (line(status=410, error="HTTP 410"), OLD_OK, "gone", False, "h/a.png"),
    (line(status=503, error="HTTP 503"), OLD_OK, "unchecked", True, "h/a.png"),
    (line(status=404), line(status=404), "unchanged", False, None),
    (line(status=404), line(status=500), "gone", False, None),
    (line(ok=True, path="h/a.png", sha256="b" * 64, status=200), line(status=500), "new", True, "h/a.png"),
], ids=["first", "304", "same-bytes", "other-bytes", "404", "410", "503", "still-404", "now-404", "now-ok"])
def test_each_line_says_what_this_run_found(now, old, change, ok, path):
    from crawler.store import refresh
    rec = refresh.judge(dict(now), old)
    assert (rec["change"], rec["ok"], rec["path"]) == (change, ok, path)
    if old is OLD_OK and change != "updated":  # the stored file's description is kept
        assert rec["sha256"] == OLD_OK["sha256"] and rec["bytes"] == 10


def test_a_refresh_ends_with_one_line_per_url_keeping_the_last_runs_lines_it_did_not_answer(tmp_path):
    import json

    from crawler.store import refresh
    manifest, base = tmp_path / "manifest.jsonl", tmp_path / "base.jsonl"
    base.write_text("".join(json.dumps({"url": u, "change": "new"}) + "\n" for u in "abc"))
    manifest.write_text(json.dumps({"url": "b", "change": "updated"}) + "\n")
    assert refresh.finish(manifest, base) == 2
    assert [json.loads(x) for x in manifest.read_text().splitlines()] == [
        {"url": "b", "change": "updated"}, {"url": "a", "change": "new"}, {"url": "c", "change": "new"}]
    assert refresh.finish(manifest, base) == 0 and len(manifest.read_text().splitlines()) == 3


def test_a_file_two_urls_share_is_never_replaced_in_place_for_one_of_them(tmp_path):
    import json

    from crawler.store import refresh
    base = tmp_path / "base.jsonl"
    lines = [{"url": "http://h/a.jpg", "ok": True, "path": "h/a.jpg", "sha256": "a" * 64},
             {"url": "https://h/a.jpg", "ok": True, "path": "h/a.jpg", "sha256": "a" * 64},  # the same bytes
             {"url": "http://h/b.jpg", "ok": True, "path": "h/b.jpg", "sha256": "b" * 64},
             {"url": "http://h/c.jpg", "ok": True, "path": "h/b.jpg", "sha256": "b" * 64, "duplicate_of": "h/b.jpg"},
             {"url": "http://h/d.jpg", "ok": True, "path": "h/d.jpg", "sha256": "d" * 64}]
    base.write_text("".join(json.dumps(x) + "\n" for x in lines))
    previous = refresh.Previous.load(base)
    own = {url: previous.wire(url)["own"] for url in (x["url"] for x in lines)}
    assert own == {"http://h/a.jpg": False, "https://h/a.jpg": False, "http://h/b.jpg": False,
                   "http://h/c.jpg": False, "http://h/d.jpg": True}
