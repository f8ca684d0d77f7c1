"""The transport: keep-alive reuse, idle connections the server dropped, decoding, TLS."""

import gzip
import http.client
import http.server
import ssl
import subprocess
import threading
import time
import zlib

import pytest

from crawler import fetch, http1
from crawler.errors import NetworkError
from crawler.netguard import NetPolicy


LOCAL = NetPolicy(frozenset({"127.0.0.1", "localhost"}))


def get_all(client, url, **kw):
    with fetch.open_body(client, url, max_bytes=kw.pop("max_bytes", 10**7), timeout=kw.pop("timeout", 5.0)) as body:
        return body.head + b"".join(body.rest())


def test_one_connection_serves_many_requests(server):
    server.add("/a", b"x" * 50_000)
    server.add("/404", b"gone", status=404)
    client = fetch.new_client("t", LOCAL)
    for _ in range(5):
        assert get_all(client, server.base + "/a") == b"x" * 50_000
        with pytest.raises(Exception):
            get_all(client, server.base + "/404")  # a short error page is drained, not a reason to reconnect
    assert len({port for _, _, port in server.seen}) == 1 and len(server.seen) == 10


@pytest.mark.parametrize("fresh_seconds", [0.0, 10.0], ids=["looked-at-before-reuse", "found-on-sending"])
def test_an_idle_connection_the_server_closed_is_replaced(server, monkeypatch, fresh_seconds):
    monkeypatch.setattr(http1, "FRESH_SECONDS", fresh_seconds)
    server.idle_timeout = 0.1
    server.add("/a", b"abc")
    client = fetch.new_client("t", LOCAL)
    assert get_all(client, server.base + "/a") == b"abc"
    time.sleep(0.4)  # the server has closed our idle connection meanwhile
    assert get_all(client, server.base + "/a") == b"abc"
    assert len({port for _, _, port in server.seen}) == 2


def test_a_body_abandoned_midway_closes_its_connection(server):
    server.add("/big", b"\x89PNG\r\n\x1a\n" + b"\0" * 500_000)
    server.add("/a", b"abc")
    client = fetch.new_client("t", LOCAL)
    with pytest.raises(Exception):
        get_all(client, server.base + "/big", max_bytes=100_000)
    assert get_all(client, server.base + "/a") == b"abc"  # not read from the middle of the big body
    assert len({port for _, _, port in server.seen}) == 2


def test_gzip_with_two_members_and_raw_deflate_are_decoded(server):
    server.add("/two", gzip.compress(b"one ") + gzip.compress(b"two"), headers={"Content-Encoding": "gzip"})
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    server.add("/raw", raw.compress(b"raw deflate") + raw.flush(), headers={"Content-Encoding": "deflate"})
    server.add("/zlib", zlib.compress(b"zlib deflate"), headers={"Content-Encoding": "deflate"})
    client = fetch.new_client("t", LOCAL)
    assert get_all(client, server.base + "/two") == b"one two"
    assert get_all(client, server.base + "/raw") == b"raw deflate"
    assert get_all(client, server.base + "/zlib") == b"zlib deflate"
    assert server.seen[0][1]["Accept-Encoding"] == "gzip, deflate"


def test_inflating_yields_bounded_pieces():
    bomb = zlib.compress(b"\0" * (50 << 20), 9)  # 50 MiB from about 50 kB
    pieces = http1._inflate(iter([bomb]), "deflate", 64 * 1024)
    sizes = [len(next(pieces)) for _ in range(20)]
    assert max(sizes) <= 64 * 1024


@pytest.mark.parametrize("body, encoding, words", [
    (b"not gzip at all", "gzip", "corrupt"),
    (b"whatever", "br", "unsupported Content-Encoding"),
])
def test_undecodable_bodies_are_network_errors_with_a_reason(server, body, encoding, words):
    server.add("/x", body, headers={"Content-Encoding": encoding})
    with pytest.raises(NetworkError, match=words):
        get_all(fetch.new_client("t", LOCAL), server.base + "/x")


