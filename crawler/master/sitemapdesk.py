"""SitemapDesk: the sitemaps a crawl reads, a second queue beside the pages.

Which sitemaps to read comes from SitemapPlan (sitemaps.py: robots.txt's Sitemap lines, or the
guessed /sitemap.xml); they wait per origin in their own PageQueue, as pages do, and count
against --max-pages (Frontier.take_sitemap). A sitemap read gives pages (at depth 1, as a
seed's links) and their images, and maybe more sitemaps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..config import CrawlConfig
from ..page import sitemap
from ..rules.pagequeue import PageQueue
from ..rules.robots import Robots
from ..store.journal import Snapshot
from .frontier import Frontier
from .record import CrawlRecord
from .sitemaps import CHILD, TOP, SitemapOutcome, SitemapPlan
from .stats import Summary

log = logging.getLogger("crawler.master")


class SitemapDesk:
    def __init__(self, cfg: CrawlConfig, robots: Robots, frontier: Frontier, record: CrawlRecord,
                 summary: Summary, add_image: Callable[[str, str | None, str | None], None]):
        self.cfg = cfg
        self.robots = robots
        self.frontier = frontier
        self.record = record
        self.summary = summary
        self.add_image = add_image  # the master's: a task for the image, admitted as robots.txt says
        self.plan = SitemapPlan(robots, enabled=cfg.sitemaps)
        self.queue = PageQueue()  # sitemaps to read (url, level), waiting per origin as pages do

    def restore(self, snap: Snapshot) -> None:
        self.plan.seen |= snap.sitemaps_seen
        self.queue.extend(snap.sitemaps_queued)

    def want(self, origin: str) -> None:
        """The origin's sitemaps, once it is known to have pages (and its robots.txt lines)."""
        for url in self.plan.want(origin):
            self._add(url, TOP)

    def settled(self, origin: str) -> None:
        """The origin's robots.txt is known: the sitemaps it names, or the guessed one."""
        for url in self.plan.settled(origin):
            self._add(url, TOP)

    def _add(self, url: str, level: int) -> None:
        if not self.frontier.take_sitemap():
            return
        self.queue.append(url, level)
        self.record.journal.sitemap_queued(url, level)

    def fetched(self, outcome: SitemapOutcome) -> None:
        """A sitemap's pages enter at depth 1, as a seed's links would; its images are taken
        as the images of those pages, when the pages are in the crawl's scope and depth."""
        journal = self.record.journal
        journal.sitemap_finished(outcome.url, outcome.level, ok=not outcome.error)
        self.plan.record(outcome)
        self.summary.sitemaps = self.plan.counts.line()
        if outcome.error or outcome.sitemap is None:  # read without an error, it has its sitemap
            return
        for url in self.plan.children(outcome):
            self._add(url, CHILD)
        for entry in outcome.sitemap.pages:
            if self.cfg.max_depth >= 1:
                self.frontier.add(entry.loc, 1)
            else:
                self.frontier.drop(entry.loc, 1)
            in_crawl = entry.images and self.page_in_crawl(entry.loc)
            for image in entry.images:
                if in_crawl and self.frontier.scope.image_allowed(image, same_host_only=self.cfg.same_host_images):
                    self.add_image(image, entry.loc, sitemap.SOURCE)
                else:
                    journal.image_dropped(image, entry.loc, sitemap.SOURCE)

    def page_in_crawl(self, page: str | None) -> bool:
        return page is not None and page != "" and self.cfg.max_depth >= 1 and self.frontier.scope.page_in_scope(page)

    def skip(self, url: str, level: int) -> None:
        """A sitemap robots.txt keeps us from."""
        self.record.journal.sitemap_finished(url, level, ok=False)
        failure = self.robots.failure(url)
        log.info("not reading sitemap %s: %s", url, "robots.txt disallows it" if failure is None else failure[1])
