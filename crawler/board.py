"""The leased task queue and the result inbox that the master serves.

A task handed to a worker is leased, not gone: it stays in `leased` with a deadline until a
result acknowledges it. The master collects expired leases and hands those tasks out again
(or records them as failed), which closes the hole a killed worker, a cut-off host or a
swallowed `get()` would otherwise leave.

Both classes are used from the manager's server threads (one per worker connection) and
from the master's own loop, so every method takes the lock.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict, deque
from typing import Any, Callable, NamedTuple

from .config import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT
from .messages import make_task, stop_message
from .politeness import HostGate
from .urls import host_of

log = logging.getLogger(__name__)

MAX_BATCH = 500
"""Most tasks handed out, or results taken, in one call."""

MAX_WAIT = 2.0
"""Longest a get waits on the server; clients' socket timeouts must be longer."""

MAX_INBOX = 100_000
"""Results waiting for the master beyond this are refused (the worker keeps and resends them)."""


class Task(NamedTuple):
    """A task as the master keeps it: a tuple (80 bytes), so a million fit in memory.

    The wire form, a dict with the crawl's limits (messages.make_task), is built only when
    the task is handed out. `source` says how the image was found (extract.ImageRef.source,
    or another finder's word); it goes to the manifest, not to workers. Keep it interned
    (sys.intern): a few distinct words shared by a million tasks.
    """

    id: int
    url: str
    page: str | None
    attempt: int = 1
    source: str | None = None


