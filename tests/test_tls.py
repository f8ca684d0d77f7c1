"""TLS on the manager link: certificates, the handshake inside the manager's protocol, and
every mismatch failing at once with one clear error."""

import hashlib
import os
import shutil
import ssl
import subprocess

import pytest

from crawler.errors import ConfigError, ConnectError
from crawler.link import tls
from crawler.link.manager import MasterLink, SocketConnection, serve
from crawler.link.tls import TLSError
from crawler.master.board import ResultInbox, Task, TaskBoard

from .test_manager import in_thread

KEY = b"k" * 32


@pytest.fixture
def server_tls(tls_files):
    return tls.server_tls(tls_files.cert, tls_files.key)


@pytest.fixture
def tls_master(server_tls):
    board, inbox = TaskBoard(30), ResultInbox()
    board.add_many([Task(i, f"http://h/{i}.jpg", None) for i in (1, 2, 3)])
    s = serve(board, inbox, ("127.0.0.1", 0), KEY, tls=server_tls)
    yield s
    s.stop()


def call(address, *, key=KEY, trust=None):
    """Connect in a fresh thread, as a worker does, and return (qsize, connection class)."""
    def client():
        link = MasterLink(address, key, tls=trust)
        link.connect()
        try:
            return link.tasks.qsize(), type(link.tasks._tls.connection)
        finally:
            link.reset()
    return in_thread(client)


def test_fingerprint_is_the_one_openssl_prints_and_parses_as_users_paste_it(tls_files):
    der = ssl.PEM_cert_to_DER_cert(tls_files.cert.read_text())
    assert tls_files.fingerprint == ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    if shutil.which("openssl"):
        out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(tls_files.cert)],
                             capture_output=True, text=True, check=True).stdout.strip()
        assert out.split("=", 1)[1] == tls_files.fingerprint
        assert tls.parse_fingerprint(out) == hashlib.sha256(der).digest()  # pasted whole, with the label
    digest = hashlib.sha256(der).digest()
    for text in (tls_files.fingerprint, tls_files.fingerprint.lower(), digest.hex()):
        assert tls.parse_fingerprint(text) == digest
    for bad in ("", "AB:CD", "zz" * 32, digest.hex() + "00"):
        with pytest.raises(ConfigError, match="not a SHA-256 fingerprint"):
            tls.parse_fingerprint(bad)


def test_unusable_certificate_files_are_one_line_config_errors(tls_files, tmp_path):
    other = tls_files.ca_object.issue_cert("elsewhere.example")
    other_key = tmp_path / "other.key"
    other.private_key_pem.write_to_path(str(other_key))
    with pytest.raises(ConfigError, match="cannot use --tls-cert .* with --tls-key"):
        tls.server_tls(tls_files.cert, other_key)  # a key that is not the certificate's
    with pytest.raises(ConfigError, match="no such file"):
        tls.server_tls(tmp_path / "missing.pem", tls_files.key)
    from cryptography.hazmat.primitives import serialization
    private = serialization.load_pem_private_key(tls_files.key.read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.BestAvailableEncryption(b"secret")))
    with pytest.raises(ConfigError, match="is encrypted"):  # and no password prompt on the terminal
        tls.server_tls(tls_files.cert, encrypted)
    with pytest.raises(ConfigError, match="do not go together"):
        tls.client_tls(tls_files.ca, tls_files.fingerprint)


def test_a_worker_trusting_the_ca_or_the_fingerprint_works_over_tls(tls_master, tls_files):
    assert call(tls_master.address, trust=tls.client_tls(tls_files.ca)) == (3, SocketConnection)
    assert call(tls_master.address, trust=tls.client_tls(fingerprint=tls_files.fingerprint))[0] == 3
    assert call(("localhost", tls_master.address[1]), trust=tls.client_tls(tls_files.ca))[0] == 3  # by name


def test_the_authkey_still_decides_inside_tls(tls_master, tls_files):
    with pytest.raises(ConnectError, match="refused our authkey") as info:
        call(tls_master.address, key=b"w" * 32, trust=tls.client_tls(tls_files.ca))
    assert not isinstance(info.value, TLSError)


@pytest.mark.parametrize("case", ["unknown CA", "system store", "wrong name", "wrong fingerprint",
                                  "plaintext worker"])
