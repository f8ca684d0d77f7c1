"""The fetch layer against `responses`, the HTTP mock for requests: status handling, retries
with Retry-After, redirects and their limit, content type against magic bytes, size caps,
gzip, timeouts and connection errors as requests raises them, headers and cookies.

`responses` patches `requests.adapters.HTTPAdapter.send`, the call our transport makes;
every host here is a name that resolves nowhere (`.example`), so a request that went
around the mock could not succeed (test_the_crawl_goes_through_the_mock shows it). What
crosses a real socket (the SSRF guard, proxies, TLS, faults) is in test_transport,
test_security and test_requests.
"""

import gzip

import pytest
import requests
import responses
import urllib3.exceptions

from crawler.config import CrawlConfig, WorkerConfig
from crawler.master import process_page
from crawler.net import fetch, transport
from crawler.net.netguard import NetPolicy
from crawler.rules.messages import make_task
from crawler.worker import download

from .conftest import make_png

PNG = make_png()
SITE = "http://gallery.example"
POLICY = NetPolicy(frozenset({"gallery.example"}))


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as m:
        yield m


@pytest.fixture
def cfg(tmp_path):
    return WorkerConfig(address=("127.0.0.1", 1), out=tmp_path, threads=1, max_bytes=1 << 20, timeout=5.0, name="w")


def get(url, *, options=None, retries=0, cfg=None, sleeps=None):
    task = make_task(1, url, SITE + "/", max_bytes=1 << 20, timeout=5.0, retries=retries)
    client = fetch.new_client("test-agent", POLICY, options)
    return download(task, cfg, client, sleep=(sleeps.append if sleeps is not None else None))


def test_the_crawl_goes_through_the_mock(mock, cfg):
    # the worker's download and the master's page fetch, as the crawl calls them
    mock.get(SITE + "/a.png", body=PNG, content_type="image/png")
    mock.get(SITE + "/", body='<img src="/a.png"><a href="/next.html">n</a>', content_type="text/html")
    r = get(SITE + "/a.png", cfg=cfg)
    assert r["ok"] and (cfg.out / r["path"]).read_bytes() == PNG
    page = process_page(fetch.new_client("t", POLICY), SITE + "/", 0, CrawlConfig(seeds=(SITE + "/",)))
    assert [i.url for i in page.images] == [SITE + "/a.png"] and page.links == [SITE + "/next.html"]
    assert [c.request.url for c in mock.calls] == [SITE + "/a.png", SITE + "/"]
    # without the mock the same request meets the real network, where the name resolves nowhere
    mock.stop()
    try:
        assert get(SITE + "/a.png", cfg=cfg)["reason"] == "unreachable"
    finally:
        mock.start()


@pytest.mark.parametrize("status, retried", [(404, False), (403, False), (410, False), (503, True), (429, True)])
def test_status_decides_failure_and_retry(mock, cfg, status, retried):
    mock.get(SITE + "/x.png", status=status, body="no")
    sleeps = []
    r = get(SITE + "/x.png", cfg=cfg, retries=2, sleeps=sleeps)
    assert not r["ok"] and r["reason"] == "http-status" and r["status"] == status
    assert r["attempts"] == (3 if retried else 1) and len(sleeps) == (2 if retried else 0)


def test_retry_after_is_honoured_then_the_image_is_stored(mock, cfg):
    mock.get(SITE + "/x.png", status=503, headers={"Retry-After": "7"})
    mock.get(SITE + "/x.png", body=PNG, content_type="image/png")
    sleeps = []
    r = get(SITE + "/x.png", cfg=cfg, retries=2, sleeps=sleeps)
    assert r["ok"] and r["attempts"] == 2 and sleeps == [7.0]


def test_a_retry_after_beyond_the_cap_is_not_waited_for(mock, cfg):
    mock.get(SITE + "/x.png", status=429, headers={"Retry-After": "3600"})
    sleeps = []
    r = get(SITE + "/x.png", cfg=cfg, retries=2, sleeps=sleeps)
    assert r["reason"] == "http-status" and r["attempts"] == 1 and sleeps == []


