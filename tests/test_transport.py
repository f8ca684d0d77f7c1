"""The transport over real sockets: keep-alive reuse, dropped connections, decoding, bombs,
TLS with a private CA, the SSRF guard inside requests' stack, DNS rebinding."""

import gzip
import http.server
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
import zlib

import pytest

from crawler.errors import NetworkError, TLSError
from crawler.net import fetch, netguard, transport
from crawler.net.netguard import NetPolicy

LOCAL = NetPolicy(frozenset({"127.0.0.1", "localhost"}))


def get_all(client, url, **kw):
    with fetch.open_body(client, url, max_bytes=kw.pop("max_bytes", 10**7), timeout=kw.pop("timeout", 5.0)) as body:
        return body.head + b"".join(body.rest())


def ports(server) -> set:
    return {port for _, _, port in server.seen}


def test_one_connection_serves_many_requests(server):
    server.add("/a", b"x" * 50_000)
    server.add("/404", b"gone", status=404)
    server.add("/moved", status=302, headers={"Location": "/a"})
    client = fetch.new_client("t", LOCAL)
    for _ in range(5):
        assert get_all(client, server.base + "/a") == b"x" * 50_000
        with pytest.raises(fetch.HTTPStatusError):
            get_all(client, server.base + "/404")  # a short error page is drained, not a reason to reconnect
        assert get_all(client, server.base + "/moved") == b"x" * 50_000  # and so is a redirect's
    assert len(ports(server)) == 1 and len(server.seen) == 20


def test_an_idle_connection_the_server_closed_is_replaced(server):
    server.idle_timeout = 0.1
    server.add("/a", b"abc")
    client = fetch.new_client("t", LOCAL)
    assert get_all(client, server.base + "/a") == b"abc"
    time.sleep(0.4)  # the server has closed our idle connection meanwhile
    assert get_all(client, server.base + "/a") == b"abc"
    assert len(ports(server)) == 2


def test_a_body_abandoned_midway_closes_its_connection(server):
    server.add("/big", b"\x89PNG\r\n\x1a\n" + b"\0" * 500_000)
    server.add("/a", b"abc")
    client = fetch.new_client("t", LOCAL)
    with pytest.raises(fetch.TooLargeError):
        get_all(client, server.base + "/big", max_bytes=100_000)
    assert get_all(client, server.base + "/a") == b"abc"  # not read from the middle of the big body
    assert len(ports(server)) == 2


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


@pytest.mark.parametrize("body, encoding, words", [
    (b"not gzip at all", "gzip", "cannot decode"),
    (b"whatever", "br", "unsupported Content-Encoding"),
])
def test_undecodable_bodies_are_network_errors_with_a_reason(server, body, encoding, words):
    server.add("/x", body, headers={"Content-Encoding": encoding})
    with pytest.raises(NetworkError, match=words):
        get_all(fetch.new_client("t", LOCAL), server.base + "/x")


def test_a_body_cut_short_by_the_server_is_a_network_error(server):
    server.add("/x", b"\0" * 100_000, stall_after=1000)
    server.release.set()  # the server closes the connection after 1,000 of 100,000 bytes
    with pytest.raises(NetworkError, match="before the body was complete"):
        get_all(fetch.new_client("t", LOCAL), server.base + "/x")


def test_a_chunked_answer_after_a_100_continue_is_read_whole():
    listener = socket.socket()
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


def test_a_refused_connection_and_an_unknown_host_are_unreachable(server):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()  # nothing listens there now
    client = fetch.new_client("t", LOCAL)
    with pytest.raises(fetch.UnreachableError, match="refused"):
        get_all(client, f"http://127.0.0.1:{dead}/x.png")
    with pytest.raises(fetch.UnreachableError, match="cannot resolve"):
        get_all(fetch.new_client("t", NetPolicy(allow_private=True)), "http://no-such-host.invalid/x.png")


# -- a bomb, measured in a process of its own --------------------------------------------

BOMB_CHILD = textwrap.dedent("""
    import gzip, resource, sys, threading, http.server
    from crawler.net import fetch
    from crawler.net.netguard import NetPolicy

    member = gzip.compress(b"\\0" * (64 << 20), 9)  # 64 MiB of zeros in about 64 kB
    body = member * 16                              # 16 gzip members: 1 GiB inflated

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/bomb.png"
    client = fetch.new_client("t", NetPolicy(allow_private=True))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    total = biggest = 0
    with fetch.open_body(client, url, max_bytes=int(sys.argv[1]), timeout=30) as b:
        total, biggest = len(b.head), len(b.head)
        try:
            for chunk in b.rest():
                total += len(chunk)
                biggest = max(biggest, len(chunk))
        except fetch.TooLargeError:
            print("too-large")
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(total, biggest, round(grown))
""")


@pytest.mark.timeout(120)
def test_a_1_gib_gzip_bomb_inflates_one_bounded_step_at_a_time_and_caps_count_inflated_bytes():
    def run(max_bytes):
        out = subprocess.run([sys.executable, "-c", BOMB_CHILD, str(max_bytes)], capture_output=True, text=True,
                             timeout=110)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.split()

    # read to the end: every inflated byte passes, in pieces of at most one chunk, and the
    # process never holds more than a few of them (a GiB that existed at once would show)
    total, biggest, grown = map(int, run(1 << 40))
    assert total == 1 << 30 and biggest <= fetch.CHUNK
    assert grown < 64, f"peak RSS grew by {grown} MiB while inflating 1 GiB"
    # a cap counts inflated bytes: 1 MiB stops it, though the wire carried about 1 MB in all
    words = run(1 << 20)
    assert words[0] == "too-large" and int(words[1]) <= (1 << 20) + fetch.CHUNK


