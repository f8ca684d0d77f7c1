"""Downloaders: the worker's download threads. They take leased tasks from a local queue, as
many at once as `concurrency.DownloadGate` allows (all --threads for a distant server, as few
as 2 for a fast one, where more would only queue for the GIL), and hand each result to the
Outbox. A fault of the worker's own (its storage; MAX_INTERNAL_STREAK internal errors in a row)
stops the worker rather than failing URL after URL."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field

from ..config import WorkerConfig
from ..net import fetch
from ..rules import urls
from ..rules.concurrency import DownloadGate
from ..store import storage
from .control import Control
from .imagedownload import download
from .outbox import Outbox
from .settings import CrawlSettings

log = logging.getLogger(__name__)

MAX_INTERNAL_STREAK = 10  # downloads failing with internal errors in a row before the worker stops


@dataclass
class WorkerStats:
    ok: int = 0
    failed: int = 0
    bytes: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    calls: int = 0  # round trips to the master
    handed_back: int = 0  # tasks given back undone (stopping on a signal or a fault of its own)


class Downloaders:
    def __init__(self, cfg: WorkerConfig, outbox: Outbox, settings: CrawlSettings, control: Control,
                 stats: WorkerStats):
        self.cfg, self.outbox, self.settings, self.control, self.stats = cfg, outbox, settings, control, stats
        self.queue: queue.Queue[dict | None] = queue.Queue()  # leased tasks waiting for a thread
        self.gate = DownloadGate(cfg.threads)
        self._internal_streak = 0
        self._lock = threading.Lock()  # the streak and the stats
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._download_loop, name=f"download-{i}", daemon=True)
                         for i in range(self.cfg.threads)]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Let each thread finish its download and end."""
        for _ in self._threads:
            self.queue.put(None)
        for t in self._threads:
            t.join(self.cfg.timeout * 3 + 5)

    @property
    def limit(self) -> int:
        """Downloads allowed at once now (at most --threads)."""
        return self.gate.limit

    @property
    def limits(self) -> tuple[int, int]:
        """The fewest and the most downloads at once the worker has allowed so far."""
        return self.gate.estimator.lowest, self.gate.estimator.highest

    def take_unstarted(self) -> list[int]:
        """Take the ids of the tasks no thread has started, to give them back."""
        ids = []
        while True:
            try:
                task = self.queue.get_nowait()
            except queue.Empty:
                break
            if task is None:  # a download thread's exit sentinel: leave it
                self.queue.put(None)
                break
            ids.append(task["id"])
        return ids

    def _download_loop(self) -> None:
        settings = self.settings
        policy, options = settings.policy, settings.http
        client = fetch.new_client(self.cfg.user_agent, policy, options)
        gate, outbox, stopping = self.gate, self.outbox, self.control.stopping
        gate.enter()  # a slot first: a task is taken only by a thread that may start it
        while True:
            task = self.queue.get()
            if task is None:
                gate.leave()
                return
            if stopping.is_set():  # stopping (a fault, or SIGTERM): give it back, not start it
                outbox.hand_back(task["id"])
                continue
            if policy is not settings.policy or options is not settings.http:  # the master's settings changed
                policy, options = settings.policy, settings.http
                client.close()
                client = fetch.new_client(self.cfg.user_agent, policy, options)
            outbox.started()
            cpu = time.thread_time()
            try:
                result = download(task, self.cfg, client)
            except storage.LocalStorageError as exc:
                self._local_fault(task, exc.describe(self.cfg.out))
                if not gate.keep(None):
                    gate.enter()
                continue
            cpu = time.thread_time() - cpu
            self._count(result)
            outbox.hand_in(result)
            # only a download the server answered says how long its network takes
            sample = (urls.host_of(task["url"]), result["elapsed"], cpu) if result.get("status") else None
            if not gate.keep(sample):
                gate.enter()

    def _local_fault(self, task: dict, what: str) -> None:
        """The worker's own storage failed: the task goes back unrecorded, and the worker stops."""
        self.outbox.hand_back(task["id"], started=True)
        self.control.fail_locally(what)

    def _count(self, result: dict) -> None:
        """A download's result in the streak and the stats: one lock round trip per image, the
        log line and a sick worker's stop outside it."""
        ok = result["ok"]
        with self._lock:
            self._internal_streak = self._internal_streak + 1 if result["reason"] == "internal" else 0
            sick = self._internal_streak == MAX_INTERNAL_STREAK
            if ok:
                self.stats.ok += 1
                self.stats.bytes += result["bytes"]
            else:
                self.stats.failed += 1
                self.stats.reasons[result["reason"]] = self.stats.reasons.get(result["reason"], 0) + 1
        if ok:
            log.debug("stored %s -> %s (%d bytes)", result["url"], result["path"], result["bytes"])
        else:
            log.debug("failed %s: %s", result["url"], result["error"])
        if sick:
            self.control.fail_locally(f"{MAX_INTERNAL_STREAK} downloads in a row failed with internal errors "
                                      f"(the last: {result['error']})")
