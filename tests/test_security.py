"""Hostile input and the network: SSRF guard, bounded work, authkey rules at the command line."""

import gzip
import threading
import time
import tracemalloc
import zlib
from http.server import BaseHTTPRequestHandler

import pytest

from crawler.cli.demo import StaticServer
from crawler.config import WorkerConfig
from crawler.net import fetch
from crawler.net.netguard import NetPolicy
from crawler.page.extract import extract
from crawler.rules.messages import make_task
from crawler.worker import download

from .procs import output

pytestmark = pytest.mark.timeout(90)


def bomb(size: int) -> bytes:
    """`size` zero bytes, gzip-compressed (about 1000:1)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    parts = [c.compress(block) for _ in range(size >> 20)]
    return b"".join(parts) + c.flush()


class Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    bomb_body = b""
    port = 0

    def log_message(self, *args):
        pass

    def do_GET(self):
        routes = {
            "/to-loopback.png": (302, {"Location": f"http://127.0.0.1:{self.port}/secret.png"}, b""),
            "/to-metadata.png": (302, {"Location": "http://169.254.169.254/latest/meta-data/x.png"}, b""),
            "/secret.png": (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n" + b"\0" * 100),
            "/bomb.html": (200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, self.bomb_body),
            "/bomb.png": (200, {"Content-Type": "image/png", "Content-Encoding": "gzip"},
                          gzip.compress(b"\x89PNG\r\n\x1a\n" + b"\0" * (50 << 20))),
        }
        status, headers, body = routes.get(self.path, (404, {}, b"no"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def hostile_server():
    """A server on 127.0.0.2: the seed host. 127.0.0.1 is a different, non-seed host."""
    Hostile.bomb_body = bomb(256 << 20)  # 256 MiB of zeros, about 250 kB on the wire
    try:
        server = StaticServer(("127.0.0.2", 0), Hostile)
    except OSError:
        pytest.skip("127.0.0.2 is not routable here")
    Hostile.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.2:{Hostile.port}"
    server.shutdown()
    server.server_close()


def worker_cfg(tmp_path):
    return WorkerConfig(address=("127.0.0.1", 1), out=tmp_path, threads=1, max_bytes=10 << 20, timeout=5, name="w")


@pytest.mark.parametrize("path, blocked", [("/to-loopback.png", "127.0.0.1"), ("/to-metadata.png", "169.254.169.254")])
def test_redirect_to_a_private_address_that_is_no_seed_host_is_refused_and_recorded(hostile_server, tmp_path, path,
                                                                                    blocked):
    session = fetch.new_client("t", NetPolicy(trusted_hosts=frozenset({"127.0.0.2"})))
    task = make_task(1, hostile_server + path, hostile_server + "/", max_bytes=1 << 20, timeout=5)
    r = download(task, worker_cfg(tmp_path), session)
    assert not r["ok"] and r["reason"] == "blocked-address" and blocked in r["error"]
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_allow_private_lets_the_redirect_through(hostile_server, tmp_path):
    session = fetch.new_client("t", NetPolicy(allow_private=True))
    task = make_task(1, hostile_server + "/secret.png", None, max_bytes=1 << 20, timeout=5)
    assert download(task, worker_cfg(tmp_path), session)["ok"]
    # the redirect now goes through the guard (and finds nothing listening on 127.0.0.1)
    task = make_task(2, hostile_server + "/to-loopback.png", None, max_bytes=1 << 20, timeout=5)
    r = download(task, worker_cfg(tmp_path), session)
    assert r["reason"] == "unreachable" and "refused" in r["error"].lower()


def test_without_a_policy_even_the_seed_looking_host_is_refused(hostile_server, tmp_path):
    session = fetch.new_client("t", NetPolicy())
    task = make_task(1, hostile_server + "/secret.png", None, max_bytes=1 << 20, timeout=5)
    r = download(task, worker_cfg(tmp_path), session)
    assert r["reason"] == "blocked-address" and "loopback" in r["error"]


def test_a_name_that_resolves_to_loopback_is_checked_by_address_not_by_name():
    with pytest.raises(Exception, match="loopback"):
        NetPolicy(trusted_hosts=frozenset({"example.invalid"})).addresses("localhost", 80)
    assert NetPolicy(trusted_hosts=frozenset({"localhost"})).addresses("localhost", 80)


def test_a_gzip_bomb_page_stops_at_max_page_bytes(hostile_server):
    session = fetch.new_client("t", NetPolicy(allow_private=True))
    # the peak of this fetch alone (a process's lifetime RSS peak could hide it behind an earlier test's)
    tracemalloc.start()
    try:
        start = time.monotonic()
        page = fetch.fetch_page(session, hostile_server + "/bomb.html", max_bytes=2 << 20, timeout=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert page.truncated and len(page.body) == 2 << 20
    assert time.monotonic() - start < 10
    # the 1 GiB it would inflate to never exists in memory (about 100 MB here: urllib3 inflates a
    # whole compressed read of this 1000:1 bomb at once before the cut)
    assert peak < 200 << 20, peak


def test_a_gzip_bomb_image_is_refused_as_too_large(hostile_server, tmp_path):
    session = fetch.new_client("t", NetPolicy(allow_private=True))
    task = make_task(1, hostile_server + "/bomb.png", None, max_bytes=1 << 20, timeout=5)
    r = download(task, worker_cfg(tmp_path), session)
    assert not r["ok"] and r["reason"] == "too-large"
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_a_page_of_200000_links_costs_bounded_time_and_memory():
    html = "<html><body>" + "".join(f'<a href="/p/{i}">{i}</a><img src="/i/{i}.jpg">' for i in range(200_000))
    start = time.monotonic()
    ex = extract(html, "http://h/")
    assert len(ex.links) == 20_000 and len(ex.images) == 20_000  # the caps per page
    assert time.monotonic() - start < 30


def test_a_20_mb_attribute_costs_bounded_time():
    html = '<html><body><img src="a.jpg" data-src="' + "x" * (20 << 20) + '" style="' + "url(" * (1 << 20) + '">'
    start = time.monotonic()
    ex = extract(html, "http://h/")
    assert [i.url for i in ex.images] == ["http://h/a.jpg"]
    assert time.monotonic() - start < 20


def _seeds(tmp_path):
    f = tmp_path / "seeds.txt"
    f.write_text("http://127.0.0.1:9/\n")
    return str(f)


@pytest.mark.parametrize("setup, code, message", [
    ("missing", 3, "does not exist"),
    ("world-readable", 6, "chmod 600"),
    ("short", 7, "at least 16"),
])
def test_authkey_problems_each_have_their_message_and_exit_code(tmp_path, procs, setup, code, message):
    key = tmp_path / "key"
    if setup != "missing":
        key.write_text("tooshort" if setup == "short" else "k" * 32)
        key.chmod(0o644 if setup == "world-readable" else 0o600)
    for args in (["worker", "--connect", "127.0.0.1:9"], ["master", _seeds(tmp_path), "--listen", "127.0.0.1:0"]):
        p = procs.start(*args, "--out", str(tmp_path / "out"), "--authkey-file", str(key))
        log = output(p, 20)
        assert p.returncode == code and message in log and "Traceback" not in log, log


def test_listening_on_all_interfaces_warns_that_the_key_is_the_only_protection(tmp_path, procs):
    p = procs.start("master", _seeds(tmp_path), "--listen", "0.0.0.0:0", "--out", str(tmp_path / "out"),
                    "--timeout", "1")
    lines = []
    while not any("listening on all interfaces" in line for line in lines):
        line = p.stdout.readline().decode()
        assert line, "".join(lines)
        lines.append(line)
    assert "SSH tunnel" in lines[-1]
    p.terminate()
    output(p, 20)


def test_the_key_is_not_accepted_on_the_command_line(tmp_path, procs):
    p = procs.start("worker", "--connect", "127.0.0.1:9", "--authkey", "k" * 32)
    assert "unrecognized arguments: --authkey" in output(p, 20) and p.returncode == 2
