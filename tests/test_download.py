"""A worker's download of one task, against a scripted HTTP server on 127.0.0.1.

The server answers each path as the test scripts it (status, headers, body, a delay, no
Content-Length), so every failure path goes through the real HTTP stack: sockets,
keep-alive, chunk reads, decoding.
"""

import dataclasses
import gzip
import hashlib
import time

import pytest

from crawler.config import WorkerConfig
from crawler.net import fetch
from crawler.net.netguard import NetPolicy
from crawler.rules import naming
from crawler.rules.messages import make_task, validate_result
from crawler.worker import download

from .procs import free_port


@pytest.fixture
def cfg(tmp_path):
    return WorkerConfig(address=("127.0.0.1", 1), out=tmp_path, threads=1, max_bytes=1_000_000, timeout=5.0, name="w:1")


def run(cfg, url, max_bytes=100_000):
    task = make_task(1, url, url, max_bytes=max_bytes, timeout=5.0)
    result = download(task, cfg, fetch.new_client("test-agent", NetPolicy(frozenset({"127.0.0.1"}))))
    return validate_result(result)


def no_partials(root):
    return not [p for p in root.rglob("*") if p.name.endswith(".crawler-part")]


def test_image_is_stored_byte_identical_with_its_record(cfg, server, png_bytes):
    server.add("/photos/cat.png", png_bytes, headers={"Content-Type": "image/png"})
    url = server.base + "/photos/cat.png"
    r = run(cfg, url)
    assert r["ok"] and r["status"] == 200 and r["path"] == naming.relative_path(url, "png")
    assert r["path"].endswith("/photos/cat.png")
    assert (cfg.out / r["path"]).read_bytes() == png_bytes
    assert r["sha256"] == hashlib.sha256(png_bytes).hexdigest() and r["bytes"] == len(png_bytes)
    assert r["content_type"] == "image/png" and r["worker"] == "w:1" and r["final_url"] == url
    assert server.seen[0][1]["User-Agent"] == "test-agent"


def test_a_body_longer_than_one_read_is_stored_whole(cfg, server):
    from devtools.imagegen import image_of_size
    big = image_of_size("png", 300_000, 1)
    server.add("/big.png", big, headers={"Content-Type": "image/png"})
    r = run(cfg, server.base + "/big.png", max_bytes=10**6)
    assert r["ok"] and r["bytes"] == len(big) and (cfg.out / r["path"]).read_bytes() == big


def test_a_gzip_encoded_body_is_stored_decoded(cfg, server, png_bytes):
    server.add("/z.png", gzip.compress(png_bytes), headers={"Content-Type": "image/png", "Content-Encoding": "gzip"})
    r = run(cfg, server.base + "/z.png")
    assert r["ok"] and (cfg.out / r["path"]).read_bytes() == png_bytes


@pytest.mark.parametrize("status", [404, 500, 403])
def test_http_errors_are_recorded_with_their_status(cfg, server, status):
    server.add("/cat.png", b"nope", status=status)
    r = run(cfg, server.base + "/cat.png")
    assert not r["ok"] and r["status"] == status and r["reason"] == "http-status"
    assert f"HTTP {status}" in r["error"]
    assert not any(cfg.out.rglob("*.png"))


def test_timeout_is_recorded(cfg, server, png_bytes):
    cfg = dataclasses.replace(cfg, timeout=0.3)
    server.add("/slow.png", png_bytes, headers={"Content-Type": "image/png"}, delay=1.5)
    started = time.monotonic()
    r = run(cfg, server.base + "/slow.png")
    assert not r["ok"] and r["reason"] == "timeout" and "timed out" in r["error"]
    assert time.monotonic() - started < 1.4


def test_connection_refused_is_recorded(cfg):
    r = run(cfg, f"http://127.0.0.1:{free_port()}/cat.png")
    assert not r["ok"] and r["reason"] == "unreachable" and "refused" in r["error"].lower()


def test_html_served_as_jpg_is_refused_and_nothing_is_written(cfg, server):
    server.add("/fake.jpg", b"<!DOCTYPE html><html><body>404 page</body></html>", headers={"Content-Type": "text/html"})
    r = run(cfg, server.base + "/fake.jpg")
    assert not r["ok"] and r["reason"] == "not-an-image" and "text/html" in r["error"]
    assert not any(p.is_file() for p in cfg.out.rglob("*")) and no_partials(cfg.out)


def test_mislabelled_image_is_judged_by_its_bytes_and_named_by_its_type(cfg, server, jpeg_bytes):
    server.add("/cat.png", jpeg_bytes, headers={"Content-Type": "application/octet-stream"})
    r = run(cfg, server.base + "/cat.png")
    assert r["ok"] and r["path"].endswith(".jpg") and (cfg.out / r["path"]).read_bytes() == jpeg_bytes


