"""Tasks waiting to be leased: one queue per host, the hosts taken in turn.

Not locked: TaskBoard's lock guards every call.
"""

from __future__ import annotations

from collections import deque

from ...rules.urls import host_of
from .task import Task


class HostQueues:
    def __init__(self) -> None:
        # pending tasks: a deque per host (8 bytes a task); a task answered while pending is
        # only marked, and skipped when its turn comes, since that is rare
        self._queues: dict[str, deque[Task]] = {}
        self._hosts: deque[str] = deque()          # hosts with pending tasks, in turn
        self._cancelled: set[int] = set()
        self.pending = 0

    def add(self, task: Task, front: bool) -> None:
        """Queue a task; `front` for one that has waited longest already (a retry, a task given back)."""
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
        self.pending += 1

    def take(self, host: str) -> Task | None:
        """The host's next pending task that is still wanted, or None."""
        queue_ = self._queues[host]
        task = None
        while queue_:
            candidate = queue_.popleft()
            if candidate.id in self._cancelled:
                self._cancelled.discard(candidate.id)
                continue
            task = candidate
            self.pending -= 1
            break
        if not queue_:
            del self._queues[host]
            self._hosts.remove(host)
        return task

    def cancel(self, task: Task) -> bool:
        """A pending task was answered (its result came after its lease expired): mark it, so
        that it is skipped when its turn comes. True if it was pending."""
        queue_ = self._queues.get(host_of(task.url))
        if queue_ is not None and task.id not in self._cancelled and any(t.id == task.id for t in queue_):
            self._cancelled.add(task.id)
            self.pending -= 1
            return True
        return False

    def hosts(self) -> list[str]:
        """The hosts with pending tasks, in turn (a copy: taking a host's last task removes it)."""
        return list(self._hosts)

    def __bool__(self) -> bool:
        return bool(self._hosts)

    def waiting(self, host: str) -> int:
        """How many of a host's tasks wait (marked ones included); the host has some."""
        return len(self._queues[host])

    def sizes(self, top: int) -> dict[str, int]:
        """The `top` longest queues, longest first: host -> tasks waiting (for `crawler status`)."""
        return {h: len(q) for h, q in sorted(self._queues.items(), key=lambda i: -len(i[1]))[:top]}
