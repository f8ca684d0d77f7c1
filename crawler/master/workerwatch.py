"""What the master tells the user about its workers, beyond the board's own bookkeeping:
which stopped on a fault of their own (and why), and when none is left for what waits.

A master with remote workers keeps waiting when they are all gone: one can be started again
(after freeing space on its disk, say) and the crawl goes on; Ctrl-C stops it and the same
command resumes. So it says why nothing moves, once, rather than ending by itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .board import TaskBoard

log = logging.getLogger("crawler.master")

GONE_SECONDS = 15.0
"""A worker silent for this long no longer counts as connected (a live one calls every 5 s at least)."""


class WorkerWatch:
    def __init__(self, board: TaskBoard, clock: Callable[[], float] = time.monotonic):
        self.board = board
        self._clock = clock
        self._alone_since: float | None = None  # since when no worker is connected; -1: said so

    def connected(self) -> int:
        """Workers heard from lately that have not stopped on a fault."""
        now, faults = self._clock(), self.board.faults()
        return sum(1 for w, t in list(self.board.workers.items())
                   if now - t < GONE_SECONDS and w not in faults and w != "anonymous")

    def tick(self) -> None:
        """Log each worker that stopped on a fault, and say once when none is left while images wait."""
        for worker, why in self.board.take_faults():
            log.warning("worker %s stopped: %s (its tasks go to the other workers)", worker, why)
        if self.connected():
            self._alone_since = None
            return
        pending, leased = self.board.counts()
        if not pending or leased or not self.board.workers:
            return
        now = self._clock()
        if self._alone_since is None:  # a worker's restart takes a moment: say so only if it lasts
            self._alone_since = now
        elif 0 <= self._alone_since < now - GONE_SECONDS:
            self._alone_since = -1.0
            stops = "; ".join(f"{w}: {why}" for w, why in self.board.faults().items())
            log.warning("no worker is left for the %d image(s) that wait%s; start a worker, or stop with "
                        "Ctrl-C (the same command resumes)", pending, f" ({stops})" if stops else "")
