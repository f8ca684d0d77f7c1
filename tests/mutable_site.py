"""A web site a test changes between crawls, answering conditional requests as nginx does.

Files live in a dict (path -> body); each answer carries an ETag (a hash of the body, in
quotes) and a Last-Modified (when the test last set that file). If-None-Match wins over
If-Modified-Since (RFC 9110 13.2.2); a match is a 304 with the validators and no body.
Every request is recorded as (path, status, request headers), so a test asserts on what
the server saw, not on what the crawler says it did.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from email.utils import formatdate, parsedate_to_datetime

TYPES = {".html": "text/html; charset=utf-8", ".png": "image/png", ".jpg": "image/jpeg", ".xml": "application/xml",
         ".gz": "application/gzip", ".txt": "text/plain"}


class MutableSite:
    def __init__(self, delay: float = 0.0, delay_prefix: str = "/img/"):
        self.files: dict[str, tuple[bytes, float]] = {}  # path -> (body, modified)
        self.log: list[list] = []  # [path, status (None until answered), request headers]
        self.lock = threading.Lock()
        self.delay = delay  # seconds per answer to paths under delay_prefix
        self.delay_prefix = delay_prefix
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self):
                path = self.path.split("?")[0]
                entry = [path, None, dict(self.headers)]  # recorded as it arrives, its status once answered
                with site.lock:
                    site.log.append(entry)
                if site.delay and path.startswith(site.delay_prefix):
                    time.sleep(site.delay)
                status, headers, body = site.answer(path, self.headers)
                entry[1] = status
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda *args: None
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def put(self, path: str, body: bytes | str) -> None:
        self.files[path] = (body.encode() if isinstance(body, str) else body, time.time())

    def delete(self, path: str) -> None:
        del self.files[path]

    def answer(self, path: str, headers) -> tuple[int, dict, bytes]:
        found = self.files.get(path)
        if found is None:
            return 404, {"Content-Type": "text/plain"}, b"not here"
        body, modified = found
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        validators = {"ETag": etag, "Last-Modified": formatdate(modified, usegmt=True)}
        if_none_match = headers.get("If-None-Match")
        if if_none_match is not None:
            if etag in [t.strip() for t in if_none_match.split(",")]:
                return 304, validators, b""
        elif headers.get("If-Modified-Since"):
            try:
                since = parsedate_to_datetime(headers["If-Modified-Since"]).timestamp()
            except (TypeError, ValueError):
                since = None
            if since is not None and int(modified) <= since:
                return 304, validators, b""
        ext = "." + path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
        return 200, {**validators, "Content-Type": TYPES.get(ext, "application/octet-stream")}, body

    def seen(self, since: int = 0) -> list[tuple[str, int]]:
        """(path, status) of every request from the `since`th on."""
        with self.lock:
            return [(p, s) for p, s, _ in self.log[since:]]

    def mark(self) -> int:
        with self.lock:
            return len(self.log)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
