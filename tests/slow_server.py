"""A static file server with a delay per request, runnable in another network namespace.

    python tests/slow_server.py ROOT DELAY HOST PORT      (prints "ready" when listening)
"""

import sys
import threading
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler.cli.demo import QuietHandler, StaticServer  # noqa: E402


def make_server(root: str, delay: float, host: str = "127.0.0.1", port: int = 0) -> StaticServer:
    class Slow(QuietHandler):
        def do_GET(self):
            time.sleep(delay)
            super().do_GET()

    return StaticServer((host, port), partial(Slow, directory=root))


if __name__ == "__main__":
    root, delay, host, port = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    server = make_server(root, delay, host, port)
    print("ready", flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        threading.Event().wait(600)  # a test server never outlives a test run
    finally:
        server.server_close()
