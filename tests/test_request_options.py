"""What requests users rely on, end to end with real local servers and `crawler run`: a forward
proxy (from the environment and from --proxy), a header and a cookie a site requires, a
site whose certificate comes from a private CA. Values given for headers, cookies and a
proxy's password never show in the output."""

import base64
import http.server
import ssl
import threading
from urllib.parse import urlsplit

import pytest

from devtools import imagegen

from .procs import output, records

pytestmark = pytest.mark.timeout(120)

IMAGES = {f"/img/{i}.png": imagegen.png(8, 8, i) for i in range(4)}


def site_pages(image_base: str = "") -> dict[str, tuple[str, bytes]]:
    index = "".join(f'<img src="{image_base}{p}">' for p in IMAGES) + '<a href="/more.html">more</a>'
    pages = {"/": ("text/html", index.encode()), "/more.html": ("text/html", b'<img src="/img/0.png">')}
    pages.update({p: ("image/png", b) for p, b in IMAGES.items()})
    return pages


class Site(http.server.ThreadingHTTPServer):
    """Serves `pages`; `check(handler)` may refuse a request with 403. Records what it saw."""

    daemon_threads = True

    def __init__(self, address, pages, check=None, tls: ssl.SSLContext | None = None):
        self.pages, self.check, self.seen, self.refused = pages, check, [], []
        super().__init__(address, _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def handle_error(self, request, client_address):
        pass  # a client that refuses our certificate, or hangs up early

    def stop(self):
        self.shutdown()
        self.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        srv = self.server
        why = srv.check(self) if srv.check else None
        path = urlsplit(self.path).path or "/"
        srv.seen.append((self.path, dict(self.headers)))
        ctype, body = srv.pages.get(path, ("text/plain", None))
        status = 403 if why else 200 if body is not None else 404
        if why:
            srv.refused.append((self.path, why))
            ctype, body = "text/plain", why.encode()
        body = body if body is not None else b"not here"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def crawl(procs, tmp_path, seed, *flags, env=None):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(seed + "\n")
    out = tmp_path / "out"
    p = procs.start("run", str(seeds), "--workers", "2", "--out", str(out), "--timeout", "5", "-v", *flags, env=env)
    log = output(p, 100)
    assert p.returncode == 0, log
    return {r["url"]: r for r in records(out)}, log


# -- a forward proxy -----------------------------------------------------------------------

PROXY_SECRET = "pw-7f3a"


@pytest.fixture
def proxy():
    """A forward proxy that serves gallery.invalid (a name that resolves nowhere) and refuses
    anything else; it wants a password."""
    expected = "Basic " + base64.b64encode(f"crawler:{PROXY_SECRET}".encode()).decode()

    def check(h):
        target = urlsplit(h.path)
        if target.scheme != "http" or target.hostname != "gallery.invalid":
            return f"this proxy serves only gallery.invalid, not {h.path[:80]}"
        if h.headers.get("Proxy-Authorization") != expected:
            return "proxy password missing"
        return None

    server = Site(("127.0.0.1", 0), site_pages(), check)
    yield server
    server.stop()


@pytest.mark.parametrize("how", ["environment", "flag"])
def test_a_forward_proxy_from_the_environment_or_the_flag_reaches_a_site_only_it_can(tmp_path, procs, proxy, how):
    proxy.pages["/"] = ("text/html", proxy.pages["/"][1] + b'<img src="http://127.0.0.1:9/secret.png">')
    url = f"http://crawler:{PROXY_SECRET}@127.0.0.1:{proxy.server_address[1]}"
    flags, env = (["--proxy", url], None) if how == "flag" else ([], {"HTTP_PROXY": url, "NO_PROXY": ""})
    got, log = crawl(procs, tmp_path, "http://gallery.invalid/", *flags, env=env)
    assert all(got[f"http://gallery.invalid{p}"]["ok"] for p in IMAGES), log
    assert {r["worker"] for r in got.values() if r["ok"]} and not proxy.refused
    assert "/robots.txt" in {urlsplit(p).path for p, _ in proxy.seen}
    # an address written in a page's URL is refused before it reaches the proxy
    assert got["http://127.0.0.1:9/secret.png"]["reason"] == "blocked-address"
    assert not [p for p, _ in proxy.seen if "127.0.0.1" in p]
    assert PROXY_SECRET not in log and ("proxy http://crawler:***@" in log) == (how == "flag")


# -- a header and a cookie the site requires -----------------------------------------------

HEADER_SECRET, COOKIE_SECRET, HTTPONLY_SECRET = "key-51c9", "cookie-8d2e", "ho-44b1"


@pytest.fixture
def members_only():
    def check(h):
        if h.headers.get("X-Api-Key") != HEADER_SECRET:
            return "no API key"
        cookies = dict(part.split("=", 1) for part in (h.headers.get("Cookie") or "").split("; ") if "=" in part)
        if cookies.get("session") != COOKIE_SECRET or cookies.get("hid") != HTTPONLY_SECRET:
            return "not logged in"
        return None

    server = Site(("127.0.0.1", 0), site_pages(), check)
    yield server
    server.stop()


def test_a_header_and_cookies_reach_every_request_of_every_worker_and_are_never_shown(tmp_path, procs,
                                                                                      members_only):
    port = members_only.server_address[1]
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n"
                       f"127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\t{COOKIE_SECRET}\n"  # curl's session cookie
                       f"#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t4102444800\thid\t{HTTPONLY_SECRET}\n")
    config = tmp_path / "crawl.toml"  # off the command line, which every user of the host can see
    config.write_text(f'header = ["X-Api-Key: {HEADER_SECRET}"]\ncookies = "{cookies}"\n')
    got, log = crawl(procs, tmp_path, f"http://127.0.0.1:{port}/", "--config", str(config))
    images = [f"http://127.0.0.1:{port}{p}" for p in IMAGES]
    assert all(got[u]["ok"] for u in images), log
    assert not members_only.refused and len({got[u]["worker"] for u in images}) >= 1
    assert "header(s) X-Api-Key and 2 cookie(s)" in log
    for secret in (HEADER_SECRET, COOKIE_SECRET, HTTPONLY_SECRET):
        assert secret not in log


