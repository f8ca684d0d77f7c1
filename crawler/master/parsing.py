"""Where the master decodes and parses a fetched page: in the page thread that fetched it,
or, with `--page-processes N`, in a pool of N processes beside the master.

Parsing is mostly pure Python (bs4 builds a Python object per element), so in a thread it
holds the GIL that the manager's threads need to hand out tasks and the master's loop needs
to record results, and one core of it bounds the pages a master can take per second. In
processes it holds neither: the page thread sends the body and waits (without the GIL).

Starting the processes costs about 0.5 s of CPU, so they start only once the page threads
have spent START_AFTER_CPU seconds parsing: a small crawl never pays for them, a crawl of
real pages starts them after some 60 pages. Until they are up, the threads go on parsing.

They come from a fork server (multiprocessing's "forkserver"): a clean process started
once, which imports the parser and forks each of them. Forking the master itself would copy
whatever locks its running threads hold at that moment. They ignore Ctrl-C, which the
master handles for them (a clean stop), and each holds the reading end of a pipe only the
master writes to: when the master is gone, however it went (a second Ctrl-C, SIGKILL), the
pipe ends and so do they. When the master closes the pool it also stops and waits for the
fork server and multiprocessing's resource tracker, so that their CPU, and the pool's, is
counted in the master's (getrusage of its children), as a benchmark of the crawl counts it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext

from ..page import charset, extract

log = logging.getLogger(__name__)

START_AFTER_CPU = 2.0
"""Seconds of CPU the page threads spend parsing before the page processes start: four
times what starting them costs (an interpreter and the parser's imports, and
multiprocessing's resource tracker: 0.5 s of CPU in `crawler run` on the loopback
benchmark, which parses for about 0.5 s in all)."""


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
    finally:  # EOFError, or whatever else ends the wait: a process the master cannot reach has no use
        os._exit(0)


class PageParser:
    """parse() in the calling thread, or in up to `processes` processes once the threads have
    parsed for `start_after` seconds of CPU."""

    def __init__(self, processes: int = 0, start_after: float | None = None):
        self.processes = processes
        self.start_after = START_AFTER_CPU if start_after is None else start_after
        self._spent = 0.0             # CPU seconds the threads spent parsing, until the pool starts
        self._pool: ProcessPoolExecutor | None = None
        self._ready: Future | None = None  # done once a process of the pool is up
        self._closed = False
        self._lock = threading.Lock()
        self._pipe: tuple[Connection, Connection] | None = None  # (reading, writing end) of the master-alive pipe

    def parse(self, body: bytes, header_charset: str | None, base_url: str, srcset: str) -> extract.Extraction:
        pool, ready = self._pool, self._ready
        if pool is not None and ready is not None and ready.done():
            try:
                return pool.submit(parse_page, body, header_charset, base_url, srcset).result()
            except BrokenProcessPool:
                self._lost(pool)
        if not self.processes or pool is not None:
            return parse_page(body, header_charset, base_url, srcset)
        started = time.thread_time()
        try:
            return parse_page(body, header_charset, base_url, srcset)
        finally:
            self._count(time.thread_time() - started)

    def _count(self, spent: float) -> None:
        with self._lock:
            self._spent += spent
            if self._spent >= self.start_after and self._pool is None and not self._closed:
                self._start()

    def _start(self) -> None:
        """Start the pool (the lock is held); its processes come up while the threads parse on."""
        ctx: BaseContext
        if "forkserver" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["crawler.master.parsing"])  # imported once, in the fork server
        else:  # Windows: each process starts a fresh interpreter
            ctx = multiprocessing.get_context("spawn")
        self._pipe = pipe = ctx.Pipe(duplex=False)
        pool = ProcessPoolExecutor(self.processes, mp_context=ctx, initializer=_worker_init, initargs=(pipe[0],))
        self._ready = pool.submit(int)
        for _ in range(self.processes - 1):  # the pool starts a process per task waiting for one
            pool.submit(int)
        self._pool = pool
        log.info("pages are parsed in %d process(es) beside the master from now on (the page threads had "
                 "parsed for %.1f s of CPU)", self.processes, self._spent)

    def _lost(self, pool: ProcessPoolExecutor) -> None:
        """A process of the pool died (killed, out of memory): parse in the threads from now on."""
        with self._lock:
            if self._pool is not pool:
                return  # another thread saw it first
            self._pool, self._closed = None, True  # not started again
        log.error("a page-parsing process died; parsing pages in the master's threads from now on")
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the pool and wait for every process it needed; parse() then uses the thread."""
        with self._lock:
            pool, self._pool, self._closed = self._pool, None, True
            pipe, self._pipe = self._pipe, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if pipe is not None:
            for end in pipe:
                end.close()
            _reap_multiprocessing_helpers()


def _reap_multiprocessing_helpers() -> None:
    """Stop the fork server and the resource tracker, and wait for them. Private methods of
    multiprocessing (its own tests use them); where they are missing, the helpers exit when
    the master does, only their CPU goes uncounted."""
    from multiprocessing import forkserver, resource_tracker
    for helper in (getattr(forkserver, "_forkserver", None), getattr(resource_tracker, "_resource_tracker", None)):
        stop = getattr(helper, "_stop", None)
        if stop is not None:
            try:
                stop()
            except (OSError, ChildProcessError):
                pass
