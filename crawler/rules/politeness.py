"""Per-host limits for the whole cluster: requests in flight and time between starts.

The master holds one HostGate and consults it wherever a request to a host is about to
start: a page or robots.txt it fetches itself, or an image task it hands to a worker. A task
counts as in flight from the moment it is leased until its result (or its lease expiry)
comes back, so the limit holds over every worker together, whatever their number.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable


class HostGate:
    def __init__(self, per_host: int, delay: float, clock: Callable[[], float] = time.monotonic):
        self.per_host = per_host
        self.delay = delay
        self._clock = clock
        self.in_flight: Counter[str] = Counter()
        self._next_start: dict[str, float] = {}
        self._host_delay: dict[str, float] = {}
        self._page_demand: dict[str, int] = {}

    def set_delay(self, host: str, seconds: float, now: float | None = None) -> None:
        """A host's own minimum delay (robots.txt Crawl-delay); --delay still applies if larger.
        The host's next request waits that long from now: the robots.txt that asked for the
        delay was a request to the host too."""
        self._host_delay[host] = seconds
        now = self._clock() if now is None else now
        self._next_start[host] = max(self._next_start.get(host, 0.0), now + self.delay_for(host))

    def delay_for(self, host: str) -> float:
        return max(self.delay, self._host_delay.get(host, 0.0))

    def ready(self, host: str, now: float | None = None) -> bool:
        now = self._clock() if now is None else now
        return self.in_flight[host] < self.per_host and now >= self._next_start.get(host, 0.0)

    def wait_for_pages(self, demand: dict[str, int]) -> None:
        """How many of each host's slots the master's pages wait for (no more than it has page
        threads free to fetch them): see ready_for_image."""
        self._page_demand = demand

    def ready_for_image(self, host: str, pending: int, now: float | None = None) -> bool:
        """May an image task for host start, `pending` of its images waiting? As `ready`, except
        that while fewer than 2 x per_host of the host's images wait, the slots its pages wait
        for are theirs: pages are where images come from. Images taking every slot that came
        free left the master's pages to the moments the images ran out, and the slots then
        stood empty while the next pages were fetched and parsed (a tenth of the 50 ms
        benchmark's slot time). Once enough images wait, they go first again, so that on a
        site of many pages images do not wait for all of them."""
        if not self.ready(host, now):
            return False
        reserved = self._page_demand.get(host, 0)
        return not reserved or pending >= 2 * self.per_host or self.in_flight[host] + reserved < self.per_host

    def full(self, host: str) -> bool:
        """Are all of host's slots taken?"""
        return self.in_flight[host] >= self.per_host

    def room_beyond(self, host: str, reserved: int) -> bool:
        """Is a slot of host free beyond the `reserved` that others wait for? Asked before a
        task goes to a worker's queue rather than a free thread of it (master/board/waiting.py)."""
        return self.in_flight[host] + reserved < self.per_host

    def start(self, host: str, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        self.in_flight[host] += 1
        delay = self.delay_for(host)
        if delay:
            self._next_start[host] = now + delay

    def try_start(self, host: str) -> bool:
        now = self._clock()
        if not self.ready(host, now):
            return False
        self.start(host, now)
        return True

    def finish(self, host: str) -> None:
        if self.in_flight[host] > 0:
            self.in_flight[host] -= 1
            if not self.in_flight[host]:
                del self.in_flight[host]
