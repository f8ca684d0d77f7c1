"""`crawler demo`: serve the bundled demo site on 127.0.0.1 and crawl it with local workers."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..config import MANIFEST_NAME, CrawlConfig
from ..errors import CrawlerError
from ..link import authkey
from ..store import manifest
from .launch import run_local

log = logging.getLogger(__name__)

# The demo site ships inside the package (pyproject's package-data), so an installed wheel
# has it; devtools/sitegen.py made it and a test keeps it equal to a fresh generation.
DEMO_SITE = Path(__file__).resolve().parent / "demosite"


class QuietHandler(SimpleHTTPRequestHandler):
    """A static file handler that logs nothing and keeps connections alive."""

    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without this every response waits ~40 ms
    # for a delayed ACK (Nagle), which would make the demo and the tests measure nothing else
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass


class StaticServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client hanging up early is not news


def serve_directory(root: Path) -> tuple[StaticServer, str]:
    """Serve root on 127.0.0.1 at a port the OS picks; returns the server and its base URL."""
    server = StaticServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, name="demo-http", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def check_against_truth(out: Path, truth: dict, base_url: str) -> tuple[int, int, list[str]]:
    """(stored byte-identical, expected, problems) for the demo's ground truth."""
    by_url = {rec["url"]: rec for rec in manifest.read(out / MANIFEST_NAME)}
    good, problems = 0, []
    for rel, sha in truth["images"].items():
        rec = by_url.get(base_url + _quote(rel))
        if rec is None or not rec["ok"]:
            problems.append(f"{rel}: {'missing from the manifest' if rec is None else rec['error']}")
            continue
        if hashlib.sha256((out / rec["path"]).read_bytes()).hexdigest() != sha:
            problems.append(f"{rel}: stored bytes differ from the source")
            continue
        good += 1
    return good, len(truth["images"]), problems


def _quote(rel: str) -> str:
    from urllib.parse import quote
    return quote(rel, safe="/-._~")


def run_demo(out: Path, *, worker_main: Callable[[list[str]], int], workers: int = 2,
             verbosity: list[str] | None = None) -> int:
    """Serve the demo site, crawl it with `workers` local workers (each runs worker_main, the
    command line's main) and check what was stored against the site's truth."""
    root = DEMO_SITE
    try:
        truth = json.loads((root / "truth.json").read_text(encoding="utf-8"))
    except OSError as exc:
        raise CrawlerError(f"the bundled demo site is missing from this installation: {exc}") from None
    server, base_url = serve_directory(root)
    try:
        log.info("serving the demo site from %s at %s", root, base_url)
        cfg = CrawlConfig(seeds=(base_url + truth["start"],), out=out)
        key, source = authkey.master_key(out, None)
        # the demo's port changes every run, so an earlier demo crawl is never resumed
        code = run_local(cfg, key, source, ("127.0.0.1", 0), workers=workers, threads=4,
                         verbosity=verbosity or [], worker_main=worker_main, fresh=True)
        good, expected, problems = check_against_truth(out, truth, base_url)
        for problem in problems:
            log.error("demo: %s", problem)
        log.info("demo: %d of %d reachable images stored byte-identical under %s", good, expected, out)
        return code if good == expected else 1
    finally:
        server.shutdown()
        server.server_close()
