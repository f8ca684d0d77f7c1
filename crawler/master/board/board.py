"""The leased task queue that the master serves to workers: TaskBoard, its served face.

A task handed to a worker is leased, not gone: it stays leased with a deadline until a
result acknowledges it. The master collects expired leases and hands those tasks out again
(or records them as failed), which closes the hole a killed worker, a cut-off host or a
swallowed `get()` would otherwise leave.

The board is used from the manager's server threads (one per worker connection) and from
the master's own loop, so every method takes the lock. Its parts (HostQueues, Leases,
WorkerRoster, WaitingWorkers) take none of their own: they are only ever called under this
lock.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from ...rules.messages import stop_message
from ...rules.politeness import HostGate
from .handout import take_tasks
from .inbox import ResultInbox
from .leases import Leases
from .pending import HostQueues
from .roster import WorkerRoster
from .task import Task, default_wire
from .waiting import WaitingWorkers

log = logging.getLogger(__name__)

MAX_BATCH = 500
"""Most tasks handed out, or results taken, in one call."""

MAX_WAIT = 2.0
"""Longest a get waits on the server; clients' socket timeouts must be longer."""


class TaskBoard:
    """Served as `get_task_queue`: get/get_many lease tasks, the master adds and acks them.

    Pending tasks wait in one queue per host, taken round-robin, and only when the host's
    gate (requests in flight, time since the last start) allows: while one host waits,
    the others' tasks still flow.
    """

    def __init__(self, lease_seconds: float, clock: Callable[[], float] = time.monotonic,
                 gate: HostGate | None = None, to_wire: Callable[[Task], dict] = default_wire):
        self.lease_seconds = lease_seconds
        self._clock = clock
        self.gate = gate or HostGate(per_host=1 << 30, delay=0.0, clock=clock)
        self.to_wire = to_wire
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queues = HostQueues()
        self._leases = Leases()
        self._roster = WorkerRoster()
        self._waiting = WaitingWorkers()
        self.workers = self._roster.workers  # worker name -> last contact (the board's clock)
        self._finished = False
        self.dropped = 0
        self.crawl_settings: dict = {}  # what workers need to know of the crawl (plain data)
        self.master_stats: dict = {}    # the master's own counts, for `crawler status` (plain data)
        self.results: ResultInbox | None = None  # where exchange() delivers results

    # -- master side ---------------------------------------------------------------
    def add(self, task: Task, *, front: bool = False) -> None:
        """Queue a task; `front` for a retry, which has waited longest already."""
        with self._lock:
            self._queues.add(task, front)
            self._ready.notify()

    def add_many(self, tasks: list[Task]) -> None:
        with self._lock:
            for task in tasks:
                self._queues.add(task, False)
            self._ready.notify_all()

    def arrived(self, items: list) -> None:
        """Results have reached the inbox: free their hosts' slots at once.

        Called from the server thread that received them, so the next task for that host
        can go out in the same moment (the worker asks for tasks right after delivering),
        not only when the master's loop has recorded the result (only the leaseholder's
        result frees it: Leases.answer).
        """
        with self._lock:
            freed = False
            for item in items:
                if isinstance(item, dict):
                    lease = self._leases.answer(item.get("id"), item.get("worker"))
                    if lease is not None:
                        self._free_slot(lease.host)
                        freed = True
            if freed:
                self._ready.notify_all()

    def reopen(self, task_id: Any) -> None:
        """The master refused a result that freed a slot: the task goes out again."""
        with self._lock:
            task = self._leases.reopen(task_id)
            if task is not None:
                self._queues.add(task, True)
                self._ready.notify_all()

    def ack(self, task: Task) -> bool:
        """Forget a task a result has answered (leased, or pending again after its lease
        expired); True if it was leased."""
        with self._lock:
            if self._leases.forget_answered(task.id):
                return True
            lease = self._leases.end(task.id)
            if lease is not None:
                self._free_slot(lease.host)
                self._ready.notify_all()
                return True
            self._queues.cancel(task)
            return False

    def take_expired(self) -> list[tuple[Task, str]]:
        """Remove and return (task, worker) for every lease past its deadline."""
        with self._lock:
            expired = self._leases.expired(self._clock())
            for lease in expired:
                self._free_slot(lease.host)
        return [(lease.task, lease.worker) for lease in expired]

    def try_start(self, host: str) -> bool:
        """For a request the master makes itself (a page, robots.txt): may it start now?"""
        with self._lock:
            return self.gate.try_start(host)

    def finish(self, host: str) -> None:
        """The master's own request to host is over."""
        with self._lock:
            self._free_slot(host)
            self._ready.notify_all()

    def wait_for_pages(self, demand: dict[str, int]) -> None:
        """The master's pages waiting for a slot, per host (HostGate.wait_for_pages)."""
        with self._lock:
            self.gate.wait_for_pages(demand)

    def set_host_delay(self, host: str, seconds: float) -> None:
        with self._lock:
            self.gate.set_delay(host, seconds)

    def finish_crawl(self) -> None:
        """From now on every get answers with the stop message."""
        with self._lock:
            self._finished = True
            self._ready.notify_all()

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self._queues.pending, len(self._leases)

    def workers_told_to_stop(self) -> set[str]:  # WorkerRoster.done
        with self._lock:
            return self._roster.done()

    def take_faults(self) -> list[tuple[str, str]]:
        with self._lock:
            return self._roster.take_faults()

    def faults(self) -> dict[str, str]:
        with self._lock:
            return self._roster.faults()

    # -- served to workers ---------------------------------------------------------
    def get_many(self, worker: str = "?", n: int = 1, timeout: float = 0.0, idle: int | None = None) -> list[dict]:
        """Lease up to n tasks, waiting up to timeout for the first; [stop] once finished.

        `idle` is how many of the worker's threads are free right now. Tasks for a host with
        a delay between starts go only to free threads, so that a task does not wait in a
        worker's queue and start closer to the previous one than the delay allows; nor do
        tasks of a host whose slots another worker's free threads wait for (handout.py).
        """
        worker = str(worker)[:200]
        n = max(0, min(int(n), MAX_BATCH))
        timeout = max(0.0, min(float(timeout), MAX_WAIT))
        idle = n if idle is None else max(0, min(int(idle), n))
        with self._lock:
            self._roster.asking(worker, self._clock())
            if not self._finished:
                out = self._lease(worker, n, idle)
                if out or not (n and timeout):
                    return out
                self._ready.wait(timeout)
                if not self._finished:
                    return self._lease(worker, n, idle)
            # finished (or stopping): nothing more is handed out, whatever is still queued
            self._roster.told_to_stop(worker)
            self._waiting.forget(worker)
            return [stop_message()]

    def exchange(self, worker: str = "?", results: Any = (), n: int = 0, timeout: float = 0.0,
                 idle: int | None = None) -> dict:
        """Deliver results and lease up to n tasks, in one round trip:
        {"accepted": whether the inbox took the results, "tasks": as get_many answers}.

        A worker whose download ends would otherwise make two calls, one to deliver the
        result and one to lease the task its freed slot allows, and another worker's call
        could take that slot in between, leaving its own lease empty. Here the results
        arrive (freeing their slots) before the lease, in the same call.
        """
        accepted = True
        if results:
            accepted = self.results.put_many(results) if self.results is not None else False
        return {"accepted": accepted, "tasks": self.get_many(worker, n, timeout, idle)}

    def _lease(self, worker: str, n: int, idle: int) -> list[dict]:
        now = self._clock()
        deadline = now + self.lease_seconds
        out: list[dict] = []
        for host, task in take_tasks(self._queues, self.gate, self._waiting, worker, n, idle, now):
            self._leases.grant(task, deadline, worker, host)
            out.append(self.to_wire(task))
        return out

    def _free_slot(self, host: str) -> None:
        """The one place a host's slot comes free: a lease ended, or the master's own request.
        Under the lock; the caller wakes waiting gets (once per call, not per slot)."""
        self.gate.finish(host)

    def get(self, block: bool = True, timeout: float | None = None) -> dict:
        """The classic queue interface: one task (leased to 'anonymous'), or queue.Empty."""
        items = self.get_many("anonymous", 1, (MAX_WAIT if timeout is None else timeout) if block else 0)
        if not items:
            raise queue.Empty
        return items[0]

    def put(self, item: Any) -> None:
        """Tasks come from the master only: anything a client puts here is logged and dropped."""
        with self._lock:
            self.dropped += 1
        log.warning("dropped an item a client put on the task queue: tasks come from the master only")

    def release(self, worker: str = "?", task_ids: Any = ()) -> int:
        """A stopping worker gives back tasks it had not started: they go to the queue's front."""
        with self._lock:
            self._waiting.forget(str(worker)[:200])
            back = self._leases.release(str(worker)[:200], task_ids)
            for lease in reversed(back):
                self._free_slot(lease.host)
                self._queues.add(lease.task, True)
            if back:
                self._ready.notify_all()
        return len(back)

    def stopped(self, worker: str = "?", why: Any = "") -> None:
        """A worker stops on a fault of its own (its storage failed...) and has handed its
        tasks back: say so in the master's log, and wait for it no more."""
        worker, why = str(worker)[:200], str(why)[:500]
        with self._lock:
            self._roster.stopped(worker, why, self._clock())
            self._waiting.forget(worker)

    def qsize(self) -> int:
        with self._lock:
            return self._queues.pending

    def settings(self) -> dict:
        """The crawl's settings a worker applies (the SSRF policy), as plain data."""
        return dict(self.crawl_settings)

    def heartbeat(self, worker: str = "?") -> bool:
        with self._lock:
            self._roster.seen(str(worker)[:200], self._clock())
            return self._finished

    def status(self) -> dict:
        """What `crawler status` shows: queue state, workers' last contact, the master's counts."""
        with self._lock:
            return {"pending": self._queues.pending, "leased": len(self._leases),
                    "finished": self._finished, "stopped_workers": self._roster.faults(),
                    "workers": self._roster.ages(self._clock()), "host_queues": self._queues.sizes(20),
                    **self.master_stats}