def test_a_bad_header_line_or_cookies_file_stops_before_the_crawl_without_showing_values(tmp_path, procs):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("http://127.0.0.1:9/\n")
    bad = tmp_path / "bad.txt"
    bad.write_text("127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\n")  # six fields
    for flags, words in ((["--header", f"X-Api-Key {HEADER_SECRET}"], "--header 1: expected 'Name: value'"),
                         (["--header", "Host: x"], "--header 1: Host is set by the crawler itself"),
                         (["--cookies", str(bad)], f"{bad} line 1: expected 7 tab-separated fields"),
                         (["--cookies", str(tmp_path / "none.txt")], "cannot read the cookies file"),
                         (["--proxy", "ftp://p:21"], "--proxy ftp://p:21: expected http://")):
        p = procs.start("run", str(seeds), "--out", str(tmp_path / "out"), *flags)
        log = output(p, 30)
        assert p.returncode == 2 and words in log and "Traceback" not in log, log
        assert HEADER_SECRET not in log and not (tmp_path / "out" / "manifest.jsonl").exists()


# -- a private CA ----------------------------------------------------------------------------

def test_a_site_with_a_private_ca_is_crawled_with_ca_bundle_and_the_workers_get_it(tmp_path, procs):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    server = Site(("127.0.0.1", 0), site_pages(), tls=ctx)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    try:
        base = f"https://127.0.0.1:{server.server_address[1]}"
        got, log = crawl(procs, tmp_path, base + "/", "--ca-bundle", str(bundle))
        assert all(got[base + p]["ok"] for p in IMAGES), log
        assert {r["worker"] for r in got.values()} and "TLS trusts the CA certificates in" in log
    finally:
        server.stop()
