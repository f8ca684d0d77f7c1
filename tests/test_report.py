"""crawler.report: the text summary and the static HTML gallery of a crawl folder."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from crawler import report
from crawler.errors import ConfigError
from devtools import imagegen

from . import browser

HOSTILE = 'http://h/x"><script>alert(1)</script>.jpg'
ODD_PATH = "a.example/img/ü café #1?~0123456789.png"
ODD_SRC = "a.example/img/%C3%BC%20caf%C3%A9%20%231%3F~0123456789.png"


def _ok(url, page, path, data: bytes | None, ct, **extra) -> tuple[dict, bytes | None]:
    rec = {"url": url, "page": page, "ok": True, "path": path, "bytes": len(data) if data else 0,
           "sha256": "0" * 64, "content_type": ct, "status": 200, "error": None, "worker": "w1",
           "elapsed": 0.01, "final_url": url, "reason": None, "attempts": 1, **extra}
    return rec, data


def _fail(url, page, reason, error, status) -> tuple[dict, None]:
    rec = {"url": url, "page": page, "ok": False, "path": None, "bytes": 0, "sha256": None,
           "content_type": None, "status": status, "error": error, "worker": "w2", "elapsed": 0.5,
           "final_url": None, "reason": reason, "attempts": 1}
    return rec, None


def write_crawl(out: Path, items: list[tuple[dict, bytes | None]], *, cut_tail: bool = False) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for rec, data in items:
        if data is not None and not rec.get("duplicate_of"):
            f = out / rec["path"]
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(data)
    text = "".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec, _ in items)
    if cut_tail:
        text += '{"url": "http://a.example/cut'  # a master killed mid-line
    (out / "manifest.jsonl").write_text(text, encoding="utf-8")
    return out


CAT = imagegen.png(8, 8, 1)
DOG = imagegen.jpeg(16, 16, 2)
BIRD = imagegen.gif(8, 8, 3)
ODD = imagegen.png(8, 8, 4)


def known_items() -> list[tuple[dict, bytes | None]]:
    return [
        _ok("http://a.example/img/cat.png", "http://a.example/", "a.example/img/cat.png", CAT, "image/png"),
        _ok("http://a.example/img/dog.jpg", "http://a.example/", "a.example/img/dog.jpg", DOG, "image/jpeg"),
        _ok("http://a.example/img/%C3%BC%20caf%C3%A9%20%231%3F", "http://a.example/more.html", ODD_PATH, ODD,
            None),  # no Content-Type: the type comes from the extension
        _ok("http://127.0.0.1:8000/pics/bird.gif", "http://127.0.0.1:8000/index.html",
            "127.0.0.1_8000/pics/bird.gif", BIRD, "image/gif; charset=binary"),
        _ok("http://a.example/img/cat-copy.png", "http://a.example/more.html", "a.example/img/cat.png", CAT,
            "image/png", duplicate_of="a.example/img/cat.png"),
        _fail("http://a.example/missing1.jpg", "http://a.example/", "http-status", "HTTP 404 Not Found", 404),
        _fail("http://127.0.0.1:8000/missing2.jpg", "http://127.0.0.1:8000/index.html", "http-status",
              "HTTP 404 Not Found", 404),
        _fail("http://a.example/fake.jpg", "http://a.example/", "not-an-image", "text/html is not an image", 200),
        _fail("http://127.0.0.1:8000/slow.jpg", "http://127.0.0.1:8000/index.html", "timeout",
              "read timed out after 5 s", None),
    ]


@pytest.fixture
def crawl(tmp_path) -> Path:
    return write_crawl(tmp_path / "out", known_items(), cut_tail=True)


def srcs(text: str) -> list[str]:
    return re.findall(r'<img\b[^>]*\bsrc="([^"]*)"', text)


# --- summary ------------------------------------------------------------------------------------


def test_summary_of_a_known_manifest(crawl):
    rep = report.build_report(crawl)
    lines = report.summary_lines(rep)
    total = len(CAT) * 2 + len(DOG) + len(ODD) + len(BIRD)
    stored = len(CAT) + len(DOG) + len(ODD) + len(BIRD)
    assert lines[0] == "images: 9 total, 5 ok, 4 failed"
    assert lines[1] == (f"bytes: {total} ({report.human_bytes(total)}), stored {stored} "
                        f"({report.human_bytes(stored)})")
    assert "duplicates: 1" in lines
    i = lines.index("by host (2):")
    assert lines[i + 1:i + 3] == ["  a.example: 6 (4 ok, 2 failed)", "  127.0.0.1:8000: 3 (1 ok, 2 failed)"]
    i = lines.index("by type:")
    assert lines[i + 1:i + 4] == ["  png: 3", "  gif: 1", "  jpeg: 1"]
    i = lines.index("failures by reason (4):")
    assert lines[i + 1:] == [
        "  http-status: 2",
        "    http://a.example/missing1.jpg: HTTP 404 Not Found",
        "    http://127.0.0.1:8000/missing2.jpg: HTTP 404 Not Found",
        "  not-an-image: 1",
        "    http://a.example/fake.jpg: text/html is not an image",
        "  timeout: 1",
        "    http://127.0.0.1:8000/slow.jpg: read timed out after 5 s",
    ]
    assert rep.by_outcome == {"ok": 5, "http-status": 2, "not-an-image": 1, "timeout": 1}
    assert not any("cut" in line for line in lines)


def test_summary_top_hosts_examples_and_odd_lines(tmp_path):
    items = [_ok(f"http://h{i:02d}.example/a.png", None, f"h{i:02d}.example/a.png", CAT, "image/png")
             for i in range(12)]
    items += [_ok("http://h00.example/b.png", None, "h00.example/b.png", CAT, "image/png")]
    items += [_fail(f"http://h00.example/{i}.jpg", None, "http-status", None, 500) for i in range(5)]
    items += [_fail("http://h00.example/\x1b[31mred.jpg", None, None, "boom\nsecond line", None)]
    out = write_crawl(tmp_path, items)
    with open(out / "manifest.jsonl", "a", encoding="utf-8") as f:
        f.write('[1, 2]\n"text"\n{"ok": true, "path": "../../etc/passwd", "url": 5, "bytes": "x"}\n')
    lines = report.summary_lines(report.build_report(out))
    assert lines[0] == "images: 20 total, 14 ok, 6 failed"
    assert "  h00.example: 8 (2 ok, 6 failed)" in lines
    assert "  (unknown host): 1 (1 ok, 0 failed)" in lines  # the line whose url is not text
    assert "  3 more hosts: 3 images" in lines
    assert sum(1 for line in lines if line.startswith("  h") and "example:" in line) == 9
    i = lines.index("  http-status: 5")
    assert lines[i + 1:i + 4] == [f"    http://h00.example/{n}.jpg: HTTP 500" for n in range(3)]
    assert lines[i + 4] == "  unknown: 1"
    assert lines[i + 5] == "    http://h00.example/?[31mred.jpg: boom second line"  # no terminal escapes
    assert "unsafe paths (not shown): 1" in lines
    assert "unreadable manifest lines: 2" in lines


def test_after_a_refresh_the_summary_counts_changes_and_the_gallery_marks_new_and_updated(tmp_path):
    items = [_ok("http://a.example/new.png", None, "a.example/new.png", CAT, "image/png", change="new"),
             _ok("http://a.example/upd.jpg", None, "a.example/upd.jpg", DOG, "image/jpeg", change="updated"),
             _ok("http://a.example/same.gif", None, "a.example/same.gif", BIRD, "image/gif", change="unchanged"),
             _fail("http://a.example/gone.png", None, "http-status", "HTTP 404 Not Found", 404)]
    items[3][0]["change"] = "gone"
    out = write_crawl(tmp_path / "out", items)
    rep = report.build_report(out)
    assert "last refresh: 1 new, 1 updated, 1 unchanged, 1 gone" in report.summary_lines(rep)
    page = report.write_gallery(out, rep).read_text()
    assert "last refresh: 1 new, 1 updated, 1 unchanged, 1 gone" in page
    marks = re.findall(r'<span class="change (\w+)">\w+</span><br><span class="muted">[^<]*</span></figcaption>'
                       r'</figure>', page)
    assert sorted(marks) == ["new", "updated"]
    # a first crawl (every line new) marks nothing: the marks are for what a refresh brought
    first = write_crawl(tmp_path / "first", [_ok("http://a.example/a.png", None, "a.example/a.png", CAT,
                                                 "image/png", change="new")])
    rep = report.build_report(first)
    assert not any("refresh" in line for line in report.summary_lines(rep))
    assert 'class="change' not in report.write_gallery(first, rep).read_text()


def test_crawler_report_dir_prints_the_summary_and_writes_the_gallery(crawl, tmp_path):
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "crawler", "report", str(crawl)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [*report.summary_lines(report.build_report(crawl)),
                                     f"gallery: {crawl / 'index.html'}"]
    assert srcs((crawl / "index.html").read_text())  # the gallery shows the stored images
    # a folder without a manifest: bad arguments, in one line
    p = subprocess.run([sys.executable, "-m", "crawler", "report", str(tmp_path / "nothing")], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and p.stdout == "" and len(p.stderr.splitlines()) == 1, p.stderr
    assert "manifest" in p.stderr and "Traceback" not in p.stderr


def test_missing_manifest_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="manifest"):
        report.build_report(tmp_path)
    with pytest.raises(ConfigError):
        report.run_report(tmp_path / "nope")


def test_human_bytes():
    assert report.human_bytes(0) == "0 B"
    assert report.human_bytes(1023) == "1023 B"
    assert report.human_bytes(1536) == "1.5 KiB"
    assert report.human_bytes(5 * 1024 ** 3) == "5.0 GiB"


# --- gallery --------------------------------------------------------------------------------------


def test_gallery_content(crawl, capsys):
    assert report.run_report(crawl) == 0
    printed = capsys.readouterr().out.splitlines()
    index = crawl / "index.html"
    assert printed[0] == "images: 9 total, 5 ok, 4 failed"
    assert printed[-1] == f"gallery: {index}"
    text = index.read_text(encoding="utf-8")
    assert not (crawl / "index-2.html").exists()

    found = srcs(text)
    assert sorted(found) == sorted(["a.example/img/cat.png", "a.example/img/dog.jpg", ODD_SRC,
                                    "127.0.0.1_8000/pics/bird.gif", "a.example/img/cat.png"])
    for src in found:  # every src is a file next to the gallery
        assert (crawl / unquote(src)).is_file()
    assert all(f'<a class="frame" href="{s}">' in text for s in found)
    assert text.count('loading="lazy"') == 5
    assert "duplicate of a.example/img/cat.png" in text

    # grouped by host, then by page; hosts in order, each once
    hosts = re.findall(r'<section class="host"><h2>([^<]*?) <span', text)
    assert hosts == ["127.0.0.1:8000", "a.example"]
    a = text[text.index("<h2>a.example"):]
    pages = re.findall(r'<summary><a href="([^"]*)"', a)
    assert pages == ["http://a.example/", "http://a.example/more.html"]
    assert a.index("img/dog.jpg") < a.index("more.html") < a.index(ODD_SRC)

    # sizes and types shown
    assert f"{report.human_bytes(len(DOG))} · jpeg" in text
    assert f"{report.human_bytes(len(BIRD))} · gif" in text

    # failures table
    table = text[text.index('id="failures"'):]
    assert "<th>URL</th><th>page</th><th>reason</th><th>error</th><th>status</th>" in table
    rows = re.findall(r"<tr><td>.*?</tr>", table)
    assert len(rows) == 4
    assert ('<td>http-status</td><td>HTTP 404 Not Found</td><td>404</td>' in rows[0]
            and "http://a.example/missing1.jpg" in rows[0])
    assert "<td>timeout</td><td>read timed out after 5 s</td><td></td>" in rows[3]

    # self-contained: nothing remote is loaded
    assert not re.search(r"<(link|script)\b", text, re.I)
    assert not re.search(r"""\bsrc\s*=\s*["']?\s*https?:""", text, re.I)
    assert "@import" not in text and "url(http" not in text


