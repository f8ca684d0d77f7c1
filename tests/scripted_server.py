"""An HTTP server on 127.0.0.1 that answers each path as a test scripts it."""

import http.server
import threading
import time

import pytest


class Script:
    """What the server answers: path -> (status, headers, body, delay seconds, send length,
    stall after this many body bytes: send them, then say nothing until the test ends)."""

    def __init__(self):
        self.routes: dict[str, tuple[int, dict, bytes, float, bool, int | None]] = {}
        self.seen: list[tuple[str, dict, int]] = []  # path, headers, the client's port (one per connection)
        self.idle_timeout: float | None = None  # close a keep-alive connection idle this long
        self.release = threading.Event()  # ends every stall

    def add(self, path, body=b"", status=200, headers=None, delay=0.0, length=True, stall_after=None):
        self.routes[path] = (status, dict(headers or {}), body, delay, length, stall_after)


@pytest.fixture
def server():
    script = Script()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            self.timeout = script.idle_timeout
            super().setup()

        def do_GET(self):
            script.seen.append((self.path, dict(self.headers), self.client_address[1]))
            status, headers, body, delay, length, stall_after = script.routes.get(
                self.path, (404, {}, b"not here", 0.0, True, None))
            time.sleep(delay)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if length:
                self.send_header("Content-Length", str(len(body)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if stall_after is not None:
                body = body[:stall_after]
            try:
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up reading, as it should past a cap
            if stall_after is not None:
                self.wfile.flush()
                script.release.wait(10)
                self.close_connection = True

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.handle_error = lambda *args: None  # a client that hangs up early (past a cap) is no news
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    script.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    script.httpd = httpd
    yield script
    script.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


