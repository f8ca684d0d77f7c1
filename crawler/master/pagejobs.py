"""PageJobs: the master's own fetches (pages, sitemaps, robots.txt) in a small thread pool.

`dispatch` starts what robots.txt and the hosts' limits allow, never more jobs than there are
threads; each job takes its host's slot on the board and frees it once its request is over,
and leaves its outcome for the master's loop (`take`), waking it. Pages are fetched and parsed
by `process_page`, here or in PageParser's processes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..config import CrawlConfig
from ..errors import FetchError, UnreachableError
from ..net import fetch, transport
from ..net.netguard import NetPolicy
from ..page import extract, htmltree
from ..rules import imagetype, urls
from ..rules.pagequeue import PageQueue
from ..rules.robots import MAX_ROBOTS_BYTES, Robots
from .board import ResultInbox, TaskBoard
from .parsing import PageParser
from .sitemaps import SitemapOutcome, sitemap_job

log = logging.getLogger("crawler.master")


@dataclass
class PageOutcome:
    url: str
    depth: int
    final_url: str | None = None
    links: list[str] = field(default_factory=list)
    images: list[extract.ImageRef] = field(default_factory=list)
    error: str | None = None
    reason: str | None = None
    image_itself: bool = False  # the "page" turned out to be an image: download it as one


@dataclass
class RobotsOutcome:
    origin: str
    host: str
    status: int | None
    body: bytes | None = None
    error: str | None = None
    retry_after: float | None = None
    unreachable: bool = False  # refused, or the name does not resolve: give the origin up at once


Outcome = PageOutcome | RobotsOutcome | SitemapOutcome


def fetch_with_retries(client, url: str, cfg: CrawlConfig, *, sleep=time.sleep) -> fetch.Page:
    """fetch_page, retried like image downloads are (connection errors, timeouts, 408, 429, 5xx)."""
    return fetch.with_retries(lambda: fetch.fetch_page(client, url, max_bytes=cfg.max_page_bytes, timeout=cfg.timeout),
                              url, cfg.retries, sleep=sleep)


def process_page(client, url: str, depth: int, cfg: CrawlConfig,
                 fetched: Callable[[], None] | None = None, parser: PageParser | None = None) -> PageOutcome:
    """Fetch one page and extract its links and images (in this thread, or by `parser`'s
    processes); `fetched` is called once the request is over (answered or failed), before
    parsing. Never raises."""
    try:
        page = fetch_with_retries(client, url, cfg)
    except FetchError as exc:
        return PageOutcome(url, depth, final_url=exc.final_url, error=str(exc), reason=exc.reason)
    except Exception as exc:  # a bug costs one page, not the crawl
        log.exception("unexpected error fetching page %s", url)
        return PageOutcome(url, depth, error=f"internal error: {exc}", reason="internal")
    finally:
        if fetched is not None:
            fetched()
    out = PageOutcome(url, depth, final_url=page.final_url)
    if not page.is_html:
        ctype = imagetype.media_type(page.content_type)
        out.image_itself = ctype.startswith("image/")
        log.debug("not parsing %s: Content-Type %s", url, ctype or "missing")
        return out
    if page.truncated:
        log.warning("page %s is larger than %d bytes; parsed the first part only", url, cfg.max_page_bytes)
    try:
        found = (parser or _IN_THREAD).parse(page.body, page.charset, page.final_url, cfg.srcset)
    except Exception as exc:
        log.exception("unexpected error parsing page %s", url)
        return PageOutcome(url, depth, error=f"internal error: {exc}", reason="internal")
    if found.cut:
        log.warning("page %s has more than %d elements; took links and images from the first %d only",
                    url, htmltree.MAX_ELEMENTS, htmltree.MAX_ELEMENTS)
    out.links, out.images = found.links, found.images
    return out


_IN_THREAD = PageParser(0)


class PageJobs:
    def __init__(self, cfg: CrawlConfig, board: TaskBoard, inbox: ResultInbox, policy: NetPolicy,
                 http: transport.Options):
        self.cfg = cfg
        self.board = board
        self.inbox = inbox  # woken when a job is done: the loop may be waiting for results
        self.policy = policy
        self.http = http
        self.in_flight = 0  # page, sitemap and robots.txt fetches in the pool
        self.robots_in_flight = 0  # of which robots.txt fetches
        self._results: deque[Outcome] = deque()
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(cfg.page_threads, thread_name_prefix="page")  # threads start with the first job
        self._parser = _IN_THREAD  # until start()

    def start(self) -> None:
        """Before the first dispatch: the parser's processes (--page-processes) start with the crawl."""
        self._parser = PageParser(self.cfg.page_processes)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._parser is not _IN_THREAD:
            self._parser.close()

    def idle(self) -> bool:
        """No job running and no outcome waiting to be taken."""
        return not self.in_flight and not self._results

    def take(self) -> Outcome | None:
        """The next finished job's outcome, if there is one."""
        if not self._results:
            return None
        done = self._results.popleft()
        self.in_flight -= 1
        if isinstance(done, RobotsOutcome):
            self.robots_in_flight -= 1
        return done

    def dispatch(self, robots: Robots, sitemaps: PageQueue, skip_sitemap: Callable[[str, int], None],
                 pages: PageQueue, skip_page: Callable[[str, int], None]) -> None:
        """Start robots.txt, sitemap and page fetches that robots.txt and the hosts' limits allow.

        A job takes its host's slot when it is submitted, so no more are submitted than
        there are threads to run them: a job waiting for a thread would hold a slot with
        no request in flight, and at the start of a crawl, when pages are plentiful, it
        kept images from half of a host's slots.
        """
        pool, cap = self._pool, self.cfg.page_threads
        for origin in robots.due():
            host = urls.host_of(origin)
            if self.in_flight < cap and self.board.try_start(host):
                self.in_flight += 1
                self.robots_in_flight += 1
                pool.submit(self._robots_job, origin, host)
            else:
                robots.not_started(origin)
        budget = 256  # pages looked at per turn of the loop
        waiting: dict[str, int] = {}  # host -> pages and sitemaps that could start but for its limits
        budget = self._dispatch_queue(robots, sitemaps, self._sitemap_job, skip_sitemap, budget, waiting)
        self._dispatch_queue(robots, pages, self._page_job, skip_page, budget, waiting)
        free = cap - self.in_flight
        self.board.wait_for_pages({h: min(n, free) for h, n in waiting.items()} if free > 0 else {})

    def _dispatch_queue(self, robots: Robots, queue: PageQueue, job, skip, budget: int,
                        waiting: dict[str, int]) -> int:
        """Start `job`s for the queue's URLs (pages or sitemaps) as robots.txt and the hosts'
        limits allow; `skip` those robots.txt keeps us from; count in `waiting` those a host's
        limits hold back. Returns the budget left."""
        pool, cap = self._pool, self.cfg.page_threads
        for origin in queue.origins(budget):
            host = urls.host_of(origin)
            while self.in_flight < cap and budget and origin in queue:
                budget -= 1
                url, depth = queue.peek(origin)
                verdict = robots.verdict(url)
                if verdict is None:  # robots.txt not known yet: this origin waits, alone
                    queue.park(origin)
                    break
                if verdict is False:
                    queue.pop(origin)
                    skip(url, depth)
                    continue
                if not self.board.try_start(host):
                    waiting[host] = waiting.get(host, 0) + queue.waiting(origin)
                    break  # the host's limits: its other origins find it full too, soon enough
                queue.pop(origin)
                self.in_flight += 1
                pool.submit(job, url, depth, host)
            if self.in_flight >= cap or not budget:
                break
        return budget

    def _client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = fetch.new_client(self.cfg.user_agent, self.policy, self.http)
        return client

    def _page_job(self, url: str, depth: int, host: str) -> None:
        released = False

        def release() -> None:  # the host's slot is free once the page is fetched, before parsing
            nonlocal released
            if not released:
                released = True
                self.board.finish(host)

        try:
            self._results.append(process_page(self._client(), url, depth, self.cfg, fetched=release,
                                              parser=self._parser))
        finally:
            release()
            self.inbox.wake()

    def _sitemap_job(self, url: str, level: int, host: str) -> None:
        try:
            self._results.append(sitemap_job(self._client(), url, level, timeout=self.cfg.timeout,
                                             retries=self.cfg.retries))
        finally:
            self.board.finish(host)
            self.inbox.wake()

    def _robots_job(self, origin: str, host: str) -> None:
        try:
            page = fetch.fetch_page(self._client(), origin + "/robots.txt", max_bytes=MAX_ROBOTS_BYTES,
                                    timeout=self.cfg.timeout)
            outcome = RobotsOutcome(origin, host, page.status, page.body)
        except FetchError as exc:
            if exc.reason in ("blocked-address", "tls"):  # its pages and images fail anyway, with that reason
                outcome = RobotsOutcome(origin, host, 404)
            elif exc.reason == "http-status" and exc.status:
                outcome = RobotsOutcome(origin, host, exc.status, error=str(exc), retry_after=exc.retry_after)
            else:
                outcome = RobotsOutcome(origin, host, None, error=str(exc),
                                        unreachable=isinstance(exc, UnreachableError))
        except Exception as exc:  # a bug: treat as unreachable, so it is retried and then given up
            log.exception("unexpected error fetching %s/robots.txt", origin)
            outcome = RobotsOutcome(origin, host, None, error=f"internal error: {exc}")
        finally:
            self.board.finish(host)
        self._results.append(outcome)
        self.inbox.wake()  # after the append: woken before it, the loop found nothing and waited a turn

