"""Helpers for tests that start real crawler processes and servers."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from crawler.store import manifest

ENV_BASE = {k: v for k, v in os.environ.items() if not k.startswith("CRAWLER_")}


class Procs:
    """Starts crawler subprocesses in their own sessions and reaps them all at teardown."""

    def __init__(self):
        self.started: list[subprocess.Popen] = []

    def start(self, *args: str, env: dict | None = None, cwd: Path | None = None,
              prefix: tuple[str, ...] = ()) -> subprocess.Popen:
        """`python -m crawler ARGS`, or `PREFIX python ...` (e.g. `ip netns exec NS`, which execs)."""
        p = subprocess.Popen([*prefix, sys.executable, "-m", "crawler", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, env={**ENV_BASE, **(env or {})}, cwd=cwd,
                             start_new_session=True)
        self.started.append(p)
        return p

    def cleanup(self) -> None:
        for p in self.started:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.wait()
            if p.stdout:
                p.stdout.close()


def output(p: subprocess.Popen, timeout: float) -> str:
    out, _ = p.communicate(timeout=timeout)
    return out.decode(errors="replace")


def read_until(p: subprocess.Popen, text: str, timeout: float) -> str:
    """Read p's output until a line holds `text`; returns all that was read (the rest is left
    for output(); read from the descriptor, so do not mix with p.stdout.readline()). Fails
    after `timeout` s, or when p's output ends first."""
    import select
    import time
    deadline = time.monotonic() + timeout
    fd = p.stdout.fileno()
    got = b""
    while text.encode() not in got[:got.rfind(b"\n") + 1]:  # in a whole line
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {text!r} in the output:\n" + got.decode(errors="replace"))
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"the output ended before {text!r}:\n" + got.decode(errors="replace"))
            got += chunk
    return got.decode(errors="replace")


def records(out: Path) -> list[dict]:
    return list(manifest.read(out / "manifest.jsonl"))


def write_file(root: Path, rel: str, data: bytes | str) -> None:
    """A file of a test site, its folders made."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def crawl(procs: Procs, tmp_path: Path, seed: str, *flags: str, workers: int = 1, name: str = "out",
          code: int = 0) -> tuple[dict[str, dict], str, Path]:
    """`crawler run` from one seed into tmp_path/name, expecting exit `code`: (manifest records
    by URL, the log, the output folder)."""
    seeds = tmp_path / f"{name}.txt"
    seeds.write_text(seed + "\n")
    out = tmp_path / name
    p = procs.start("run", str(seeds), "--workers", str(workers), "--out", str(out), "--timeout", "5", *flags)
    log = output(p, 100)
    assert p.returncode == code, log
    return {r["url"]: r for r in records(out)}, log, out


def check_complete(out: Path, site_root: Path, truth: dict, base_url: str) -> list[dict]:
    """Every truth image is in the manifest exactly once as ok, byte-identical; no partial file."""
    from urllib.parse import quote
    recs = records(out)
    by_url: dict[str, list[dict]] = {}
    for rec in recs:
        by_url.setdefault(rec["url"], []).append(rec)
    for rel, sha in truth["images"].items():
        url = base_url + quote(rel, safe="/-._~")
        got = by_url.get(url, [])
        assert len(got) == 1, f"{url}: {len(got)} manifest lines"
        rec = got[0]
        assert rec["ok"], f"{url}: {rec['error']}"
        assert hashlib.sha256((out / rec["path"]).read_bytes()).hexdigest() == sha, url
    assert len(by_url) == len(recs), "a URL appears twice in the manifest"
    partials = [p for p in out.rglob("*") if p.name.endswith(".crawler-part")]
    assert not partials, partials
    return recs


def pids_alive(recs: list[dict]) -> list[int]:
    alive = []
    for pid in {int(r["worker"].rsplit(":", 1)[1]) for r in recs if r.get("worker")}:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        # a zombie or a recycled pid that is not ours does not count
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"crawler" in cmd:
            alive.append(pid)
    return alive


def serve_slow(root: Path, delay: float):
    """Serve root on 127.0.0.1:0 with `delay` seconds per request, as a remote site would be."""
    import threading

    from .slow_server import make_server

    server = make_server(str(root), delay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def free_port() -> int:
    """A port the OS picks, for a master that must come back on the same address."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def manifest_lines(out: Path) -> int:
    try:
        return (out / "manifest.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


class Recorder:
    """What a test server saw: (start time, host, path) of every request and peak concurrency per host.

    A request is in flight from its arrival (`begin`) until just before the last byte of its
    answer is handed to the socket (`end`): a client cannot have the whole answer, and so
    cannot have freed its slot and asked again, before `end` has run. Counted until after the
    last byte instead, a next request could arrive before the server thread got back to
    `end`, and the peak read one above a limit the crawler kept (2 of 20 runs of the per-host
    test under load, when the exact count never passed the limit).
    """

    def __init__(self):
        import threading
        self.lock = threading.Lock()
        self.requests: list[tuple[float, str, str]] = []
        self.in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    def begin(self, host: str, path: str) -> None:
        import time
        with self.lock:
            self.requests.append((time.monotonic(), host, path))
            self.in_flight[host] = self.in_flight.get(host, 0) + 1
            self.peak[host] = max(self.peak.get(host, 0), self.in_flight[host])

    def end(self, host: str) -> None:
        with self.lock:
            self.in_flight[host] -= 1

    def paths(self) -> list[str]:
        with self.lock:
            return [p for _, _, p in self.requests]


def serve_recorded(root: Path, recorder: Recorder, *, host: str = "127.0.0.1", delay: float = 0.0,
                   routes: dict | None = None):
    """Serve root (plus scripted `routes`: path -> list of (status, headers, body), one per hit,
    the last repeating; read as requests come, so routes may be added once the port is known)
    on host:0, recording every request."""
    import io
    import threading
    import time
    from functools import partial

    from crawler.cli.demo import QuietHandler, StaticServer

    routes = routes if routes is not None else {}

    class Handler(QuietHandler):
        def do_GET(self):
            name = self.headers.get("Host", "").rsplit(":", 1)[0]
            recorder.begin(name, self.path)
            wire, self.wfile = self.wfile, io.BytesIO()  # the whole answer, to send as Recorder says
            try:
                time.sleep(delay)
                script = routes.get(self.path.split("?")[0])
                if script is None:
                    return super().do_GET()
                status, headers, body = script.pop(0) if len(script) > 1 else script[0]
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            finally:
                answer, self.wfile = self.wfile.getvalue(), wire
                try:
                    wire.write(answer[:-1])
                finally:
                    recorder.end(name)
                wire.write(answer[-1:])

    server = StaticServer((host, 0), partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}/"