def test_redirects_are_followed_to_the_final_url(mock, cfg):
    mock.get(SITE + "/a.png", status=301, headers={"Location": "/b.png"})
    mock.get(SITE + "/b.png", status=308, headers={"Location": "https://gallery.example/c.png"})
    mock.get("https://gallery.example/c.png", body=PNG, content_type="image/png")
    r = get(SITE + "/a.png", cfg=cfg)
    assert r["ok"] and r["final_url"] == "https://gallery.example/c.png" and len(mock.calls) == 3


def test_a_redirect_loop_stops_at_the_limit(mock, cfg):
    mock.get(SITE + "/loop.png", status=302, headers={"Location": "/loop.png"})
    r = get(SITE + "/loop.png", cfg=cfg)
    assert r["reason"] == "redirect" and "more than 10 redirects" in r["error"]
    assert len(mock.calls) == fetch.MAX_REDIRECTS + 1


def test_a_redirect_to_another_scheme_is_refused(mock, cfg):
    mock.get(SITE + "/x.png", status=302, headers={"Location": "ftp://gallery.example/x.png"})
    r = get(SITE + "/x.png", cfg=cfg)
    assert r["reason"] == "redirect" and "ftp://" in r["error"]


@pytest.mark.parametrize("body, ctype, kind", [
    (PNG, "application/octet-stream", "png"),  # the bytes decide, not the label
    (b"<html>login first</html>", "image/jpeg", None),
    (b"GIF89a" + b"\0" * 20, None, "gif"),
])
def test_content_type_is_checked_against_the_magic_bytes(mock, cfg, body, ctype, kind):
    mock.get(SITE + "/x.jpg", body=body, content_type=ctype)
    r = get(SITE + "/x.jpg", cfg=cfg)
    if kind:
        assert r["ok"] and r["path"].endswith("." + kind)
    else:
        assert r["reason"] == "not-an-image" and not [p for p in cfg.out.rglob("*") if p.is_file()]


def test_size_caps_count_decoded_bytes(mock, cfg):
    big = PNG + b"\0" * (2 << 20)
    mock.get(SITE + "/declared.png", body=big, content_type="image/png", auto_calculate_content_length=True)
    mock.get(SITE + "/gzipped.png", body=gzip.compress(big), content_type="image/png",
             headers={"Content-Encoding": "gzip"})
    declared = get(SITE + "/declared.png", cfg=cfg)
    assert declared["reason"] == "too-large" and "Content-Length" in declared["error"]
    gzipped = get(SITE + "/gzipped.png", cfg=cfg)  # about 2 kB on the wire, 2 MiB decoded
    assert gzipped["reason"] == "too-large" and "larger than 1048576" in gzipped["error"]
    assert not [p for p in cfg.out.rglob("*") if p.is_file()]


def test_a_gzip_body_is_stored_decoded(mock, cfg):
    mock.get(SITE + "/x.png", body=gzip.compress(PNG), content_type="image/png",
             headers={"Content-Encoding": "gzip"})
    r = get(SITE + "/x.png", cfg=cfg)
    assert r["ok"] and (cfg.out / r["path"]).read_bytes() == PNG and r["bytes"] == len(PNG)


def _refused() -> requests.ConnectionError:
    reason = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: [Errno 111] refused")
    reason.__cause__ = ConnectionRefusedError(111, "Connection refused")  # as urllib3 raises it
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/x.png", reason))


@pytest.mark.parametrize("error, reason, words", [
    (requests.ConnectTimeout("HTTPConnectionPool: connect timeout=5"), "timeout", "timed out"),
    (requests.ReadTimeout("HTTPConnectionPool: Read timed out. (read timeout=5)"), "timeout", "timed out"),
    (_refused(), "unreachable", "refused"),
    (requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/x.png", urllib3.exceptions.NameResolutionError(
        "gallery.example", None, OSError("Name or service not known")))), "unreachable", "cannot resolve"),
    (requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104))),
     "network", "connection failed"),
    (requests.exceptions.SSLError(urllib3.exceptions.SSLError("certificate verify failed")), "tls", "TLS"),
    (requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead(10 bytes read)"), "network",
     "connection failed"),
])
def test_errors_as_requests_raises_them_get_a_reason_and_one_line(mock, cfg, error, reason, words):
    mock.get(SITE + "/x.png", body=error)
    r = get(SITE + "/x.png", cfg=cfg)
    assert not r["ok"] and r["reason"] == reason and words in r["error"] and "\n" not in r["error"]


