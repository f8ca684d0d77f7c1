"""Tasks leased to workers, until a result answers them or the lease expires.

Every way a lease ends (its leaseholder's result, the master's record of another worker's,
expiry, the worker giving it back) removes it here and returns the Lease, whose host's slot
the board then frees: the board frees slots in one place (TaskBoard._free_slot).

Not locked: TaskBoard's lock guards every call.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, NamedTuple

from .task import Task


class Lease(NamedTuple):
    task: Task
    deadline: float  # the board's clock
    worker: str
    host: str        # whose slot the lease holds


class Leases:
    def __init__(self) -> None:
        # insertion order is deadline order, since every lease has the same length
        self._leased: OrderedDict[int, Lease] = OrderedDict()
        # answered by their leaseholder, host slot already free, until the master records them
        self._answered: dict[int, Task] = {}

    def __len__(self) -> int:
        return len(self._leased)

    def grant(self, task: Task, deadline: float, worker: str, host: str) -> None:
        self._leased[task.id] = Lease(task, deadline, worker, host)

    def answer(self, task_id: Any, worker: Any) -> Lease | None:
        """A result for task_id has arrived from worker: if that is the leaseholder, the lease
        ends (returned) and the task waits as answered until the master records it. A late
        duplicate from an expired lease's worker ends nothing: it must not free the host's
        slot, or the host could see more requests than --per-host allows."""
        lease = self._leased.get(task_id) if isinstance(task_id, int) and not isinstance(task_id, bool) else None
        if lease is None or worker != lease.worker:
            return None
        del self._leased[task_id]
        self._answered[task_id] = lease.task
        return lease

    def reopen(self, task_id: Any) -> Task | None:
        """The master refused an answered task's result: the task, to go out again."""
        return self._answered.pop(task_id, None) if isinstance(task_id, int) else None

    def forget_answered(self, task_id: int) -> bool:
        """The master recorded the result of a task its leaseholder answered: True if it was one."""
        return self._answered.pop(task_id, None) is not None

    def end(self, task_id: int) -> Lease | None:
        """The master recorded a result for a task still leased (another worker's): the lease."""
        return self._leased.pop(task_id, None)

    def expired(self, now: float) -> list[Lease]:
        """End and return every lease past its deadline."""
        out = []
        while self._leased:
            task_id, lease = next(iter(self._leased.items()))
            if lease.deadline > now:
                break
            del self._leased[task_id]
            out.append(lease)
        return out

    def release(self, worker: str, task_ids: Any) -> list[Lease]:
        """The leases among task_ids (a list or tuple, from the worker) that worker holds, ended:
        the worker gives the tasks back."""
        out: list[Lease] = []
        if not isinstance(task_ids, (list, tuple)):
            return out
        for task_id in task_ids:
            lease = self._leased.get(task_id) if isinstance(task_id, int) and not isinstance(task_id, bool) else None
            if lease is not None and lease.worker == worker:
                del self._leased[task_id]
                out.append(lease)
        return out
