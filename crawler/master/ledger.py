"""Ledger: every image task from the moment its URL is found until its line is written.

It gives each new image URL a task id, keeps the tasks not yet answered, checks each result
against its task (accepted, or refused so the task goes out again), hands out again what a
lease lost (or fails it after --max-attempts leases), and writes each answer to the manifest
and the journal (CrawlRecord).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from ..config import CrawlConfig
from ..rules import naming
from ..rules.messages import InvalidMessage, make_task, validate_result
from ..store import manifest
from ..store import refresh as refresh_
from ..store.journal import Snapshot
from .board import Task, TaskBoard
from .record import CrawlRecord
from .stats import Summary

log = logging.getLogger("crawler.master")


def to_wire(cfg: CrawlConfig, record: CrawlRecord, task: Task) -> dict:
    """The task as it goes to a worker: plain data, with this crawl's limits (the board's
    `to_wire`, bound to the crawl with functools.partial)."""
    previous = record.previous
    return make_task(task.id, task.url, task.page, attempt=task.attempt, max_bytes=cfg.max_bytes,
                     timeout=cfg.timeout, retries=cfg.retries, accept=cfg.accept, min_bytes=cfg.min_bytes,
                     refresh=previous.wire(task.url) if previous is not None else None)


class Ledger:
    def __init__(self, cfg: CrawlConfig, record: CrawlRecord, board: TaskBoard, summary: Summary):
        self.cfg = cfg
        self.record = record
        self.board = board
        self.summary = summary
        self.seen: set[str] = set()  # every image URL made a task (or recorded by an earlier run)
        self.outstanding: dict[int, Task] = {}  # task id -> task, until its result is recorded
        self._done_ids: set[int] = set()
        self._next_id = 1

    def restore(self, snap: Snapshot, done_urls: set[str]) -> list[Task]:
        """Take up an earlier run's tasks; returns those still open, to be admitted again."""
        # A manifest line can reach the disk before the journal commit that added its task:
        # the manifest decides, so such an image is never handed out again.
        self.seen = snap.image_urls | done_urls
        self._done_ids = snap.done_ids
        self._next_id = snap.next_id
        tasks = [Task(*row) for row in snap.open_tasks]
        for task in tasks:
            self.outstanding[task.id] = task
        return tasks

    def new_task(self, url: str, page: str | None, source: str | None) -> Task | None:
        """A task for an image found on `page` (None if its URL has one already); `source`
        says how it was found (ImageRef.source, or "page" for a page link that answered with
        an image)."""
        if url in self.seen:
            return None
        self.seen.add(url)
        if source is not None:  # None: a journal written before images kept how they were found
            source = sys.intern(source)  # a million tasks share a few words
        task = Task(self._next_id, url, page, 1, source)
        self._next_id += 1
        self.outstanding[task.id] = task
        self.record.journal.task_added(task.id, url, page, 1, source)
        return task

    def on_result(self, item: Any) -> None:
        try:
            result = validate_result(item)
        except InvalidMessage as exc:
            log.warning("dropped an invalid result: %s", exc)
            self._refuse(item)
            return
        task_id = result["id"]
        task = self.outstanding.get(task_id)
        if task is None:
            if task_id in self._done_ids:
                log.info("ignored a late second result for task %d from %s (already recorded)",
                         task_id, result["worker"])
            else:
                log.warning("dropped a result for unknown task id %r", task_id)
            return
        if result["url"] != task.url:
            log.warning("dropped a result whose URL does not match task %d", task_id)
            self._refuse(item)
            return
        previous = self.record.previous
        if result["ok"] and result["status"] == 304 and (
                previous is None or previous.wire(task.url).get("stored") != result["path"]):
            log.warning("dropped a 304 result for task %d that no conditional request asked for", task_id)
            self._refuse(item)
            return
        if result["ok"]:
            try:
                naming.check_relative(result["path"])
            except ValueError:
                log.warning("dropped a result with an unsafe path %r", result["path"][:200])
                self._refuse(item)
                return
        self.board.ack(task)
        self.write(task, result)

    def _refuse(self, item: Any) -> None:
        """A dropped result may have freed its task's slot on arrival: hand the task out again."""
        task_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(task_id, int) and task_id in self.outstanding:
            self.board.reopen(task_id)

    def on_expired(self, expired: list[tuple[Task, str]]) -> None:
        for task, worker in expired:
            if task.id not in self.outstanding:
                continue
            if task.attempt >= self.cfg.max_attempts:
                error = (f"no result after {task.attempt} lease(s) of {self.cfg.effective_lease_seconds:.0f} s "
                         f"(last worker {worker})")
                log.warning("task %d %s failed: %s", task.id, task.url, error)
                self.write(task, None, error=error, reason="lease-expired")
                continue
            again = task._replace(attempt=task.attempt + 1)
            self.outstanding[task.id] = again
            self.record.journal.task_attempt(task.id, again.attempt)
            log.info("lease of task %d expired at worker %s; handing it out again (attempt %d)",
                     task.id, worker, again.attempt)
            self.board.add(again, front=True)

    def write(self, task: Task, result: dict | None, *, error: str | None = None,
              reason: str | None = None) -> None:
        """The task's answer (a result, or the error that ends it) to the manifest and the journal."""
        rec = manifest.record(task.url, task.page, task.attempt, result, error=error, reason=reason,
                              source=task.source)
        previous = self.record.previous
        if previous is not None:
            rec = refresh_.judge(rec, previous.get(task.url))
            self.summary.changes[rec["change"]] += 1
        self.record.manifest.write(rec)
        del self.outstanding[task.id]
        self._done_ids.add(task.id)
        self.record.journal.task_done(task.id)
        if result is not None and result["ok"]:  # this run's answer (a refresh's line may keep an older one)
            self.summary.images_ok += 1
            self.summary.bytes += result["bytes"]
        else:
            self.summary.images_failed[rec["reason"] or "error"] += 1