def test_user_headers_go_to_the_site_and_stay_behind_on_a_redirect_elsewhere(mock, cfg):
    options = transport.Options(headers=(("X-Api-Key", "k-123"), ("Authorization", "Bearer t")))
    mock.get(SITE + "/a.png", status=302, headers={"Location": "/b.png"})
    mock.get(SITE + "/b.png", status=302, headers={"Location": "http://cdn.example/b.png"})
    mock.get("http://cdn.example/b.png", body=PNG, content_type="image/png")
    assert get(SITE + "/a.png", cfg=cfg, options=options)["ok"]
    sent = [c.request.headers for c in mock.calls]
    assert [h.get("X-Api-Key") for h in sent] == ["k-123", "k-123", None]
    assert [h.get("Authorization") for h in sent] == ["Bearer t", "Bearer t", None]
    assert all(h["User-Agent"] == "test-agent" and h["Accept-Encoding"] == "gzip, deflate" for h in sent)


def test_same_site_means_host_scheme_and_port_or_an_upgrade_to_https():
    assert fetch.same_site("http://a.example/x", "http://a.example/y")
    assert fetch.same_site("http://a.example/x", "https://a.example/y")
    assert not fetch.same_site("https://a.example/x", "http://a.example/y")
    assert not fetch.same_site("http://a.example/x", "http://a.example:8080/y")
    assert not fetch.same_site("http://a.example/x", "http://b.a.example/y")


def test_cookies_go_where_they_belong_and_a_site_sets_more_for_the_whole_process(mock, cfg):
    from crawler.net import httpopts
    jar = httpopts.fill_jar(transport.new_jar(), [
        {"domain": "gallery.example", "path": "/", "secure": False, "expires": None, "name": "session",
         "value": "s1", "http_only": True},
        {"domain": ".other.example", "path": "/", "secure": False, "expires": None, "name": "o", "value": "o1",
         "http_only": False}])
    options = transport.Options(jar=jar)
    mock.get(SITE + "/a.png", body=PNG, content_type="image/png", headers={"Set-Cookie": "seen=1; Path=/"})
    mock.get(SITE + "/b.png", body=PNG, content_type="image/png")
    mock.get("http://cdn.example/c.png", body=PNG, content_type="image/png")
    assert get(SITE + "/a.png", cfg=cfg, options=options)["ok"]
    assert get(SITE + "/b.png", cfg=cfg, options=options)["ok"]  # another client: another thread, same process
    assert get("http://cdn.example/c.png", cfg=cfg, options=options)["ok"]
    sent = [set((c.request.headers.get("Cookie") or "").split("; ")) - {""} for c in mock.calls]
    assert sent == [{"session=s1"}, {"seen=1", "session=s1"}, set()]


def test_proxies_come_from_the_environment_as_requests_reads_them(mock, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "direct.example")
    proxies = transport.Proxies()
    assert proxies.for_url("http://gallery.example/x", "http", "gallery.example") == \
        {"all": "http://proxy.example:3128"}
    assert proxies.for_url("http://direct.example/x", "http", "direct.example") == {}
    assert transport.Proxies("http://flag.example:8080").for_url("http://direct.example/x", "http",
                                                                 "direct.example") == {"all": "http://flag.example:8080"}
    # and the transport hands them to the adapter with the request
    mock.get(SITE + "/a.png", body=PNG)
    client = fetch.new_client("t", POLICY, transport.Options(proxies=proxies))
    with fetch.open_body(client, SITE + "/a.png", max_bytes=1 << 20, timeout=5):
        pass
    assert mock.calls[0].request.req_kwargs["proxies"] == {"all": "http://proxy.example:3128"}


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/x.png", "http://127.0.0.1:8080/x.png",
                                 "http://[::1]/x.png"])
def test_an_address_in_the_url_is_refused_even_through_a_proxy(mock, cfg, url):
    options = transport.Options(proxies=transport.Proxies("http://proxy.example:3128"))
    r = get(url, cfg=cfg, options=options)
    assert r["reason"] == "blocked-address" and "proxy" in r["error"] and not mock.calls
