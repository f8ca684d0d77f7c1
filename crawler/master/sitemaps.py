"""The master's sitemaps: which to read for an origin, reading one through the fetch layer,
and saying what came of it.

For each origin the crawl fetches pages from: the `Sitemap:` lines of its robots.txt, or
`/sitemap.xml` when robots.txt names none (or is missing, or ignored). An index's sitemaps
are read too, one level deep: an index listed in an index is refused, as the protocol allows
no more. Every sitemap is fetched like a page (the SSRF guard, robots.txt, per-host limits,
retries) and counts against --max-pages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import FetchError, SitemapError
from ..net import fetch
from ..page.sitemap import MAX_BYTES, MAX_IMAGES_PER_PAGE, Sitemap, SitemapReader, sniff
from ..rules.robots import Robots, origin_of

log = logging.getLogger(__name__)

ACCEPT = "application/xml,text/xml;q=0.9,*/*;q=0.5"
GUESS = "/sitemap.xml"
TOP, CHILD = 0, 1  # levels: named by robots.txt (or guessed), and listed in an index


@dataclass
class SitemapOutcome:
    url: str
    level: int
    sitemap: Sitemap | None = None
    error: str | None = None
    reason: str | None = None  # http-status, refused, nested-index, ...

    @property
    def guessed(self) -> bool:
        """Was it the /sitemap.xml we try where robots.txt names none? (Its absence is no news.)"""
        return self.level == TOP and self.url == origin_of(self.url) + GUESS


def read_sitemap(client: fetch.Client, url: str, *, timeout: float) -> Sitemap:
    """Fetch and read one sitemap, streaming: what it lists. FetchError or SitemapError."""
    with fetch.open_body(client, url, max_bytes=MAX_BYTES, timeout=timeout, accept=ACCEPT) as body:
        return _read(body)


def _read(body: fetch.Body) -> Sitemap:
    reader = SitemapReader(body.final_url)
    reader.feed(body.head)
    try:
        for chunk in body.rest():
            reader.feed(chunk)
    except fetch.TooLargeError:
        raise SitemapError(f"larger than {MAX_BYTES // (1024 * 1024)} MB (the sitemap protocol's limit)") from None
    return reader.close()


def fetch_page_or_sitemap(client: fetch.Client, url: str, *, max_page_bytes: int,
                          timeout: float) -> fetch.Page | Sitemap:
    """What `crawler extract` shows of a URL: a sitemap if its first bytes say so
    (`sitemap.sniff`), else a page, read as the crawl reads one. FetchError or SitemapError."""
    with fetch.open_body(client, url, max_bytes=2**62, timeout=timeout, accept=fetch.PAGE_ACCEPT) as body:
        # the reader's own cap (MAX_BYTES uncompressed) bounds a sitemap; a page is cut at max_page_bytes
        if sniff(body.head, body.content_type, urlsplit(body.final_url).path):
            return _read(body)
        return fetch.read_page(body, max_page_bytes)


def read_file_page_or_sitemap(path: Path, base: str, max_page_bytes: int) -> bytes | Sitemap:
    """The same for a local file: a sitemap (read against `base`), else the page's first bytes."""
    with open(path, "rb") as f:
        head = f.read(fetch.HEAD_BYTES)
        if not sniff(head, None, path.name):
            return head + f.read(max(0, max_page_bytes - len(head)))
        reader = SitemapReader(base)
        while head:
            reader.feed(head)
            head = f.read(fetch.CHUNK)
        return reader.close()


def sitemap_job(client: fetch.Client, url: str, level: int, *, timeout: float, retries: int,
                sleep: Callable[[float], None] = time.sleep) -> SitemapOutcome:
    """Read one sitemap (retried as pages are) and judge it. Never raises."""
    try:
        found = fetch.with_retries(lambda: read_sitemap(client, url, timeout=timeout), url, retries,
                                   what="sitemap", sleep=sleep)
    except FetchError as exc:
        return SitemapOutcome(url, level, error=str(exc), reason=exc.reason)
    except SitemapError as exc:
        return SitemapOutcome(url, level, error=f"refused: {exc}", reason="refused")
    except Exception as exc:  # a bug costs one sitemap, not the crawl
        log.exception("unexpected error reading sitemap %s", url)
        return SitemapOutcome(url, level, error=f"internal error: {exc}", reason="internal")
    if found.kind == "sitemapindex" and level != TOP:
        return SitemapOutcome(url, level, found, error="refused: a sitemap index listed in a sitemap index "
                                                       "(the protocol allows one level)", reason="nested-index")
    if found.kind == "unknown" or (found.problem and not (found.pages or found.sitemaps)):
        return SitemapOutcome(url, level, found, error=found.problem, reason="not-a-sitemap")
    return SitemapOutcome(url, level, found)


