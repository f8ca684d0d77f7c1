"""Frontier: the pages the crawl has seen and those waiting to be fetched.

It decides whether a link becomes a page to fetch: the scope rules (a seed is fetched even
outside them), --max-pages-per-host, and --max-pages, which counts the sitemaps read as well
(`take_sitemap`). A link left out is kept in the journal for a later run with wider limits.
"""

from __future__ import annotations

import logging
from collections import Counter

from ..config import CrawlConfig
from ..rules import urls
from ..rules.pagequeue import PageQueue
from ..store.journal import Snapshot
from .record import CrawlRecord

log = logging.getLogger("crawler.master")


class Frontier:
    def __init__(self, cfg: CrawlConfig, scope: urls.Scope, record: CrawlRecord):
        self.cfg = cfg
        self.scope = scope
        self.record = record
        self.pages = PageQueue()
        self.seen: set[str] = set()
        self._per_host: Counter = Counter()
        self._sitemaps = 0  # sitemaps queued or read: they count against --max-pages
        self._max_pages_warned = False

    def __len__(self) -> int:
        """Pages waiting to be fetched."""
        return len(self.pages)

    def restore(self, snap: Snapshot) -> None:
        self.seen = snap.pages_seen
        self.pages.extend(snap.pages_queued)
        self._sitemaps = len(snap.sitemaps_seen)

    def add(self, url: str, depth: int, *, seed: bool = False) -> None:
        """Queue a page. A seed is the user's explicit choice and is fetched even where the
        scope rules (--include, --exclude) would leave it out: they apply to the links found."""
        if url in self.seen:
            return
        journal = self.record.journal
        left_out = self.scope.page_left_out(url)
        if left_out and not seed:
            journal.page_dropped(url, depth)  # for a later run with a wider scope
            return
        host = urls.host_of(url)
        if self._per_host[host] >= self.cfg.max_pages_per_host:
            if self._per_host[host] == self.cfg.max_pages_per_host:
                self._per_host[host] += 1  # warn once per host
                log.warning("reached --max-pages-per-host %d on %s; not following more links there",
                            self.cfg.max_pages_per_host, host)
            journal.page_dropped(url, depth)
            return
        if self._used() >= self.cfg.max_pages:
            self._max_pages_reached()
            journal.page_dropped(url, depth)
            return
        if left_out:
            log.info("seed %s is outside the scope rules (%s); fetching it anyway: they apply to the "
                     "links found", url, left_out)
        self.seen.add(url)
        self._per_host[host] += 1
        self.pages.append(url, depth)
        journal.page_queued(url, depth)

    def take_dropped(self) -> None:
        """The crawl's limits changed: the links the old ones left out are offered again."""
        for url, depth in self.record.journal.dropped_pages():
            if depth <= self.cfg.max_depth and url not in self.seen and self.scope.page_in_scope(url):
                self.add(url, depth)

    def drop(self, url: str, depth: int) -> None:
        """A link beyond --max-depth: kept in the journal, for a later run that goes deeper."""
        if url not in self.seen:
            self.record.journal.page_dropped(url, depth)

    def take_sitemap(self) -> bool:
        """Count a sitemap against --max-pages; False once that is reached."""
        if self._used() >= self.cfg.max_pages:
            self._max_pages_reached()
            return False
        self._sitemaps += 1
        return True

    def _used(self) -> int:
        """Pages and sitemaps queued or fetched: what --max-pages counts."""
        return len(self.seen) + self._sitemaps

    def _max_pages_reached(self) -> None:
        if not self._max_pages_warned:
            self._max_pages_warned = True
            log.warning("reached --max-pages %d; not following more links", self.cfg.max_pages)
