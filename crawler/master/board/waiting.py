"""Workers whose free threads wait for a host's slot: so that one worker's prefetch does
not hold the slots another worker's idle threads could use.

A worker leases for two rounds of downloads (worker/rounds.py): the tasks beyond its free
threads wait in its own queue, yet each holds its host's slot from the lease on, with no
request made. With one worker, or slots to spare, that prefetch only keeps the worker's
threads fed. But when a host's slots are all taken and another worker asks with threads
free, a slot held by a queued task is a request the site could have had and did not: two
workers of 4 threads on a one-host site with --per-host 8 saw 4 requests at once while the
first held all 8 slots (its results freed them in the same call that took them back) and
the second idled for the whole crawl. So the board remembers, for a moment, who asked with
threads free and got fewer tasks than that, and for which full hosts; a lease beyond another
worker's free threads (prefetch) takes a slot of such a host only while slots are left over
for the waiting workers too (handout.take_tasks, HostGate.room_beyond).

Not locked: TaskBoard's lock guards every call.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

HOLD = 1.0
"""Seconds a worker's wait counts after its ask. A waiting worker asks again within
rounds.IDLE_WAIT (0.25 s, while the master holds its call) plus a call's round trip; longer
than that, and a worker that went away stops holding other workers' prefetch back."""


class Wait(NamedTuple):
    slots: int              # the worker's free threads its lease left without a task
    hosts: frozenset[str]   # the full hosts whose tasks were pending but could not go out
    until: float            # the board's clock


class WaitingWorkers:
    def __init__(self) -> None:
        self._waits: dict[str, Wait] = {}

    def __bool__(self) -> bool:
        return bool(self._waits)

    def note(self, worker: str, short: int, hosts: Collection[str], now: float) -> None:
        """The worker's lease left `short` of its free threads without a task while `hosts`
        had tasks pending and every slot taken: it waits for those hosts' slots, until an ask
        that leaves none short, or for HOLD seconds."""
        for name in [w for w, wait in self._waits.items() if wait.until <= now]:
            del self._waits[name]
        if short > 0 and hosts:
            self._waits[worker] = Wait(short, frozenset(hosts), now + HOLD)
        else:
            self._waits.pop(worker, None)

    def forget(self, worker: str) -> None:
        """The worker will ask no more (told to stop, stopping, stopped on a fault)."""
        self._waits.pop(worker, None)

    def others(self, host: str, worker: str, now: float) -> int:
        """How many of host's slots workers other than `worker` wait for."""
        return sum(wait.slots for name, wait in self._waits.items()
                   if name != worker and host in wait.hosts and wait.until > now)
