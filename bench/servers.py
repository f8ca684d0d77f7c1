"""The benchmark's HTTP servers, each in its own process (so the server never shares a GIL
with the crawler being measured or with the process measuring it), on 127.0.0.1 only.

- `start_nginx(root)`: nginx (if installed) with a minimal config in a temp folder.
- `start_python(root)`: the project's threaded `crawler.cli.demo.serve_directory`, in a child process.
- `start_delay(root, delay, jitter=0)`: a small asyncio HTTP/1.1 keep-alive static file
  server that holds every response (200 or 404) for `delay` seconds, as a distant server
  would; with `jitter`, for a seeded uniform draw from `delay ± jitter` seconds.

Each returns a `Server` with `.base_url` ("http://127.0.0.1:PORT/"), `.kind` and `.stop()`.

    python bench/servers.py SITE_ROOT [--delay 0.05] [--jitter 0] [--port 0]   # the delay server, by hand
"""

from __future__ import annotations

import argparse
import asyncio
import json
import mimetypes
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


@dataclass
class Server:
    base_url: str
    kind: str
    _stop: Callable[[], None] = field(repr=False, default=lambda: None)

    def stop(self) -> None:
        self._stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(url: str, timeout: float = 10.0, proc=None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                r.read()
                return
        except Exception as exc:  # not listening yet
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not come up: {last}")


# --- nginx -------------------------------------------------------------------------------

def find_nginx(install: bool = False) -> str | None:
    for c in (shutil.which("nginx"), *NGINX_CANDIDATES):
        if c and os.access(c, os.X_OK):
            return c
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        print("nginx not found: trying apt-get install -y nginx (once)", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "nginx"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=300, check=False)
        return find_nginx(install=False)
    return None


NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include {mime};
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout 75s;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ }}
    }}
}}
"""


def start_nginx(root: Path, binary: str) -> Server:
    tmp = tempfile.mkdtemp(prefix="bench-nginx-")
    port = free_port()
    mime = next((p for p in ("/etc/nginx/mime.types", "/usr/local/nginx/conf/mime.types") if os.path.exists(p)), None)
    if mime is None:  # write the few types the site needs
        mime = os.path.join(tmp, "mime.types")
        Path(mime).write_text("types { text/html html; image/jpeg jpg jpeg; image/png png; image/gif gif; "
                              "image/bmp bmp; application/json json; }\n")
    conf = os.path.join(tmp, "nginx.conf")
    Path(conf).write_text(NGINX_CONF.format(tmp=tmp, mime=mime, port=port, root=Path(root).resolve()))
    proc = subprocess.Popen([binary, "-c", conf, "-p", tmp, "-e", os.path.join(tmp, "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    try:
        _wait_up(base + "index.html", proc=proc)
    except Exception:
        stop()
        raise
    return Server(base, f"nginx ({binary})", stop)


# --- the project's threaded Python server, in a child process ----------------------------

def _python_server_main(root: str, conn) -> None:
    from crawler.cli.demo import serve_directory
    server, base = serve_directory(Path(root))
    conn.send(base)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def start_python(root: Path) -> Server:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_python_server_main, args=(str(root), child), daemon=True)
    proc.start()
    if not parent.poll(30):
        proc.terminate()
        raise RuntimeError("the Python server did not start")
    base = parent.recv()
    _wait_up(base + "index.html")

    def stop() -> None:
        proc.terminate()
        proc.join(10)

    return Server(base, "python threaded server (crawler.cli.demo.serve_directory)", stop)


# --- the delaying asyncio server -----------------------------------------------------------

class DelayServer:
    """HTTP/1.1 GET/HEAD of static files under root, keep-alive, every response delayed:
    `delay` seconds, or with `jitter`, a seeded uniform draw from delay ± jitter."""

    def __init__(self, root: Path, delay: float, log_path: Path | None = None, jitter: float = 0.0, seed: int = 1):
        self.root = Path(root).resolve()
        self.delay = delay
        self.jitter = min(jitter, delay)
        self._random = random.Random(seed)
        # with log_path, when each request arrived and its answer was handed to the socket
        # (time.monotonic), appended there as JSON lines `[arrived, sent]` every 0.2 s
        # (bench/delay_timeline.py and bench/run.py read them with read_log)
        self.log_path = log_path
        self.held: list[tuple[float, float]] = []
        self._logged = 0

    def _resolve(self, target: str) -> Path | None:
        path = unquote(urlsplit(target).path, errors="strict")
        if not path.startswith("/") or "\x00" in path:
            return None
        candidate = (self.root / path.lstrip("/")).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            return None
        if candidate.is_dir():
            candidate = candidate / "index.html"
        return candidate if candidate.is_file() else None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                arrived = asyncio.get_running_loop().time()
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3:
                    await self._send(writer, 400, b"bad request\n", "text/plain", False, True)
                    return
                method, target, version = parts
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0") or 0)
                if length:
                    await reader.readexactly(length)
                conn = headers.get("connection", "").lower()
                keep = (version == "HTTP/1.1" and conn != "close") or (version == "HTTP/1.0" and conn == "keep-alive")
                # The answer is prepared first and sent when `delay` has passed since the request
                # arrived, so that the delay is what the scenario says (a distant server), not
                # that plus this server's own work under load.
                loop = asyncio.get_running_loop()
                due = arrived + (self._random.uniform(self.delay - self.jitter, self.delay + self.jitter)
                                 if self.jitter else self.delay)
                if method not in ("GET", "HEAD"):
                    answer = (405, b"method not allowed\n", "text/plain")
                else:
                    try:
                        path = self._resolve(target)
                    except UnicodeDecodeError:
                        path = None
                    if path is None:
                        answer = (404, b"not found\n", "text/plain")
                    else:
                        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                        if ctype.startswith("text/"):
                            ctype += "; charset=utf-8"
                        answer = (200, path.read_bytes(), ctype)
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._send(writer, answer[0], answer[1], answer[2], method == "HEAD", keep, arrived)
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def _send(self, writer, status: int, body: bytes, ctype: str, head_only: bool, keep: bool,
                    arrived: float | None = None) -> None:
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}[status]
        hdr = (f"HTTP/1.1 {status} {reason}\r\nServer: bench-delay\r\nDate: {formatdate(usegmt=True)}\r\n"
               f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
               f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n").encode("latin-1")
        if self.log_path is not None:
            # noted before the write: noted after drain(), the client could already hold the
            # answer, and the server's own start-up check then counted as a crawl's answer
            now = time.monotonic()  # the loop's clock is time.monotonic() too
            self.held.append((now if arrived is None else arrived, now))
        writer.write(hdr if head_only else hdr + body)
        await writer.drain()

    async def _dump_log(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            new = self.held[self._logged:]
            if new:  # appended, not rewritten: a long benchmark's log would cost the loop more and more
                with open(self.log_path, "a") as f:
                    f.write("".join(json.dumps(entry) + "\n" for entry in new))
                self._logged += len(new)

    async def serve(self, port: int, ready=None) -> None:
        server = await asyncio.start_server(self.handle, "127.0.0.1", port, backlog=512)
        if self.log_path is not None:
            asyncio.get_running_loop().create_task(self._dump_log())
        if ready is not None:
            ready.send(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()


def read_log(path: Path) -> list[tuple[float, float]]:
    """A delay server's log: (arrived, sent) of every answer, in the order sent."""
    return [tuple(json.loads(line)) for line in Path(path).read_text().splitlines() if line.strip()]