def test_gallery_escapes_hostile_manifest(tmp_path):
    items = known_items() + [
        _ok(HOSTILE, HOSTILE, "h/x~0123456789.jpg", DOG, 'image/jpeg"><script>alert(3)</script>'),
        _ok("javascript:alert(4)//x.png", "javascript:alert(5)", "h/y~0123456789.png", CAT, "image/png"),
        _ok("http://h/evil1.png", None, "../../etc/passwd", None, "image/png"),
        _ok("http://h/evil2.png", None, "/etc/passwd", None, "image/png"),
        _ok("http://h/evil3.png", None, "h\\..\\..\\x.png", None, "image/png"),
        _ok("http://h/evil4.png", None, "h/x.png", None, "image/png", duplicate_of="../secret.png"),
        _fail(HOSTILE, "http://h/<b>page</b>", "<i>reason</i>", "<script>alert(2)</script>", 500),
    ]
    out = write_crawl(tmp_path, items)
    rep = report.build_report(out)
    assert rep.unsafe_paths == 4
    text = report.write_gallery(out, rep).read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert "<b>page" not in text and "<i>reason" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in text
    assert "javascript:" not in re.sub(r">[^<]*<", "><", text)  # never in an attribute
    values = re.findall(r'\b(?:href|src)="([^"]*)"', text)
    for v in values:
        if v.startswith(("http://", "https://")):
            continue
        assert not v.startswith(("/", "\\")) and ".." not in v and ":" not in v, v
    assert "etc/passwd" not in text.replace("&", "")
    # the records can be given directly too
    assert report.write_gallery(out, [rec for rec, _ in items]).read_text(encoding="utf-8") == text


