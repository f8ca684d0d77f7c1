"""The downloader worker: lease tasks in batches, download with threads, report results.

One link thread (Session) talks to the master (all proxy calls happen there, so signals in the
main thread can never split a call from its reply); `threads` download threads (Downloaders)
take tasks from a local queue and put results in the Outbox, which the link thread delivers in
batches. Results not yet delivered survive a lost master and go out after reconnecting.

A fault of the worker's own is not the URL's: when its storage fails (full, over quota,
read-only, no permission) the task goes back to the master unrecorded, the worker hands back
every task it holds, says in one line what failed and where, and exits with
EXIT_WORKER_FAULT; another worker gets the tasks. So does a worker whose downloads fail with
internal errors MAX_INTERNAL_STREAK times in a row, rather than draining the queue.
"""

from __future__ import annotations

import logging
import threading

from ..config import WorkerConfig
from ..link.manager import MasterLink
from ..store import storage
from .control import Control
from .downloaders import Downloaders, WorkerStats
from .outbox import Outbox
from .session import Session
from .settings import CrawlSettings

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, cfg: WorkerConfig, authkey: bytes, *, reconnect_timeout: float = 60.0,
                 link: MasterLink | None = None):
        self.cfg = cfg
        self.stats = WorkerStats()
        self.control = Control()
        self.outbox = Outbox(self.control.activity)
        self.settings = CrawlSettings(cfg)
        self.downloaders = Downloaders(cfg, self.outbox, self.settings, self.control, self.stats)
        self.session = Session(cfg, link or MasterLink(cfg.address, authkey), reconnect_timeout=reconnect_timeout,
                               control=self.control, outbox=self.outbox, downloaders=self.downloaders,
                               settings=self.settings, stats=self.stats)

    def run(self) -> int:
        removed = storage.remove_partials(self.cfg.out)
        if removed:
            log.info("removed %d partial file(s) a previous worker left in %s", removed, self.cfg.out)
        self.downloaders.start()
        link_thread = threading.Thread(target=self.session.run, name="master-link", daemon=True)
        link_thread.start()
        while link_thread.is_alive():
            link_thread.join(0.2)  # the main thread stays free for signals
        self.downloaders.stop()
        return self.exit_code

    def request_stop(self) -> None:
        """Finish what is in flight, give back what was not started, deliver results, exit."""
        self.control.request_stop()

    @property
    def link(self) -> MasterLink:
        return self.session.link

    @property
    def limits(self) -> tuple[int, int]:
        """The fewest and the most downloads at once the worker has allowed so far."""
        return self.downloaders.limits

    @property
    def exit_code(self) -> int:
        return self.control.exit_code

    @property
    def error(self) -> str | None:
        """The one-line reason of a failed exit, or None."""
        return self.control.error
