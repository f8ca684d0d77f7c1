"""How many downloads a worker runs at once: as many as hide the network's wait, no more.

A worker process runs Python on one core at a time (the GIL). Downloads that wait on a
distant server overlap well: while one waits, another runs. Downloads from a fast server
barely wait at all, and then more threads only queue for the GIL: each hand-over costs
system calls and context switches, and every download takes longer.

Little's law gives the number that is enough. If a download needs `cpu` seconds of this
process's time and then waits `wait` seconds on the network with nothing to do, one
download on the CPU and `wait / cpu` others waiting keep both busy. So the limit is
`1 + ceil(wait / cpu)`, between a floor of 2 (one download's wait then hides behind the
other's work) and `--threads`.

`wait` is what the network alone costs, not what queueing in this process adds: a
download's wall time minus the CPU its thread used counts both, but the smallest of a
host's recent waits is (nearly) the network alone. Taking the host's recent minimum, not
its mean, keeps a host with jittery latency at full concurrency: jitter raises the mean,
not the minimum. Minima are kept per host over two windows of WINDOW downloads, so a
host that became slower is seen as slower within 2 × WINDOW downloads.

Over loopback a download's CPU outweighs its host's smallest wait, so the limit is the
floor, 2; with a server 50 ms away it is `--threads`.
"""

from __future__ import annotations

import math
import threading

WINDOW = 50           # downloads per host per minimum window
SMOOTHING = 0.05      # weight of a new download in the running means
MAX_HOSTS = 4096      # hosts whose minima are kept; past that, the oldest are forgotten


class LimitEstimator:
    """The limit from completed downloads' (host, wall seconds, CPU seconds). Not thread-safe:
    the gate calls it under its lock."""

    def __init__(self, ceiling: int):
        self.ceiling = max(1, ceiling)
        self.floor = min(2, self.ceiling)
        self.limit = self.ceiling  # until downloads say otherwise: a slow site loses nothing
        self.lowest = self.highest = self.limit  # the range the limit has moved in
        self._cpu: float | None = None  # running mean of CPU per download; None before the first
        self._wait = 0.0                # running mean of the downloads' hosts' minimum waits
        self._minima: dict[str, list] = {}  # host -> [current window's min, previous window's min, count]

    def observe(self, host: str, wall: float, cpu: float) -> int:
        """Record one download; return the new limit."""
        base = self._host_wait(host, max(0.0, wall - cpu))
        cpu = max(cpu, 1e-6)
        if self._cpu is None:
            self._cpu, self._wait = cpu, base
        else:
            self._cpu += SMOOTHING * (cpu - self._cpu)
            self._wait += SMOOTHING * (base - self._wait)
        self.limit = max(self.floor, min(self.ceiling, 1 + math.ceil(self._wait / self._cpu)))
        self.lowest, self.highest = min(self.lowest, self.limit), max(self.highest, self.limit)
        return self.limit

    def _host_wait(self, host: str, wait: float) -> float:
        m = self._minima.get(host)
        if m is None:
            if len(self._minima) >= MAX_HOSTS:
                del self._minima[next(iter(self._minima))]
            m = self._minima[host] = [wait, wait, 0]
        m[0] = min(m[0], wait)
        m[2] += 1
        if m[2] >= WINDOW:  # a new window: the old minimum counts for one more window
            m[1], m[0], m[2] = m[0], math.inf, 0
        return min(m[0], m[1])


class DownloadGate:
    """At most `limit` downloads at once, the limit moving with LimitEstimator.

    A thread enters once and keeps its slot from one download to the next for as long as
    the limit allows (`keep`): threads beyond the limit sleep until it grows, rather than
    all of them taking turns, which would wake a sleeping thread for every download.
    """

    def __init__(self, ceiling: int):
        self.estimator = LimitEstimator(ceiling)
        self._running = 0
        self._cond = threading.Condition()

    @property
    def limit(self) -> int:
        return self.estimator.limit

    def enter(self) -> None:
        """Wait for a free slot, and take it."""
        with self._cond:
            while self._running >= self.estimator.limit:
                self._cond.wait()
            self._running += 1

    def keep(self, sample: tuple[str, float, float] | None) -> bool:
        """After a download: record its (host, wall seconds, CPU seconds), if any. True when the
        thread keeps its slot for the next one; False when the limit fell and the slot is gone."""
        with self._cond:
            before = self.estimator.limit
            if sample is not None:
                self.estimator.observe(*sample)
            limit = self.estimator.limit
            if limit > before:
                self._cond.notify(limit - before)
            if self._running > limit:
                self._running -= 1
                return False
            return True

    def leave(self) -> None:
        """Give the slot back."""
        with self._cond:
            self._running -= 1
            self._cond.notify()
