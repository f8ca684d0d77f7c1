"""The result inbox the master serves as `get_result_queue`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

MAX_INBOX = 100_000
"""Results waiting for the master beyond this are refused (the worker keeps and resends them)."""


class ResultInbox:
    """Served as `get_result_queue`: workers put results, the master drains them."""

    def __init__(self, on_arrival: Callable[[list], None] | None = None) -> None:
        self._on_arrival = on_arrival
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._items: list[Any] = []
        self._woken = False  # wake() called since the last drain: the next one does not wait

    def put(self, item: Any) -> bool:
        return self.put_many([item])

    def put_many(self, items: Any) -> bool:
        """Accept a list of results; False (keep them and retry) when the inbox is full."""
        if not isinstance(items, list):
            items = [items]  # the master validates and drops it
        with self._lock:
            if len(self._items) + len(items) > MAX_INBOX:
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
            if not self._items and timeout > 0 and not self._woken:
                self._arrived.wait(timeout)
            self._woken = False
            items, self._items = self._items, []
            return items

    def wake(self) -> None:
        """Make a waiting drain() return, or the next one not wait (the master has other work).
        Kept until that drain: a page job that finishes while the master's loop is busy
        elsewhere would otherwise have its wake-up lost, and its page wait a whole drain."""
        with self._lock:
            self._woken = True
            self._arrived.notify_all()