def test_a_worker_that_cannot_trust_the_master_or_speaks_plaintext_fails_at_once(case, tls_master, tls_files,
                                                                                  tmp_path, request):
    import time

    import trustme
    address = tls_master.address
    if case == "unknown CA":
        other_ca = tmp_path / "other-ca.pem"
        trustme.CA().cert_pem.write_to_path(str(other_ca))
        trust, match = tls.client_tls(other_ca), "did not verify: unable to get local issuer"
    elif case == "system store":
        trust, match = tls.client_tls(), "did not verify: .*system's trust store"
    elif case == "wrong name":
        # a certificate for another name, from the CA the worker trusts
        named = tls_files.ca_object.issue_cert("master.example")
        cert, key = tmp_path / "named.pem", tmp_path / "named.key"
        named.cert_chain_pems[0].write_to_path(str(cert))
        named.private_key_pem.write_to_path(str(key))
        os.chmod(key, 0o600)
        other = serve(TaskBoard(30), ResultInbox(), ("127.0.0.1", 0), KEY, tls=tls.server_tls(cert, key))
        request.addfinalizer(other.stop)
        address = other.address
        trust, match = tls.client_tls(tls_files.ca), "not valid for '127.0.0.1'"
    elif case == "wrong fingerprint":
        trust, match = tls.client_tls(fingerprint="AB" * 32), "has SHA-256 fingerprint .*, not the one given"
    else:
        trust, match = None, "serves its queues over TLS: connect with --tls-ca"
    start = time.monotonic()
    with pytest.raises(TLSError, match=match):
        call(address, trust=trust)
    assert time.monotonic() - start < 5  # no timeout waited out
    # and the master goes on serving (the queues served are the last serve()'s: any size)
    assert call(tls_master.address, trust=tls.client_tls(tls_files.ca))[1] is SocketConnection


def test_a_tls_worker_meeting_a_plaintext_master_fails_at_once(tls_files):
    s = serve(TaskBoard(30), ResultInbox(), ("127.0.0.1", 0), KEY)
    try:
        with pytest.raises(TLSError, match="does not use TLS"):
            call(s.address, trust=tls.client_tls(tls_files.ca))
        assert call(s.address)[0] == 0
    finally:
        s.stop()


def test_a_client_that_never_speaks_holds_a_tls_master_thread_no_longer_than_the_handshake_timeout(
        tls_master, tls_files, monkeypatch):
    import socket
    import time
    monkeypatch.setattr(tls, "HANDSHAKE_TIMEOUT", 0.5)
    with socket.create_connection(tls_master.address) as silent:
        silent.settimeout(10)
        start = time.monotonic()
        preface = silent.recv(4096)
        assert tls.PREFACE_TAG in preface
        assert silent.recv(4096) == b""  # the master gave up on us and closed
        assert time.monotonic() - start < 5


# --- real processes ------------------------------------------------------------------------

class Relay:
    """A TCP relay between workers and the master that keeps every byte it passes on, per
    connection and direction: what someone on the network between them would see."""

    def __init__(self, target):
        import socket
        import threading
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = self.server.getsockname()
        self.captures: list[dict[str, bytearray]] = []
        self.lock = threading.Lock()
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:  # the master has gone: so has the relay, for this worker
                client.close()
                continue
            capture = {"to_master": bytearray(), "to_worker": bytearray()}
            with self.lock:
                self.captures.append(capture)
                self.sockets += [client, upstream]
            for src, dst, key in ((client, upstream, "to_master"), (upstream, client, "to_worker")):
                threading.Thread(target=self._pump, args=(src, dst, capture[key]), daemon=True).start()

    def _pump(self, src, dst, buf):
        import socket
        while True:
            try:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    buf += data
                dst.sendall(data)
            except OSError:
                break
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self.server.close()
        for s in self.sockets:
            s.close()


@pytest.fixture(scope="module")
def small_site(tmp_path_factory):
    from devtools.sitegen import SiteSpec, generate_site

    from .procs import serve_slow
    root = tmp_path_factory.mktemp("tlssite")
    truth = generate_site(root, SiteSpec(pages=6, images=30, depth=2, max_image_bytes=8_000, seed=11))
    server, base_url = serve_slow(root, delay=0.1)  # slow enough that both workers join in time
    yield root, truth, base_url
    server.shutdown()
    server.server_close()


def start_master(procs, tmp_path, small_site, name, *extra, port=0):
    from .procs import wait_for
    _, truth, base_url = small_site
    seeds = tmp_path / f"{name}-seeds.txt"
    seeds.write_text(base_url + truth["start"] + "\n")
    out = tmp_path / name
    master = procs.start("master", str(seeds), "--listen", f"127.0.0.1:{port}", "--out", str(out), *extra,
                         env={"CRAWLER_AUTHKEY": KEY.decode()})
    lines = []

    def port():
        line = master.stdout.readline().decode()
        lines.append(line)
        assert line, "".join(lines)
        return int(line.rsplit(":", 1)[1]) if "master listening on" in line else None
    return master, wait_for(port, 20, "the master to listen", interval=0), out