def test_pagination(tmp_path):
    items = []
    for i in range(450):
        host = f"h{i % 3}.example"
        items.append(_ok(f"http://{host}/p{i % 7}/img{i}.png", f"http://{host}/p{i % 7}.html",
                         f"{host}/img{i}.png", CAT, "image/png"))
    items.append(_fail("http://h0.example/gone.png", None, "http-status", "HTTP 410", 410))
    out = write_crawl(tmp_path, items)
    rep = report.build_report(out)
    report.write_gallery(out, rep, per_page=100)
    assert (out / "index-5.html").exists()
    index = report.write_gallery(out, rep, per_page=200)
    assert index == out / "index.html"
    names = ["index.html", "index-2.html", "index-3.html"]
    assert sorted(p.name for p in out.glob("index*.html")) == sorted(names)  # stale pages removed
    pages = [(out / n).read_text(encoding="utf-8") for n in names]
    assert [len(srcs(p)) for p in pages] == [200, 200, 50]
    assert sorted(s for p in pages for s in srcs(p)) == sorted(rec["path"] for rec, _ in items if rec["ok"])
    for n, text in enumerate(pages, 1):
        for k, name in enumerate(names, 1):
            if k != n:
                assert f'href="{name}"' in text
        if n > 1:
            assert f'<a rel="prev" href="{names[n - 2]}">' in text
        if n < 3:
            assert f'<a rel="next" href="{names[n]}">' in text
        assert f"<b>{n}</b>" in text
        for href in re.findall(r'href="(index[^"#]*)', text):  # every page link works
            assert (out / href).is_file()
        hosts = re.findall(r'<section class="host"><h2>([^<]*?) <span', text)
        assert hosts == sorted(set(hosts))  # each host once per page, in order
        assert "HTTP 410" in text if n == 1 else 'href="index.html#failures"' in text
        assert "<!DOCTYPE html>" in text and "<style>" in text  # each page stands alone