def load_between(held: list, start: float, end: float) -> dict:
    """From a delay server's log: the requests answered between start and end (monotonic)
    and the most that were in the server's hands at once."""
    spans = [(a, s) for a, s in held if start <= s <= end]
    events = sorted([(a, 1) for a, _ in spans] + [(s, -1) for _, s in spans])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return {"requests": len(spans), "peak_in_flight": peak}


def _delay_main(root: str, delay: float, port: int, conn, log_path: str | None = None, jitter: float = 0.0) -> None:
    try:
        asyncio.run(DelayServer(Path(root), delay, Path(log_path) if log_path else None, jitter).serve(port, conn))
    except KeyboardInterrupt:
        pass


def start_delay(root: Path, delay: float = 0.05, log_path: Path | None = None, jitter: float = 0.0) -> Server:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_delay_main, args=(str(root), delay, 0, child, str(log_path) if log_path else None,
                                                 jitter), daemon=True)
    proc.start()
    if not parent.poll(30):
        proc.terminate()
        raise RuntimeError("the delay server did not start")
    port = parent.recv()
    base = f"http://127.0.0.1:{port}/"
    _wait_up(base + "index.html")

    def stop() -> None:
        proc.terminate()
        proc.join(10)

    held = (f"+{(delay - jitter) * 1000:.0f} to {(delay + jitter) * 1000:.0f} ms (uniform, seeded)" if jitter
            else f"+{delay * 1000:.0f} ms")
    return Server(base, f"asyncio keep-alive server, {held} per response (bench/servers.py)", stop)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path)
    ap.add_argument("--delay", type=float, default=0.05)
    ap.add_argument("--jitter", type=float, default=0.0)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()

    class Print:
        def send(self, port):
            print(f"serving {a.root} at http://127.0.0.1:{port}/ (+{a.delay * 1000:.0f} ms"
                  f"{f' ± {a.jitter * 1000:.0f} ms' if a.jitter else ''})", flush=True)

    try:
        asyncio.run(DelayServer(a.root, a.delay, jitter=a.jitter).serve(a.port, Print()))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