# -- TLS with a private CA ---------------------------------------------------------------

@pytest.fixture(scope="module")
def private_ca():
    trustme = pytest.importorskip("trustme")
    return trustme.CA()


@pytest.fixture
def tls_server(private_ca, tmp_path):
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
    private_ca.issue_cert("localhost").configure_cert(ctx)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    httpd.handle_error = lambda *a: None  # a client that refuses our certificate hangs up
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    bundle = tmp_path / "ca.pem"
    private_ca.cert_pem.write_to_path(str(bundle))
    yield httpd.server_address[1], str(bundle)
    httpd.shutdown()
    httpd.server_close()


def test_tls_refuses_a_certificate_nobody_vouches_for_with_reason_tls(tls_server):
    port, _ = tls_server
    with pytest.raises(TLSError, match="not trusted.*--ca-bundle") as err:
        get_all(fetch.new_client("t", LOCAL), f"https://localhost:{port}/x.png")
    assert err.value.reason == "tls" and "\n" not in str(err.value)


def test_tls_trusts_a_ca_bundle_and_still_checks_the_name(tls_server):
    port, bundle = tls_server
    options = transport.Options(ca_file=bundle)
    assert get_all(fetch.new_client("t", LOCAL, options), f"https://localhost:{port}/x.png") == b"secret image"
    # the same certificate, reached by an address it does not name
    with pytest.raises(TLSError, match="(?i)not trusted.*(mismatch|match)"):
        get_all(fetch.new_client("t", LOCAL, options), f"https://127.0.0.1:{port}/x.png")
    # the bundle's text, as the master hands it to its workers, works as the file does
    pem = open(bundle).read()
    options = transport.Options(ca_file=None, ca_pem=pem)
    assert get_all(fetch.new_client("t", LOCAL, options), f"https://localhost:{port}/x.png") == b"secret image"


def test_tls_trusts_requests_ca_bundle_from_the_environment(tls_server, monkeypatch):
    port, bundle = tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", bundle)
    assert get_all(fetch.new_client("t", LOCAL, transport.Options()), f"https://localhost:{port}/x.png") \
        == b"secret image"


# -- the guard inside requests' stack ------------------------------------------------------

def test_every_connection_goes_to_the_address_the_guard_checked_so_rebinding_fails(server, monkeypatch):
    """A resolver that answers a public address first and loopback after (DNS rebinding):
    the name is resolved once per connection, by the guard, and the socket goes to the
    address it checked, never to a second answer."""
    port = server.httpd.server_address[1]
    answers = iter(["93.184.216.34"] + ["127.0.0.1"] * 10)
    lookups, connects = [], []

    def resolver(host, *args, **kwargs):
        lookups.append(host)
        ip = next(answers)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    class NoWire(socket.socket):
        def connect(self, address):  # no packet leaves this machine for the public address
            connects.append(address[0])
            raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(netguard.socket, "getaddrinfo", resolver)
    monkeypatch.setattr(netguard.socket, "socket", NoWire)
    with pytest.raises(fetch.UnreachableError):
        get_all(fetch.new_client("t", NetPolicy()), f"http://rebind.example:{port}/x.png")
    assert lookups == ["rebind.example"] and connects == ["93.184.216.34"]
    assert server.seen == []
    # the second answer (loopback) is refused where it is checked
    with pytest.raises(netguard.BlockedAddressError, match="loopback"):
        get_all(fetch.new_client("t", NetPolicy()), f"http://rebind.example:{port}/x.png")
    assert connects == ["93.184.216.34"] and server.seen == []


def test_https_through_a_connect_proxy_verifies_the_target_with_the_bundle(private_ca, tmp_path):
    """A CONNECT tunnel to gallery.invalid (a name only the proxy can reach): TLS runs end
    to end inside it, and the certificate is checked against the target's name."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    private_ca.issue_cert("gallery.invalid").configure_cert(ctx)

    class Image(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "12")
            self.end_headers()
            self.wfile.write(b"secret image")

        def log_message(self, *args):
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Image)
    site.daemon_threads = True
    site.socket = ctx.wrap_socket(site.socket, server_side=True)
    site.handle_error = lambda *a: None
    tunnels = []

    class Connect(http.server.BaseHTTPRequestHandler):
        def do_CONNECT(self):
            tunnels.append(self.path)
            upstream = socket.create_connection(site.server_address)  # gallery.invalid:443 lives here
            self.send_response(200, "Connection established")
            self.end_headers()
            conns = [self.connection, upstream]

            def pipe(a, b):
                try:
                    while data := a.recv(65536):
                        b.sendall(data)
                except OSError:
                    pass
                finally:
                    for c in conns:
                        try:
                            c.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass

            t = threading.Thread(target=pipe, args=(upstream, self.connection), daemon=True)
            t.start()
            pipe(self.connection, upstream)
            t.join(5)
            self.close_connection = True

        def log_message(self, *args):
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Connect)
    proxy.daemon_threads = True
    for s in (site, proxy):
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    bundle = tmp_path / "ca.pem"
    private_ca.cert_pem.write_to_path(str(bundle))
    try:
        via = transport.Proxies(f"http://127.0.0.1:{proxy.server_address[1]}")
        trusted = transport.Options(proxies=via, ca_file=str(bundle))
        assert get_all(fetch.new_client("t", NetPolicy(), trusted), "https://gallery.invalid/x.png") \
            == b"secret image"
        assert tunnels == ["gallery.invalid:443"]
        with pytest.raises(TLSError, match="not trusted"):  # the default trust store knows no such CA
            get_all(fetch.new_client("t", NetPolicy(), transport.Options(proxies=via)),
                    "https://gallery.invalid/x.png")
    finally:
        for s in (site, proxy):
            s.shutdown()
            s.server_close()
