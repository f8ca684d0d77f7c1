"""Outbox: what the download threads hand to the link thread. Results wait here for delivery
(and survive a lost master), with the time the oldest arrived; ids of tasks to give back
undone wait beside them; and the count of downloads in flight, kept under the same lock so
that a result moves from "in flight" to "waiting" at once for the link thread's count."""

from __future__ import annotations

import threading
import time


class Outbox:
    def __init__(self, wake: threading.Event):
        self._wake = wake  # set when a result or a task to give back arrives
        self._lock = threading.Lock()
        self._results: list[dict] = []
        self._since = 0.0  # when the oldest result here arrived
        self._handback: list[int] = []  # ids of tasks a stop or a local fault kept from being done
        self._inflight = 0

    # -- download threads ------------------------------------------------------------
    def started(self) -> None:
        """A download thread starts a task."""
        with self._lock:
            self._inflight += 1

    def hand_in(self, result: dict) -> None:
        """A download thread's result joins the outbox, for the link thread to deliver."""
        with self._lock:
            if not self._results:
                self._since = time.monotonic()
            self._results.append(result)
            self._inflight -= 1
        self._wake.set()

    def hand_back(self, task_id: int, *, started: bool = False) -> None:
        """A task goes back to the master undone (`started`: it was counted in flight)."""
        with self._lock:
            self._handback.append(task_id)
            if started:
                self._inflight -= 1
        self._wake.set()

    # -- link thread -----------------------------------------------------------------
    def look(self, most: int) -> tuple[list[dict], int, int, float]:
        """(the first `most` results, downloads in flight, results here, how long the oldest
        has waited), read together."""
        with self._lock:
            batch = self._results[:most]
            return batch, self._inflight, len(self._results), time.monotonic() - self._since

    def delivered(self, batch: list[dict]) -> None:
        """The master took `batch`, the front of the outbox."""
        with self._lock:
            del self._results[:len(batch)]
            if self._results:  # a backlog: its oldest came after the batch's oldest
                self._since = time.monotonic()

    def take_hand_back(self) -> list[int]:
        with self._lock:
            ids, self._handback = self._handback, []
            return ids

    def keep_hand_back(self, ids: list[int]) -> None:
        """Ids not given back yet (the master was lost): again after reconnecting."""
        with self._lock:
            self._handback.extend(ids)

    def __len__(self) -> int:
        return len(self._results)

    @property
    def results(self) -> list[dict]:
        """The results waiting (the list itself: for tests and logs)."""
        return self._results
