"""Which pending tasks go to a worker that asks: the hosts in turn, each as far as its gate
(HostGate: slots, delay, its pages' claim) and the other workers' waits (waiting.py) allow.

Not locked: TaskBoard's lock guards every call.
"""

from __future__ import annotations

from ...rules.politeness import HostGate
from .pending import HostQueues
from .task import Task
from .waiting import WaitingWorkers


def take_tasks(queues: HostQueues, gate: HostGate, waiting: WaitingWorkers, worker: str, n: int, idle: int,
               now: float) -> list[tuple[str, Task]]:
    """Take up to n tasks for worker, `idle` of whose threads are free, as (host, task), each
    started at its host's gate. The first `idle` tasks go to free threads; the rest wait in
    the worker's queue (prefetch), so a host with a delay gives it none (it would start
    closer to the previous one than the delay allows), and a host whose slots other workers'
    free threads wait for gives it none beyond what they leave. A worker left with free
    threads is noted as waiting for the full hosts that refused it."""
    out: list[tuple[str, Task]] = []
    delayed_room = idle  # free threads left for tasks of hosts with a delay
    progress = True
    while len(out) < n and progress and queues:
        progress = False
        for host in queues.hosts():
            if len(out) >= n:
                break
            delayed = gate.delay_for(host) > 0
            if (delayed and delayed_room <= 0) or not gate.ready_for_image(host, queues.waiting(host), now):
                continue
            if len(out) >= idle and waiting and not gate.room_beyond(host, waiting.others(host, worker, now)):
                continue  # prefetch would hold a slot another worker's free threads wait for
            task = queues.take(host)
            if task is None:
                continue
            gate.start(host, now)
            out.append((host, task))
            delayed_room -= delayed
            progress = True
    short = idle - len(out)
    # short > 0: the loop ended with free threads left and every pending host refusing; the
    # worker waits for those that refused because their slots are all taken (a host's delay
    # or its pages' claim hold back prefetch already)
    waiting.note(worker, short, [h for h in queues.hosts() if gate.full(h)] if short > 0 else (), now)
    return out
