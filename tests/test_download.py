"""A worker's download of one task, with HTTP mocked by `responses`."""

import hashlib

import pytest
import requests
import responses

from crawler import fetch
from crawler.config import WorkerConfig
from crawler.messages import make_task, validate_result
from crawler.worker import download

URL = "http://img.example/photos/cat.png"


@pytest.fixture
def cfg(tmp_path):
    return WorkerConfig(address=("127.0.0.1", 1), out=tmp_path, threads=1, max_bytes=1_000_000, timeout=5.0, name="w:1")


def run(cfg, url=URL, max_bytes=100_000):
    task = make_task(1, url, "http://img.example/", max_bytes=max_bytes, timeout=5.0)
    result = download(task, cfg, fetch.new_session("test-agent"))
    return validate_result(result)


def no_partials(root):
    return not [p for p in root.rglob("*") if p.name.endswith(".crawler-part")]


@responses.activate
def test_image_is_stored_byte_identical_with_its_record(cfg, png_bytes):
    responses.get(URL, body=png_bytes, content_type="image/png")
    r = run(cfg)
    assert r["ok"] and r["status"] == 200 and r["path"] == "img.example/photos/cat.png"
    assert (cfg.out / r["path"]).read_bytes() == png_bytes
    assert r["sha256"] == hashlib.sha256(png_bytes).hexdigest() and r["bytes"] == len(png_bytes)
    assert r["content_type"] == "image/png" and r["worker"] == "w:1"
    assert responses.calls[0].request.headers["User-Agent"] == "test-agent"


@responses.activate
def test_a_body_longer_than_one_read_is_stored_whole(cfg):
    from crawler.imagegen import image_of_size
    big = image_of_size("png", 300_000, 1)
    responses.get(URL, body=big, content_type="image/png")
    r = run(cfg, max_bytes=10**6)
    assert r["ok"] and r["bytes"] == len(big) and (cfg.out / r["path"]).read_bytes() == big


@responses.activate
@pytest.mark.parametrize("status, reason", [(404, "http-status"), (500, "http-status"), (403, "http-status")])
def test_http_errors_are_recorded_with_their_status(cfg, status, reason):
    responses.get(URL, body="nope", status=status)
    r = run(cfg)
    assert not r["ok"] and r["status"] == status and r["reason"] == reason
    assert f"HTTP {status}" in r["error"]
    assert not any(cfg.out.rglob("*.png"))


@responses.activate
def test_timeout_is_recorded(cfg):
    responses.get(URL, body=requests.exceptions.ReadTimeout("read timed out"))
    r = run(cfg)
    assert not r["ok"] and r["reason"] == "timeout"


@responses.activate
def test_connection_refused_is_recorded(cfg):
    responses.get(URL, body=requests.exceptions.ConnectionError("Connection refused"))
    r = run(cfg)
    assert not r["ok"] and r["reason"] == "network" and "refused" in r["error"]


@responses.activate
def test_html_served_as_jpg_is_refused_and_nothing_is_written(cfg):
    url = "http://img.example/fake.jpg"
    responses.get(url, body="<!DOCTYPE html><html><body>404 page</body></html>", content_type="text/html")
    r = run(cfg, url)
    assert not r["ok"] and r["reason"] == "not-an-image" and "text/html" in r["error"]
    assert not any(p.is_file() for p in cfg.out.rglob("*")) and no_partials(cfg.out)


@responses.activate
def test_mislabelled_image_is_judged_by_its_bytes_and_named_by_its_type(cfg, jpeg_bytes):
    responses.get(URL, body=jpeg_bytes, content_type="application/octet-stream")
    r = run(cfg)
    assert r["ok"] and r["path"].endswith(".jpg") and (cfg.out / r["path"]).read_bytes() == jpeg_bytes


@responses.activate
def test_oversize_body_is_refused_without_a_partial_file(cfg):
    body = b"\x89PNG\r\n\x1a\n" + b"\0" * 300_000
    responses.get(URL, body=body, content_type="image/png", auto_calculate_content_length=False)
    r = run(cfg, max_bytes=100_000)
    assert not r["ok"] and r["reason"] == "too-large"
    assert not (cfg.out / "img.example/photos/cat.png").exists() and no_partials(cfg.out)


@responses.activate
def test_declared_oversize_is_refused_before_reading(cfg):
    responses.get(URL, body=b"\x89PNG\r\n\x1a\n" + b"\0" * 200_000, content_type="image/png",
                  auto_calculate_content_length=True)
    r = run(cfg, max_bytes=1000)
    assert not r["ok"] and r["reason"] == "too-large" and "Content-Length" in r["error"]


@responses.activate
def test_redirect_is_followed_and_the_final_url_reported(cfg, png_bytes):
    final = "http://cdn.example/x/cat.png"
    responses.get(URL, status=301, headers={"Location": final})
    responses.get(final, body=png_bytes, content_type="image/png")
    r = run(cfg)
    assert r["ok"] and r["final_url"] == final
    assert r["path"] == "img.example/photos/cat.png"  # named by the URL handed out: same on every host


@responses.activate
def test_redirect_loop_is_recorded(cfg):
    responses.get(URL, status=302, headers={"Location": URL})
    r = run(cfg)
    assert not r["ok"] and r["reason"] == "redirect"


@responses.activate
def test_redirect_to_a_non_http_scheme_is_recorded(cfg):
    responses.get(URL, status=302, headers={"Location": "ftp://files.example/cat.png"})
    r = run(cfg)
    assert not r["ok"] and r["reason"] == "redirect"


@responses.activate
def test_worker_limits_win_over_the_task_limits(cfg, png_bytes):
    responses.get(URL, body=png_bytes + b"\0" * 2_000_000, content_type="image/png")
    r = run(cfg, max_bytes=10**9)  # the task allows a GB; the worker's --max-bytes is 1 MB
    assert not r["ok"] and r["reason"] == "too-large"
