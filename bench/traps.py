"""The traps real sites have, added to the benchmark's site for every run, so that speed is
always measured with them:

- a dead link on the site's own host name: a page at another port where nothing listens
  (on the web: `https://` of a host that serves only `http://`, or a retired port);
- an image host that refuses connections (a CDN that is gone), on another loopback address;
- an origin on the site's host name whose robots.txt answers 503 (with `Retry-After: 1`)
  for a while, `ROBOTS_503_SECONDS` after its first robots.txt request, and then allows
  everything: its images and its page must be crawled once it does.

`Traps(site_root, host)` is a context manager for one run: it binds the dead ports (bound,
never listening: every connection is refused, and no other program can take them meanwhile),
starts the robots.txt origin in its own process (no GIL shared with the crawler or the
measuring process), and writes `traps.html` into the site's root: the start page of the run,
which links the traps and then the site's own `index.html`. `check(manifest records)` says
what the crawler got wrong about them.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools import imagegen  # noqa: E402

PAGE = "traps.html"
ROBOTS_503_SECONDS = 0.5
RETRY_AFTER = 1
REFUSING_HOST = "127.0.0.2"  # another loopback address: another host name for the crawl
IMAGES = 5                   # on the robots.txt origin, linked from the trap page
PAGE_IMAGES = 3              # on the robots.txt origin's own page
DEAD_IMAGES = 3              # on the refusing host


def origin_images() -> dict[str, bytes]:
    """What the robots.txt origin serves: path -> PNG bytes (deterministic)."""
    return {f"/cdn/{i}.png": imagegen.png(24, 24, 500 + i) for i in range(IMAGES + PAGE_IMAGES)}


class _Origin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    images: dict[str, bytes] = {}
    first_robots: list[float] = []  # when robots.txt was first asked for (one per server process)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/robots.txt":
            now = time.monotonic()
            if not self.first_robots:
                self.first_robots.append(now)
            if now - self.first_robots[0] < ROBOTS_503_SECONDS:
                return self._answer(503, b"busy, come back soon\n", "text/plain", {"Retry-After": str(RETRY_AFTER)})
            return self._answer(200, b"User-agent: *\nAllow: /\n", "text/plain")
        if path == "/more.html":
            imgs = "".join(f'<img src="/cdn/{IMAGES + i}.png" alt="">' for i in range(PAGE_IMAGES))
            return self._answer(200, f"<!DOCTYPE html><title>more</title>{imgs}".encode(), "text/html; charset=utf-8")
        if path in self.images:
            return self._answer(200, self.images[path], "image/png")
        return self._answer(404, b"not found\n", "text/plain")

    def _answer(self, status: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass


def _origin_main(host: str, conn) -> None:
    _Origin.images = origin_images()
    server = _Server((host, 0), _Origin)
    conn.send(server.server_address[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conn.recv()  # anything, or the pipe closing: stop
    except (EOFError, KeyboardInterrupt):
        pass


class Traps:
    def __init__(self, site_root: Path, host: str = "127.0.0.1"):
        self.site_root = Path(site_root)
        self.host = host
        self._held: list[socket.socket] = []
        self._proc = None
        self._conn = None

    def _refusing_port(self, host: str) -> int:
        s = socket.socket()
        s.bind((host, 0))
        self._held.append(s)
        return s.getsockname()[1]

    def __enter__(self) -> Traps:
        try:
            self.dead_page = f"http://{self.host}:{self._refusing_port(self.host)}/retired/index.html"
            dead = f"http://{REFUSING_HOST}:{self._refusing_port(REFUSING_HOST)}"
            self.dead_images = [f"{dead}/cdn/gone-{i}.jpg" for i in range(DEAD_IMAGES)]
            ctx = multiprocessing.get_context("spawn")
            self._conn, child = ctx.Pipe()
            self._proc = ctx.Process(target=_origin_main, args=(self.host, child), daemon=True)
            self._proc.start()
            if not self._conn.poll(30):
                raise RuntimeError("the robots.txt trap origin did not start")
            self.origin = f"http://{self.host}:{self._conn.recv()}"
            self.images = {self.origin + path: hashlib.sha256(data).hexdigest()
                           for path, data in origin_images().items()}
            self._write_page()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _write_page(self) -> None:
        links = [f'<a href="{self.dead_page}">our old gallery</a>', f'<a href="{self.origin}/more.html">more</a>',
                 *(f'<img src="{self.origin}/cdn/{i}.png" alt="">' for i in range(IMAGES)),
                 *(f'<img src="{u}" alt="">' for u in self.dead_images),
                 '<a href="index.html">the site</a>']
        page = self.site_root / PAGE
        tmp = page.with_name(f"{PAGE}.{os.getpid()}.tmp")
        tmp.write_text("<!DOCTYPE html><title>traps</title>\n" + "\n".join(links) + "\n", encoding="utf-8")
        os.replace(tmp, page)

    def __exit__(self, *exc) -> None:
        if self._conn is not None:
            try:
                self._conn.send("stop")
            except OSError:
                pass
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            self._proc.join(10)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join()
            self._proc = None
        for s in self._held:
            s.close()
        self._held.clear()

    def check(self, recs: dict[str, dict], out: Path) -> list[str]:
        """What our crawler got wrong about the traps, from its manifest (url -> record)."""
        problems = []
        for url in self.dead_images:
            rec = recs.get(url)
            if rec is None or rec.get("ok") or rec.get("reason") != "unreachable":
                problems.append(f"refusing host {url}: " + ("not in the manifest" if rec is None else
                                                            f"ok={rec.get('ok')} reason={rec.get('reason')}"))
        for url, sha in self.images.items():
            rec = recs.get(url)
            if rec is None or not rec.get("ok"):
                problems.append(f"robots.txt 503 origin {url}: " + ("not in the manifest" if rec is None else
                                                                   f"failed, reason {rec.get('reason')}"))
                continue
            try:
                got = hashlib.sha256((out / rec["path"]).read_bytes()).hexdigest()
            except OSError:
                got = None
            if got != sha:
                problems.append(f"robots.txt 503 origin {url}: stored bytes differ")
        return problems
