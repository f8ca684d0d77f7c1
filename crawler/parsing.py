"""Where the master decodes and parses a fetched page: in the page thread that fetched it,
or, with `--page-processes N`, in a pool of N processes beside the master.

Parsing is mostly pure Python (bs4 builds a Python object per element), so in a thread it
holds the GIL that the manager's threads need to hand out tasks and the master's loop needs
to record results, and one core of it bounds the pages a master can take per second. In
processes it holds neither: the page thread sends the body and waits (without the GIL).

The pool's processes come from a fork server (multiprocessing's "forkserver"): a clean
process started once, which imports the parser and forks each worker. Forking the master
itself would copy whatever locks its running threads hold at that moment. The workers
ignore Ctrl-C, which the master handles for them (a clean stop), and each holds the reading
end of a pipe only the master writes to: when the master is gone, however it went (a second
Ctrl-C, SIGKILL), the pipe ends and so do they.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from . import charset, extract

log = logging.getLogger(__name__)


def parse_page(body: bytes, header_charset: str | None, base_url: str, srcset: str) -> extract.Extraction:
    """The one way a fetched page becomes links and images: decoded by charset.decode_html
    (as `crawler extract` decodes a file), then extract.extract. Never raises."""
    return extract.extract(charset.decode_html(body, header_charset), base_url, srcset=srcset)


def _worker_init(master_alive) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_master, args=(master_alive,), daemon=True).start()


def _exit_with_master(master_alive) -> None:
    try:
        master_alive.recv()  # nothing is ever sent: this returns when the master's end closes
    except (EOFError, OSError):
        pass
    os._exit(0)


class PageParser:
    """parse() in the calling thread (processes=0) or in a pool of processes."""

    def __init__(self, processes: int = 0):
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._alive = None
        self._lock = threading.Lock()
        if processes > 0:
            if "forkserver" in multiprocessing.get_all_start_methods():
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(["crawler.parsing"])  # imported once, in the fork server
            else:  # Windows: each process starts a fresh interpreter
                ctx = multiprocessing.get_context("spawn")
            alive_r, self._alive = ctx.Pipe(duplex=False)
            self._pool = ProcessPoolExecutor(processes, mp_context=ctx, initializer=_worker_init, initargs=(alive_r,))
            self._alive_r = alive_r  # kept for processes the pool starts later (it starts them as work comes)

    def parse(self, body: bytes, header_charset: str | None, base_url: str, srcset: str) -> extract.Extraction:
        pool = self._pool
        if pool is not None:
            try:
                return pool.submit(parse_page, body, header_charset, base_url, srcset).result()
            except BrokenProcessPool:
                self._lost(pool)
        return parse_page(body, header_charset, base_url, srcset)

    def _lost(self, pool: ProcessPoolExecutor) -> None:
        """A worker of the pool died (killed, out of memory): parse in threads from now on."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
                log.error("a page-parsing process died; parsing pages in the master's threads from now on")
                pool.shutdown(wait=False, cancel_futures=True)

    def warm(self) -> None:
        """Start the pool's processes now, not when the first page waits for them."""
        if self._pool is not None:
            for _ in range(self.processes):
                self._pool.submit(int)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if self._alive is not None:
            self._alive.close()
            self._alive_r.close()
            self._alive = None
