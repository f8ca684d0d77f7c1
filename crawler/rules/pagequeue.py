"""The pages waiting to be fetched: one FIFO per origin, the origins taken in turn.

Keyed by origin (scheme, host and port), because robots.txt is: a page can start only once
its origin's robots.txt is known. An origin whose robots.txt is not known yet (being
fetched, or deferred after a 5xx or a timeout) is set aside, `park`ed, and waits alone;
every other origin's pages, the same host name's included, go on (keyed by host name, one
dead `http://host:9/` link would hold all of `http://host/` up for its robots.txt retries).
Per-host limits are the HostGate's business, not this queue's.

The master's dispatch looks at each origin once per turn, rather than taking every waiting
page out and putting it back.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from itertools import islice

from .robots import origin_of


class PageQueue:
    def __init__(self) -> None:
        self._by_origin: OrderedDict[str, deque[tuple[str, int]]] = OrderedDict()
        self._parked: dict[str, deque[tuple[str, int]]] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, origin: str) -> bool:
        """Does origin have pages ready to be looked at (not parked)?"""
        return origin in self._by_origin

    def append(self, url: str, depth: int, origin: str | None = None) -> None:
        origin = origin_of(url) if origin is None else origin
        pages = self._parked.get(origin)
        if pages is None:
            pages = self._by_origin.get(origin)
            if pages is None:
                pages = self._by_origin[origin] = deque()
        pages.append((url, depth))
        self._size += 1

    def extend(self, pages: Iterable[tuple[str, int]]) -> None:
        for url, depth in pages:
            self.append(url, depth)

    def origins(self, limit: int) -> list[str]:
        """The first `limit` origins with pages and not parked, in turn: one that gave a page goes last."""
        return list(islice(self._by_origin, limit))

    def waiting(self, origin: str) -> int:
        """How many of origin's pages are ready to be looked at (none while it is parked)."""
        pages = self._by_origin.get(origin)
        return len(pages) if pages is not None else 0

    def peek(self, origin: str) -> tuple[str, int]:
        return self._by_origin[origin][0]

    def pop(self, origin: str) -> tuple[str, int]:
        pages = self._by_origin[origin]
        page = pages.popleft()
        self._size -= 1
        if pages:
            self._by_origin.move_to_end(origin)
        else:
            del self._by_origin[origin]
        return page

    def park(self, origin: str) -> None:
        """Set origin's pages aside until `unpark`: its robots.txt is not known yet."""
        pages = self._by_origin.pop(origin, None)
        if pages is not None:
            self._parked[origin] = pages

    def unpark(self, origin: str) -> None:
        """Origin's robots.txt is settled: its pages take their turn again (last)."""
        pages = self._parked.pop(origin, None)
        if pages:
            self._by_origin[origin] = pages

    def parked(self) -> int:
        """How many origins wait for their robots.txt."""
        return len(self._parked)