def test_oversize_body_without_a_declared_length_is_cut_without_a_partial_file(cfg, server):
    server.add("/cat.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 300_000, headers={"Content-Type": "image/png"}, length=False)
    r = run(cfg, server.base + "/cat.png", max_bytes=100_000)
    assert not r["ok"] and r["reason"] == "too-large" and "Content-Length" not in r["error"]
    assert not any(p.is_file() for p in cfg.out.rglob("*.png")) and no_partials(cfg.out)


def test_declared_oversize_is_refused_before_reading(cfg, server):
    server.add("/cat.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 200_000, headers={"Content-Type": "image/png"})
    r = run(cfg, server.base + "/cat.png", max_bytes=1000)
    assert not r["ok"] and r["reason"] == "too-large" and "Content-Length" in r["error"]


def test_redirect_is_followed_and_the_final_url_reported(cfg, server, png_bytes):
    server.add("/photos/cat.png", status=301, headers={"Location": "/x/cat%20one.png"})
    server.add("/x/cat%20one.png", png_bytes, headers={"Content-Type": "image/png"})
    url = server.base + "/photos/cat.png"
    r = run(cfg, url)
    assert r["ok"] and r["final_url"] == server.base + "/x/cat%20one.png"
    assert r["path"] == naming.relative_path(url, "png")  # named by the URL handed out: same on every host


def test_a_location_with_a_raw_space_is_encoded_before_following(cfg, server, png_bytes):
    server.add("/a.png", status=302, headers={"Location": "/b c.png"})
    server.add("/b%20c.png", png_bytes, headers={"Content-Type": "image/png"})
    r = run(cfg, server.base + "/a.png")
    assert r["ok"] and r["final_url"] == server.base + "/b%20c.png"


def test_redirect_loop_is_recorded(cfg, server):
    server.add("/cat.png", status=302, headers={"Location": "/cat.png"})
    r = run(cfg, server.base + "/cat.png")
    assert not r["ok"] and r["reason"] == "redirect" and "redirects" in r["error"]


def test_redirect_to_a_non_http_scheme_is_recorded(cfg, server):
    server.add("/cat.png", status=302, headers={"Location": "ftp://files.example/cat.png"})
    r = run(cfg, server.base + "/cat.png")
    assert not r["ok"] and r["reason"] == "redirect" and "ftp://files.example/cat.png" in r["error"]


def test_worker_limits_win_over_the_task_limits(cfg, server, png_bytes):
    server.add("/cat.png", png_bytes + b"\0" * 2_000_000, headers={"Content-Type": "image/png"})
    r = run(cfg, server.base + "/cat.png", max_bytes=10**9)  # the task allows a GB; the worker's --max-bytes is 1 MB
    assert not r["ok"] and r["reason"] == "too-large"


def test_keep_alive_reuses_one_connection_and_survives_a_server_closing_it(cfg, server, png_bytes):
    server.add("/a.png", png_bytes, headers={"Content-Type": "image/png"})
    server.add("/closing.png", png_bytes, headers={"Content-Type": "image/png"}, length=False)
    client = fetch.new_client("t", NetPolicy(frozenset({"127.0.0.1"})))
    for path in ("/a.png", "/a.png", "/closing.png", "/a.png"):  # the third closes its connection
        task = make_task(1, server.base + path, server.base, max_bytes=10**6, timeout=5.0)
        assert download(task, cfg, client)["ok"]


def _page_cfg(tmp_path, **kw):
    from crawler.config import CrawlConfig
    return CrawlConfig(seeds=("http://127.0.0.1/",), out=tmp_path, timeout=5.0, retries=0, **kw)


def test_a_page_frees_its_host_before_it_is_parsed_and_a_failed_one_too(tmp_path, server, monkeypatch):
    from crawler import master
    from crawler.page import extract
    server.add("/p.html", b'<img src="/a.png">', headers={"Content-Type": "text/html"})
    client = fetch.new_client("test-agent", NetPolicy(frozenset({"127.0.0.1"})))
    events = []
    real_extract = extract.extract
    monkeypatch.setattr(extract, "extract", lambda *a, **k: (events.append("parsed"), real_extract(*a, **k))[1])
    out = master.process_page(client, server.base + "/p.html", 0, _page_cfg(tmp_path),
                              fetched=lambda: events.append("fetched"))
    assert events == ["fetched", "parsed"] and [i.url for i in out.images] == [server.base + "/a.png"]
    events.clear()
    out = master.process_page(client, server.base + "/missing.html", 0, _page_cfg(tmp_path),
                              fetched=lambda: events.append("fetched"))
    assert events == ["fetched"] and out.error and out.reason == "http-status"


def test_a_page_past_the_element_cap_is_parsed_in_part_with_a_warning(tmp_path, server, monkeypatch, caplog):
    from crawler import master
    from crawler.page import htmltree
    monkeypatch.setattr(htmltree, "MAX_ELEMENTS", 50)
    body = "".join(f'<p><img src="/i{i}.png">' for i in range(100)).encode()
    server.add("/big.html", body, headers={"Content-Type": "text/html"})
    client = fetch.new_client("test-agent", NetPolicy(frozenset({"127.0.0.1"})))
    out = master.process_page(client, server.base + "/big.html", 0, _page_cfg(tmp_path))
    # <html> and <body> are two of the 50 elements; 24 <p><img> pairs fit in the rest
    assert [i.url for i in out.images] == [f"{server.base}/i{i}.png" for i in range(24)]
    assert "has more than 50 elements; took links and images from the first 50 only" in caplog.text


def test_a_full_disk_raises_out_of_download_instead_of_failing_the_url(cfg, server, png_bytes, monkeypatch):
    import errno
    import os

    from crawler.store import storage
    server.add("/a.png", png_bytes, headers={"Content-Type": "image/png"})

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(storage.os, "write", full)
    with pytest.raises(storage.LocalStorageError):
        run(cfg, server.base + "/a.png")
    assert no_partials(cfg.out)