def test_a_tls_crawl_with_two_workers_completes_and_the_network_sees_no_task(small_site, tls_files, tmp_path,
                                                                           procs):
    from .procs import check_complete, free_port, output
    root, truth, base_url = small_site
    port, out = free_port(), tmp_path / "out"
    relay = Relay(("127.0.0.1", port))
    try:
        # the workers first: they wait for the master, so both are there when the tasks come
        env = {"CRAWLER_AUTHKEY": KEY.decode()}
        workers = [procs.start("worker", "--connect", connect, "--tls-ca", str(tls_files.ca), "--out", str(out),
                               "--threads", "2", "--name", name, env=env)
                   for name, connect in (("w1", f"127.0.0.1:{port}"), ("w2", f"127.0.0.1:{relay.address[1]}"))]
        master, _, _ = start_master(procs, tmp_path, small_site, "out", "--tls-cert", str(tls_files.cert),
                                    "--tls-key", str(tls_files.key), port=port)
        log = output(master, 90)
        assert master.returncode == 0, log
        for w in workers:
            wlog = output(w, 20)
            assert w.returncode == 0 and "over TLS" in wlog, wlog
        recs = check_complete(out, root, truth, base_url)
        relayed = [r for r in recs if r["worker"] == "w2"]
        assert relayed, "the relayed worker did no work: the capture shows nothing"
    finally:
        relay.close()
    with relay.lock:
        captures = [{k: bytes(v) for k, v in c.items()} for c in relay.captures]
    # (a worker's last connections, as the master shut down, may have been answered by nobody)
    captures = [c for c in captures if c["to_worker"]]
    assert captures
    for c in captures:
        # the master's preface, then TLS records: a handshake (0x16) each way, then application data (0x17)
        assert c["to_worker"].startswith(tls.PREFACE_MESSAGE + b"\x16\x03")
        assert c["to_master"].startswith(b"\x16\x03")
    everything = b"".join(c["to_master"] + c["to_worker"] for c in captures)
    assert b"\x17\x03\x03" in everything
    assert b"http://" not in everything and base_url.encode() not in everything
    for rec in relayed:
        assert rec["url"].rsplit("/", 1)[1].encode() not in everything
    assert KEY not in everything


def test_every_tls_mismatch_is_its_own_exit_code_and_one_line(small_site, tls_files, tmp_path, procs):
    import trustme

    from .procs import output
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    _, plain_port, _ = start_master(procs, tmp_path, small_site, "plain")
    _, tls_port, _ = start_master(procs, tmp_path, small_site, "tls", "--tls-cert", str(tls_files.cert),
                                  "--tls-key", str(tls_files.key))
    env = {"CRAWLER_AUTHKEY": KEY.decode()}
    cases = {
        "tls worker, plaintext master": (["worker", "--connect", f"127.0.0.1:{plain_port}",
                                          "--tls-ca", str(tls_files.ca)], 8, "does not use TLS"),
        "plaintext worker, tls master": (["worker", "--connect", f"127.0.0.1:{tls_port}"], 8,
                                         "serves its queues over TLS"),
        "worker, wrong CA": (["worker", "--connect", f"127.0.0.1:{tls_port}", "--tls-ca", str(other_ca)], 8,
                             "did not verify"),
        "status, wrong CA": (["status", "--connect", f"127.0.0.1:{tls_port}", "--tls-ca", str(other_ca)], 8,
                             "did not verify"),
        "status, plaintext": (["status", "--connect", f"127.0.0.1:{tls_port}"], 8, "serves its queues over TLS"),
        "status, right CA": (["status", "--connect", f"127.0.0.1:{tls_port}", "--tls-ca", str(tls_files.ca)], 0,
                             "state:"),
    }
    started = {name: procs.start(*argv, "--out", str(tmp_path / "w"), env=env) for name, (argv, _, _) in cases.items()}
    for name, p in started.items():
        _, code, text = cases[name]
        log = output(p, 30)
        assert p.returncode == code and text in log and "Traceback" not in log, f"{name}: {log}"
        if code:
            assert len([line for line in log.splitlines() if "ERROR" in line]) == 1, f"{name}: {log}"
