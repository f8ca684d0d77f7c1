"""The workers the board has heard from: last contact, who was told to stop, whose faults.

Not locked: TaskBoard's lock guards every call.
"""

from __future__ import annotations


class WorkerRoster:
    def __init__(self) -> None:
        self.workers: dict[str, float] = {}  # worker name -> last contact (the board's clock)
        self._stopped_workers: set[str] = set()
        self._faults: dict[str, str] = {}     # worker -> why it stopped on a fault of its own
        self._new_faults: list[tuple[str, str]] = []  # not yet taken by the master

    def seen(self, worker: str, now: float) -> None:
        self.workers[worker] = now

    def asking(self, worker: str, now: float) -> None:
        """The worker asks for tasks: seen, and back if it had stopped on a fault (restarted
        under its name): it takes tasks again."""
        self.workers[worker] = now
        self._faults.pop(worker, None)

    def told_to_stop(self, worker: str) -> None:
        """The worker was answered with the stop message: it will call no more."""
        self._stopped_workers.add(worker)

    def stopped(self, worker: str, why: str, now: float) -> None:
        """The worker stops on a fault of its own."""
        self.workers[worker] = now
        self._faults[worker] = why
        self._new_faults.append((worker, why))
        del self._new_faults[:-100]  # a master that never looks keeps only the last hundred

    def done(self) -> set[str]:
        """Workers that will call no more: told the crawl is over, or stopped on a fault."""
        return set(self._stopped_workers) | set(self._faults)

    def take_faults(self) -> list[tuple[str, str]]:
        """(worker, why) for each worker that stopped on a fault since the last call."""
        out, self._new_faults = self._new_faults, []
        return out

    def faults(self) -> dict[str, str]:
        """Every worker stopped on a fault, and why (until it calls again)."""
        return dict(self._faults)

    def ages(self, now: float) -> dict[str, float]:
        """Seconds since each named worker's last contact (the classic get's 'anonymous' is none)."""
        return {w: round(now - t, 1) for w, t in self.workers.items() if w != "anonymous"}
