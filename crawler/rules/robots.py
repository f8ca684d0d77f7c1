"""robots.txt: fetched once per origin, honoured for pages and images, Crawl-delay included.

A missing robots.txt (any 4xx) allows everything. One that answers 5xx or times out defers
its origin (RFC 9309, 2.3.1.3): its pages and images wait, alone, and the fetch is tried again
with backoff (or when the server's Retry-After says), rather than crawling blind; after
`MAX_TRIES` the origin is given up (`robots-unavailable`). An origin where nothing answers
(the connection is refused, or the host name does not resolve) is given up at once
(`unreachable`): waiting would only hold its URLs, never fetch them. Parsing is protego's
(Scrapy's robots.txt parser).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

from .urls import normalize_url

MAX_TRIES = 4
RETRY_SECONDS = 5.0
RETRY_AFTER_RANGE = (1.0, 60.0)  # a server's Retry-After is honoured within these bounds
MAX_ROBOTS_BYTES = 512 * 1024

UNKNOWN, PENDING, READY, DEFERRED, GIVEN_UP = "unknown", "pending", "ready", "deferred", "given-up"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class _Origin:
    state: str = UNKNOWN
    parser: Protego | None = None  # None when READY: everything is allowed
    tries: int = 0
    retry_at: float = 0.0
    reason: str = ""  # why it was given up: robots-unavailable or unreachable
    error: str = ""   # the last fetch's error, in words


class Robots:
    def __init__(self, user_agent: str, *, ignore: bool = False, clock: Callable[[], float] = time.monotonic):
        self.user_agent = user_agent
        self.ignore = ignore
        self._clock = clock
        self._origins: dict[str, _Origin] = {}

    def verdict(self, url: str) -> bool | None:
        """True: may fetch; False: disallowed (or the origin's robots.txt was given up); None: not known yet."""
        if self.ignore:
            return True
        entry = self._origins.get(origin_of(url))
        if entry is None or entry.state in (UNKNOWN, PENDING, DEFERRED):
            if entry is None:
                self._origins[origin_of(url)] = _Origin()
            return None
        if entry.state == GIVEN_UP:
            return False
        return entry.parser is None or entry.parser.can_fetch(url, self.user_agent)

    def given_up(self, url: str) -> bool:
        entry = self._origins.get(origin_of(url))
        return entry is not None and entry.state == GIVEN_UP

    def failure(self, url: str) -> tuple[str, str] | None:
        """(reason, error) for a URL whose origin was given up; None otherwise."""
        entry = self._origins.get(origin_of(url))
        if entry is None or entry.state != GIVEN_UP:
            return None
        return entry.reason, entry.error

    def sitemaps(self, origin: str) -> list[str] | None:
        """The sitemaps origin's robots.txt names (`Sitemap:` lines, resolved): None while its
        robots.txt is not known (asking starts its fetch, as `verdict` does); [] when it names
        none, is missing or ignored, or the origin was given up (see `given_up`)."""
        if self.ignore:
            return []
        entry = self._origins.get(origin)
        if entry is None or entry.state in (UNKNOWN, PENDING, DEFERRED):
            if entry is None:
                self._origins[origin] = _Origin()
            return None
        if entry.parser is None:
            return []
        found = (normalize_url(s, base=origin + "/robots.txt") for s in entry.parser.sitemaps)
        return list(dict.fromkeys(u for u in found if u is not None))

    def due(self) -> list[str]:
        """Origins whose robots.txt should be fetched now; they become pending."""
        now = self._clock()
        out = []
        for origin, entry in self._origins.items():
            if entry.state == UNKNOWN or (entry.state == DEFERRED and now >= entry.retry_at):
                entry.state = PENDING
                out.append(origin)
        return out

    def not_started(self, origin: str) -> None:
        """A due fetch could not start yet (the host's limits): try again on the next round."""
        entry = self._origins[origin]
        entry.state = UNKNOWN if entry.tries == 0 else DEFERRED

    def fetched(self, origin: str, status: int | None, body: bytes | None, *, error: str = "",
                unreachable: bool = False, retry_after: float | None = None) -> float | None:
        """Record a fetch: status None for a connection failure or timeout, `unreachable` when
        nothing answers at all. Returns a Crawl-delay, if any."""
        entry = self._origins[origin]
        entry.tries += 1
        entry.error = error
        if unreachable:
            entry.state, entry.reason = GIVEN_UP, "unreachable"
            return None
        if status is not None and 200 <= status < 300:
            entry.state = READY
            entry.parser = Protego.parse((body or b"").decode("utf-8", "replace"))
            delay = entry.parser.crawl_delay(self.user_agent)
            return float(delay) if delay else None
        if status is not None and 400 <= status < 500:
            entry.state, entry.parser = READY, None  # no robots.txt: everything is allowed
            return None
        if entry.tries >= MAX_TRIES:
            entry.state, entry.reason = GIVEN_UP, "robots-unavailable"
        else:
            entry.state = DEFERRED
            wait = RETRY_SECONDS * 2 ** (entry.tries - 1)
            if retry_after is not None:  # the server says when to come back: believe it, within reason
                wait = min(max(retry_after, RETRY_AFTER_RANGE[0]), RETRY_AFTER_RANGE[1])
            entry.retry_at = self._clock() + wait
        return None