def test_empty_crawl(tmp_path):
    (tmp_path / "manifest.jsonl").write_text("")
    rep = report.build_report(tmp_path)
    assert report.summary_lines(rep)[0] == "images: 0 total, 0 ok, 0 failed"
    text = report.write_gallery(tmp_path, rep).read_text(encoding="utf-8")
    assert "No images were stored." in text


# --- a real browser -----------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_gallery_in_chromium(tmp_path):
    if not browser.available():
        pytest.skip("chromium is not installed (apt-get install chromium)")
    items = known_items()
    for i in range(24):
        name = f"more/pic {i} #x?.png" if i % 2 else f"more/pic{i}.jpg"
        data = imagegen.png(24, 16, 10 + i) if i % 2 else imagegen.jpeg(24, 16, 10 + i)
        items.append(_ok(f"http://b.example/{i}", "http://b.example/", f"b.example/{name}", data, None))
    out = write_crawl(tmp_path / "crawl dir ü", items)
    index = report.write_gallery(out, report.build_report(out))
    loaded, in_view = browser.loaded_images(index, timeout=25)
    assert in_view > 0
    assert loaded == in_view
    png = browser.screenshot(index, tmp_path / "shot.png", timeout=25)
    assert png.stat().st_size > 0
    assert png.read_bytes().startswith(b"\x89PNG")


def test_every_image_extension_gives_its_kind_when_the_content_type_says_nothing():
    from crawler.rules.imagetype import EXTENSION_KINDS
    assert {ext: report.kind_of(None, f"site/a{ext.upper()}") for ext in EXTENSION_KINDS} == EXTENSION_KINDS
    assert report.kind_of(None, "site/a.pjp") == "jpeg"