def default_wire(task: Task) -> dict:
    return make_task(task.id, task.url, task.page, attempt=task.attempt, max_bytes=DEFAULT_MAX_BYTES,
                     timeout=DEFAULT_TIMEOUT)


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
        # pending tasks: a deque per host (8 bytes a task); a task answered while pending is
        # only marked, and skipped when its turn comes, since that is rare
        self._queues: dict[str, deque[Task]] = {}
        self._hosts: deque[str] = deque()          # hosts with pending tasks, in turn
        self._cancelled: set[int] = set()
        self._pending = 0
        # insertion order is deadline order, since every lease has the same length
        self._leased: OrderedDict[int, tuple[Task, float, str, str]] = OrderedDict()
        # answered by their leaseholder, host slot already free, until the master records them
        self._answered: dict[int, Task] = {}
        self._finished = False
        self._stopped_workers: set[str] = set()
        self._faults: dict[str, str] = {}     # worker -> why it stopped on a fault of its own
        self._new_faults: list[tuple[str, str]] = []  # not yet taken by the master
        self.workers: dict[str, float] = {}  # worker name -> last contact (clock)
        self.dropped = 0
        self.crawl_settings: dict = {}  # what workers need to know of the crawl (plain data)
        self.master_stats: dict = {}    # the master's own counts, for `crawler status` (plain data)
        self.results: ResultInbox | None = None  # where exchange() delivers results

    # -- master side ---------------------------------------------------------------
    def add(self, task: Task, *, front: bool = False) -> None:
        """Queue a task; `front` for a retry, which has waited longest already."""
        with self._lock:
            self._enqueue(task, front)
            self._ready.notify()

    def add_many(self, tasks: list[Task]) -> None:
        with self._lock:
            for task in tasks:
                self._enqueue(task, False)
            self._ready.notify_all()

    def _enqueue(self, task: Task, front: bool) -> None:
        host = host_of(task.url)
        queue_ = self._queues.get(host)
        if queue_ is None:
            queue_ = self._queues[host] = deque()
            self._hosts.append(host)
        if front:
            queue_.appendleft(task)
        else:
            queue_.append(task)
        self._cancelled.discard(task.id)
        self._pending += 1

    def _next(self, host: str) -> Task | None:
        """The host's next pending task that is still wanted, or None."""
        queue_ = self._queues[host]
        task = None
        while queue_:
            candidate = queue_.popleft()
            if candidate.id in self._cancelled:
                self._cancelled.discard(candidate.id)
                continue
            task = candidate
            self._pending -= 1
            break
        if not queue_:
            del self._queues[host]
            self._hosts.remove(host)
        return task

    def arrived(self, items: list) -> None:
        """Results have reached the inbox: free their hosts' slots at once.

        Called from the server thread that received them, so the next task for that host
        can go out in the same moment (the worker asks for tasks right after delivering),
        not only when the master's loop has recorded the result. Only the leaseholder's
        result frees the slot: a late duplicate from an expired lease must not, or the host
        could see more requests than --per-host allows.
        """
        with self._lock:
            freed = False
            for item in items:
                task_id = item.get("id") if isinstance(item, dict) else None
                entry = self._leased.get(task_id) if isinstance(task_id, int) and not isinstance(task_id, bool) else None
                if entry is not None and item.get("worker") == entry[2]:
                    del self._leased[task_id]
                    self._answered[task_id] = entry[0]
                    self.gate.finish(entry[3])
                    freed = True
            if freed:
                self._ready.notify_all()

    def reopen(self, task_id: Any) -> None:
        """The master refused a result that freed a slot: the task goes out again."""
        with self._lock:
            task = self._answered.pop(task_id, None) if isinstance(task_id, int) else None
            if task is not None:
                self._enqueue(task, True)
                self._ready.notify_all()

    def ack(self, task: Task) -> bool:
        """Forget a task a result has answered (leased, or pending again after its lease
        expired); True if it was leased."""
        with self._lock:
            if self._answered.pop(task.id, None) is not None:
                return True
            entry = self._leased.pop(task.id, None)
            if entry is not None:
                self.gate.finish(entry[3])
                self._ready.notify_all()
                return True
            queue_ = self._queues.get(host_of(task.url))
            if queue_ is not None and task.id not in self._cancelled and any(t.id == task.id for t in queue_):
                self._cancelled.add(task.id)
                self._pending -= 1
            return False

    def take_expired(self) -> list[tuple[Task, str]]:
        """Remove and return (task, worker) for every lease past its deadline."""
        now = self._clock()
        out = []
        with self._lock:
            while self._leased:
                task_id, (task, deadline, worker, host) = next(iter(self._leased.items()))
                if deadline > now:
                    break
                del self._leased[task_id]
                self.gate.finish(host)
                out.append((task, worker))
        return out

    def try_start(self, host: str) -> bool:
        """For a request the master makes itself (a page, robots.txt): may it start now?"""
        with self._lock:
            return self.gate.try_start(host)

    def finish(self, host: str) -> None:
        """The master's own request to host is over."""
        with self._lock:
            self.gate.finish(host)
            self._ready.notify_all()

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
            return self._pending, len(self._leased)

    def workers_told_to_stop(self) -> set[str]:
        """Workers that will call no more: told the crawl is over, or stopped on a fault."""
        with self._lock:
            return set(self._stopped_workers) | set(self._faults)

    def take_faults(self) -> list[tuple[str, str]]:
        """(worker, why) for each worker that stopped on a fault since the last call."""
        with self._lock:
            out, self._new_faults = self._new_faults, []
            return out

    def faults(self) -> dict[str, str]:
        """Every worker stopped on a fault, and why (until it calls again)."""
        with self._lock:
            return dict(self._faults)

    # -- served to workers ---------------------------------------------------------
    def get_many(self, worker: str = "?", n: int = 1, timeout: float = 0.0, idle: int | None = None) -> list[dict]:
        """Lease up to n tasks, waiting up to timeout for the first; [stop] once finished.

        `idle` is how many of the worker's threads are free right now. Tasks for a host with
        a delay between starts go only to free threads, so that a task does not wait in a
        worker's queue and start closer to the previous one than the delay allows.
        """
        worker = str(worker)[:200]
        n = max(0, min(int(n), MAX_BATCH))
        timeout = max(0.0, min(float(timeout), MAX_WAIT))
        idle = n if idle is None else max(0, min(int(idle), n))
        with self._lock:
            self.workers[worker] = self._clock()
            self._faults.pop(worker, None)  # back (restarted under its name): it takes tasks again
            if not self._finished:
                out = self._lease(worker, n, idle)
                if out or not (n and timeout):
                    return out
                self._ready.wait(timeout)
                if not self._finished:
                    return self._lease(worker, n, idle)
            # finished (or stopping): nothing more is handed out, whatever is still queued
            self._stopped_workers.add(worker)
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
        out: list[dict] = []
        now = self._clock()
        deadline = now + self.lease_seconds
        progress = True
        while len(out) < n and progress and self._hosts:
            progress = False
            for host in list(self._hosts):
                if len(out) >= n:
                    break
                delayed = self.gate.delay_for(host) > 0
                if (delayed and idle <= 0) or not self.gate.ready(host, now):
                    continue
                task = self._next(host)
                if task is None:
                    continue
                self.gate.start(host, now)
                self._leased[task.id] = (task, deadline, worker, host)
                out.append(self.to_wire(task))
                idle -= delayed
                progress = True
        return out

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
        if not isinstance(task_ids, (list, tuple)):
            return 0
        back = []
        with self._lock:
            for task_id in task_ids:
                entry = self._leased.get(task_id) if isinstance(task_id, int) and not isinstance(task_id, bool) else None
                if entry is not None and entry[2] == str(worker)[:200]:
                    del self._leased[task_id]
                    self.gate.finish(entry[3])
                    back.append(entry[0])
            for task in reversed(back):
                self._enqueue(task, True)
            if back:
                self._ready.notify_all()
        return len(back)

    def stopped(self, worker: str = "?", why: Any = "") -> None:
        """A worker stops on a fault of its own (its storage failed...) and has handed its
        tasks back: say so in the master's log, and wait for it no more."""
        worker, why = str(worker)[:200], str(why)[:500]
        with self._lock:
            self.workers[worker] = self._clock()
            self._faults[worker] = why
            self._new_faults.append((worker, why))
            del self._new_faults[:-100]  # a master that never looks keeps only the last hundred

    def qsize(self) -> int:
        with self._lock:
            return self._pending

    def settings(self) -> dict:
        """The crawl's settings a worker applies (the SSRF policy), as plain data."""
        return dict(self.crawl_settings)

    def heartbeat(self, worker: str = "?") -> bool:
        with self._lock:
            self.workers[str(worker)[:200]] = self._clock()
            return self._finished

    def status(self) -> dict:
        """What `crawler status` shows: queue state, workers' last contact, the master's counts."""
        with self._lock:
            now = self._clock()
            return {"pending": self._pending, "leased": len(self._leased),
                    "finished": self._finished, "stopped_workers": dict(self._faults),
                    "workers": {w: round(now - t, 1) for w, t in self.workers.items() if w != "anonymous"},
                    "host_queues": {h: len(q) for h, q in sorted(self._queues.items(), key=lambda i: -len(i[1]))[:20]},
                    **self.master_stats}


class ResultInbox:
    """Served as `get_result_queue`: workers put results, the master drains them."""

    def __init__(self, on_arrival: Callable[[list], None] | None = None) -> None:
        self._on_arrival = on_arrival
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._items: list[Any] = []
        self.refused = 0

    def put(self, item: Any) -> bool:
        return self.put_many([item])

    def put_many(self, items: Any) -> bool:
        """Accept a list of results; False (keep them and retry) when the inbox is full."""
        if not isinstance(items, list):
            items = [items]  # the master validates and drops it
        with self._lock:
            if len(self._items) + len(items) > MAX_INBOX:
                self.refused += 1
                return False
            self._items.extend(items)
            self._arrived.notify()
        if self._on_arrival is not None:
            self._on_arrival(items)
        return True

    def qsize(self) -> int:
        with self._lock:
            return len(self._items)

    def drain(self, timeout: float = 0.0) -> list[Any]:
        """Everything that arrived, waiting up to timeout if nothing has."""
        with self._lock:
            if not self._items and timeout > 0:
                self._arrived.wait(timeout)
            items, self._items = self._items, []
            return items

    def wake(self) -> None:
        """Make a waiting drain() return (the master has other work)."""
        with self._lock:
            self._arrived.notify_all()