@dataclass
class SitemapCounts:
    """What sitemaps gave a crawl, for its summary."""

    read: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    pages: int = 0  # pages listed (in scope or not)
    images: int = 0  # images listed

    def line(self) -> str | None:
        failed = sum(self.failed.values())
        if not self.read and not failed:
            return None
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(self.failed.items(), key=lambda kv: -kv[1]))
        return (f"sitemaps: {self.read} read, listing {self.pages} pages and {self.images} images"
                + (f"; {failed} not read ({reasons})" if failed else ""))


class SitemapPlan:
    """Which origins have had their sitemaps looked for, and which sitemaps are known.

    An origin is looked at once its robots.txt is known (asking the Robots for it starts
    its fetch); until then it waits in `awaiting`."""

    def __init__(self, robots: Robots, enabled: bool = True):
        self.robots = robots
        self.enabled = enabled
        self.seen: set[str] = set()  # sitemap URLs queued or read, in this run or one before
        self._origins: set[str] = set()  # looked at
        self._awaiting: set[str] = set()  # waiting for their robots.txt
        self.counts = SitemapCounts()

    def want(self, origin: str) -> list[str]:
        """Look for origin's sitemaps: the new sitemap URLs to read now ([] if none, or if
        its robots.txt is still to come; `settled` gives them then)."""
        if not self.enabled or origin in self._origins:
            return []
        named = self.robots.sitemaps(origin)
        if named is None:
            self._awaiting.add(origin)
            return []
        self._origins.add(origin)
        self._awaiting.discard(origin)
        if self.robots.given_up(origin + "/"):
            return []
        return self._new(named or [origin + GUESS])

    def settled(self, origin: str) -> list[str]:
        """origin's robots.txt is known: its sitemaps, if it was waiting for that."""
        return self.want(origin) if origin in self._awaiting else []

    def children(self, outcome: SitemapOutcome) -> list[str]:
        """The sitemaps an index lists that are new."""
        return self._new(outcome.sitemap.sitemaps) if outcome.sitemap and outcome.level == TOP else []

    def _new(self, urls: list[str]) -> list[str]:
        fresh = [u for u in urls if u not in self.seen]
        self.seen.update(fresh)
        return fresh

    def record(self, outcome: SitemapOutcome) -> None:
        """Count the outcome and say it in one line."""
        found, counts = outcome.sitemap, self.counts
        if outcome.error or found is None:  # an outcome without a sitemap carries its error
            if outcome.guessed and outcome.reason in ("http-status", "not-a-sitemap"):
                log.info("no sitemap at %s (%s)", outcome.url, outcome.error)  # no news: not counted
                return
            counts.failed[outcome.reason or "error"] = counts.failed.get(outcome.reason or "error", 0) + 1
            log.warning("sitemap %s not read: %s", outcome.url, outcome.error)
            return
        counts.read += 1
        counts.pages += len(found.pages)
        counts.images += found.images
        what = (f"{len(found.sitemaps)} sitemaps" if found.kind == "sitemapindex"
                else f"{len(found.pages)} pages and {found.images} images")
        log.info("sitemap %s (%s): %s", outcome.url, found.kind, what)
        if found.problem:
            log.warning("sitemap %s: %s; took what came before", outcome.url, found.problem)
        if found.skipped:
            log.info("sitemap %s: %d entries are not http(s) URLs; skipped", outcome.url, found.skipped)
        if found.images_cut:
            log.warning("sitemap %s: left out %d images past %d on one page", outcome.url, found.images_cut,
                        MAX_IMAGES_PER_PAGE)