def test_a_body_cut_short_by_the_server_is_a_network_error(server):
    class Short(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"\0" * 1000)
            self.close_connection = True

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Short)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    t.start()
    try:
        with pytest.raises(NetworkError, match="before the body was complete"):
            get_all(fetch.new_client("t", LOCAL), f"http://127.0.0.1:{httpd.server_address[1]}/x")
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def tls_server(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                           "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                           "-keyout", str(key), "-out", str(cert)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"openssl cannot make a certificate here: {made.stderr.decode()[-200:]}")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = b"secret image"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    t.start()
    yield httpd.server_address[1], cert
    httpd.shutdown()
    httpd.server_close()


def test_tls_refuses_a_certificate_nobody_vouches_for(tls_server):
    port, _ = tls_server
    with pytest.raises(NetworkError, match="TLS failed.*certificate verify failed"):
        get_all(fetch.new_client("t", LOCAL), f"https://localhost:{port}/x.png")


def test_tls_works_with_a_trusted_certificate_and_checks_the_name(tls_server, monkeypatch):
    port, cert = tls_server
    ctx = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(http1, "_tls_context", ctx)
    assert get_all(fetch.new_client("t", LOCAL), f"https://localhost:{port}/x.png") == b"secret image"
    # the same certificate reached by an address it does not name
    with pytest.raises(NetworkError, match="TLS failed.*(match|mismatch)"):
        get_all(fetch.new_client("t", LOCAL), f"https://127.0.0.1:{port}/x.png")


def test_header_fields_case_folding_repeats_and_limits():
    import io
    raw = (b"Content-Type: image/png\r\nX-Twice: one\r\nx-twice: two\r\nX-Folded: a\r\n  b\r\n"
           b"no colon here\r\nEmpty:\r\n\r\nbody")
    fp = io.BytesIO(raw)
    h = http1.read_headers(fp)
    assert h.get("content-type") == "image/png" and h["CONTENT-TYPE"] == "image/png"
    assert h.get("x-twice") == "one" and h.get_all("X-TWICE") == ["one", "two"]
    assert h.get("x-folded") == "a b" and h.get("empty") == "" and h.get("missing", 7) == 7
    assert "x-folded" in h and "no colon here" not in h and len(h) == 5
    assert fp.read() == b"body"  # stops at the blank line
    with pytest.raises(http.client.HTTPException, match="more than 100"):
        http1.read_headers(io.BytesIO(b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n"))
    with pytest.raises(http.client.LineTooLong):
        http1.read_headers(io.BytesIO(b"X: " + b"y" * 70000 + b"\r\n\r\n"))


def test_a_chunked_answer_after_a_100_continue_is_read_whole():
    import socket as socketlib

    listener = socketlib.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
                         b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: image/png\r\n\r\n"
                         b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        client = fetch.new_client("t", LOCAL)
        with fetch.open_body(client, f"http://127.0.0.1:{listener.getsockname()[1]}/x", max_bytes=100,
                             timeout=5) as body:
            assert body.status == 200 and body.content_type == "image/png"
            assert body.head + b"".join(body.rest()) == b"hello world"
    finally:
        listener.close()
        t.join(5)


@pytest.mark.parametrize("timeout", [0.3, 0.6])
def test_a_body_that_stalls_midway_times_out_after_the_timeout(server, timeout):
    server.add("/a.png", b"abc")
    server.add("/stall.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 99_992, stall_after=1000)
    client = fetch.new_client("t", LOCAL)
    assert get_all(client, server.base + "/a.png", timeout=30) == b"abc"
    start = time.monotonic()
    with pytest.raises(fetch.FetchTimeoutError, match="timed out"):  # on the same connection, kept alive
        get_all(client, server.base + "/stall.png", timeout=timeout)
    assert timeout <= time.monotonic() - start < timeout + 1.0


@pytest.mark.parametrize("seconds", [1e-9, 0.3, 2.5])
def test_a_kernel_timeout_is_never_zero_which_would_mean_none(seconds):
    import socket
    import struct

    from crawler.sockopts import set_kernel_timeouts
    with socket.socket() as sock:
        set_kernel_timeouts(sock, seconds)
        sec, usec = struct.unpack("ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16))
        assert sec * 1_000_000 + usec >= min(seconds * 1e6, 2.5e6) * 0.99 and (sec, usec) != (0, 0)
