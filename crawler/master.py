"""The master: crawl pages, hand image URLs out as leased tasks, record every result.

One loop owns all crawl state (frontier, outstanding tasks, counters); page fetching and
parsing run in a small thread pool, and the manager's server threads only touch the
TaskBoard and ResultInbox, which carry their own locks.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import Counter, defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .board import ResultInbox, Task, TaskBoard
from .config import EXIT_STATE_UNWRITABLE, MANIFEST_NAME, MAX_CRAWL_DELAY, STATE_DIRNAME, CrawlConfig
from .errors import FetchError, StateWriteError, UnreachableError
from .link.manager import Served, format_address, serve
from .net import fetch, httpopts, transport
from .net.netguard import NetPolicy
from .page import extract, htmltree, sitemap
from .parsing import PageParser
from .progress import LineProgress
from .rules import naming, urls
from .rules.messages import InvalidMessage, make_task, validate_result
from .rules.pagequeue import PageQueue
from .rules.politeness import HostGate
from .rules.robots import MAX_ROBOTS_BYTES, Robots, origin_of
from .sitemaps import CHILD, TOP, SitemapOutcome, SitemapPlan, sitemap_job
from .store import manifest
from .store import refresh as refresh_
from .store.journal import Journal
from .workerwatch import WorkerWatch

log = logging.getLogger(__name__)

JOURNAL_NAME = "state.sqlite"
TICK_SECONDS = 0.1  # progress, status and the workers-gone check, at most this often
LOOP_WAIT = 0.05  # the longest the loop waits for results; a page or robots.txt done wakes it at once
STOP_GRACE_SECONDS = 5.0
"""After the crawl ends (or Ctrl-C), how long to wait for workers to collect the stop message."""


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


@dataclass
class Summary:
    pages_ok: int = 0
    pages_failed: Counter = field(default_factory=Counter)
    pages_skipped: Counter = field(default_factory=Counter)
    images_ok: int = 0
    images_failed: Counter = field(default_factory=Counter)
    bytes: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    changes: Counter = field(default_factory=Counter)  # a refresh: change -> images (refresh.CHANGES)
    sitemaps: str | None = None  # what sitemaps gave, in words (SitemapCounts.line)

    def lines(self) -> list[str]:
        rate = self.images_ok / self.seconds if self.seconds > 0 else 0.0
        failed = sum(self.images_failed.values())
        skipped = sum(self.pages_skipped.values())
        out = [f"pages: {self.pages_ok} fetched, {sum(self.pages_failed.values())} failed"
               + _reasons(self.pages_failed) + (f", {skipped} skipped" + _reasons(self.pages_skipped) if skipped else ""),
               f"images: {self.images_ok} ok, {failed} failed" + _reasons(self.images_failed),
               f"bytes: {self.bytes:,} ({self.bytes / 1e6:.1f} MB) in {self.seconds:.1f} s, "
               f"{rate:.1f} images/s, {self.bytes / 1e6 / max(self.seconds, 1e-9):.1f} MB/s"]
        if self.sitemaps:
            out.insert(1, self.sitemaps)
        if self.changes:
            out.append("refresh: " + ", ".join(f"{self.changes[c]} {c}" for c in refresh_.CHANGES if self.changes[c]))
        return out


def _reasons(counter: Counter) -> str:
    if not counter:
        return ""
    return " (" + ", ".join(f"{reason} {n}" for reason, n in counter.most_common()) + ")"


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
        ctype = (page.content_type or "").split(";")[0].strip().lower()
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


class Master:
    def __init__(self, cfg: CrawlConfig, authkey: bytes, listen: tuple[str, int], *,
                 on_ready: Callable[[tuple[str, int]], None] | None = None,
                 should_abort: Callable[[], str | None] | None = None, fresh: bool = False,
                 progress=None, tls=None, workers_pending: Callable[[], bool] | None = None,
                 refresh: bool = False):
        self.cfg = cfg
        self.authkey = authkey
        self.listen = listen
        self.tls = tls  # a tls.ServerTLS: the queues are served over TLS
        self.on_ready = on_ready
        self.should_abort = should_abort
        self.workers_pending = workers_pending  # `crawler run`: are local workers still running?
        self.fresh = fresh
        self.refresh = refresh  # --refresh: ask again for everything recorded (see refresh.py)
        self.previous: refresh_.Previous | None = None  # while refreshing: the last run's lines
        self.progress = progress or LineProgress()
        self.already_finished = False
        self._started_wall = time.time()
        self._started = time.monotonic()
        self._images_ok_at_start = 0
        self.scope = urls.Scope(seed_hosts=frozenset(urls.host_of(s) for s in cfg.seeds),
                                allow_domains=cfg.allow_domains, include=cfg.include, exclude=cfg.exclude)
        self.policy = NetPolicy(self.scope.seed_hosts, cfg.allow_private)
        self.board = TaskBoard(cfg.effective_lease_seconds, gate=HostGate(cfg.per_host, cfg.delay),
                               to_wire=self._wire)
        self.robots = Robots(cfg.user_agent, ignore=cfg.ignore_robots)
        self.sitemap_plan = SitemapPlan(self.robots, enabled=cfg.sitemaps)
        self._sitemaps = PageQueue()  # sitemaps to read (url, level), waiting per origin as pages do
        self._parked: defaultdict[str, list[Task]] = defaultdict(list)  # origin -> tasks awaiting robots.txt
        # the crawl's headers, cookies and CA bundle, for the master's requests and its workers'
        self.http = transport.Options(headers=cfg.headers, jar=httpopts.fill_jar(transport.new_jar(), list(cfg.cookies)),
                                      proxies=transport.Proxies(cfg.proxy),
                                      ca_file=cfg.ca_bundle or transport.env_ca_bundle())
        ca_pem = httpopts.read_ca_bundle(cfg.ca_bundle) if cfg.ca_bundle else None
        self.board.crawl_settings = {"trusted_hosts": sorted(self.policy.trusted_hosts),
                                     "allow_private": self.policy.allow_private,
                                     **httpopts.to_wire(cfg.headers, cfg.cookies, ca_pem)}
        self._pages_per_host: Counter = Counter()
        self.inbox = ResultInbox(on_arrival=self.board.arrived)
        self.watch = WorkerWatch(self.board)
        self.board.results = self.inbox
        self.summary = Summary()
        self.served: Served | None = None
        self._pages = PageQueue()
        self._sitemaps_queued = 0  # sitemaps queued or read: they count against --max-pages
        self._seen_pages: set[str] = set()
        self._seen_images: set[str] = set()
        self._outstanding: dict[int, Task] = {}   # task id -> task, until its result is recorded
        self._done_ids: set[int] = set()
        self._next_id = 1
        self._page_results: deque[PageOutcome | RobotsOutcome] = deque()
        self._jobs_in_flight = 0  # page and robots.txt fetches in the pool
        self._robots_in_flight = 0  # of which robots.txt fetches
        self._stop = threading.Event()
        self._local = threading.local()
        self._manifest: manifest.ManifestWriter | None = None
        self._journal: Journal | None = None
        self._max_pages_warned = False
        self._parser: PageParser | None = None
        self.exit_code = 0

    # -- public --------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()
        self.inbox.wake()

    def run(self) -> Summary:
        started = time.monotonic()
        out = self.cfg.out
        try:
            (out / STATE_DIRNAME).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateWriteError(f"cannot make {out / STATE_DIRNAME}: {exc.strerror or exc}") from exc
        manifest_path = out / MANIFEST_NAME
        journal_path = out / STATE_DIRNAME / JOURNAL_NAME
        if self.fresh:
            _remove_journal(journal_path)
        resuming = journal_path.exists()
        if not resuming:
            _set_aside_old_manifest(manifest_path)
        self._journal = Journal(journal_path, before_commit=self._flush_manifest)
        widened, self.previous = refresh_.begin(self._journal, self.cfg, manifest_path, refresh=self.refresh,
                                                resuming=resuming)
        if widened is None:
            self._count_manifest(manifest_path)
            log.info("the crawl in %s already finished (%d images ok, %d failed); use --refresh to crawl it again "
                     "for what changed, --fresh to start over", out, self.summary.images_ok,
                     sum(self.summary.images_failed.values()))
            self.already_finished = True
            self._journal.close()
            return self.summary
        if resuming:  # even an empty journal: the manifest may already hold results
            self._resume(manifest_path)
        self._manifest = manifest.ManifestWriter(manifest_path)
        self.served = serve(self.board, self.inbox, self.listen, self.authkey, tls=self.tls)
        log.info("master listening on %s", format_address(self.served.address))
        before = (len(self._seen_pages), len(self._seen_images))
        for seed in self.cfg.seeds:
            self._add_page(seed, 0, seed=True)
        if widened:
            self._offer_dropped(widened, before)
        if self.previous is not None:  # every image the last run recorded, even one the journal lost
            for url, page, source in self.previous.unseen(self._seen_images):
                self._add_image(url, page, source)
        for origin in dict.fromkeys(origin_of(seed) for seed in self.cfg.seeds):
            self._want_sitemaps(origin)
        pool = ThreadPoolExecutor(self.cfg.page_threads, thread_name_prefix="page")
        self._parser = PageParser(self.cfg.page_processes)
        completed = False
        self._images_ok_at_start = self.summary.images_ok
        self._started = time.monotonic()
        try:
            # robots.txt and the seeds first: workers connecting (several handshakes each)
            # would otherwise hold up the first request, which everything else waits for
            self._dispatch(pool)
            if self.on_ready:
                self.on_ready(self.served.address)
            completed = self._loop(pool)
        except StateWriteError as exc:
            self._state_failed(exc)
        finally:
            self.progress.close()
            pool.shutdown(wait=False, cancel_futures=True)
            self._parser.close()
            self.board.finish_crawl()
            self._close_state(completed)
            self._let_workers_go()
            self.served.stop()
            self.summary.seconds = time.monotonic() - started
        return self.summary

    def _offer_dropped(self, changed: list[str], before: tuple[int, int]) -> None:
        """The limits changed: what the old ones left out is offered again under the new."""
        for url, depth in self._journal.dropped_pages():
            if depth <= self.cfg.max_depth and url not in self._seen_pages and self.scope.page_in_scope(url):
                self._add_page(url, depth)
        for url, page, source in self._journal.dropped_images():
            if self.scope.image_allowed(url, same_host_only=self.cfg.same_host_images) and (
                    source != sitemap.SOURCE or self._sitemap_page_in_crawl(page)):
                self._add_image(url, page, source)
        pages, images = len(self._seen_pages) - before[0], len(self._seen_images) - before[1]
        log.info("the crawl's limits changed since its last run (%s): %s", "; ".join(changed),
                 f"{pages} pages and {images} images newly in scope" if pages or images
                 else "nothing newly in scope; nothing stored changes")

    def _state_failed(self, exc: StateWriteError) -> None:
        """The manifest or the journal cannot be written: stop, saying so in one line."""
        if self.exit_code != EXIT_STATE_UNWRITABLE:
            self.exit_code = EXIT_STATE_UNWRITABLE
            log.error("%s; stopping the crawl: what was written before stays, and the same command "
                      "resumes once the disk has room", exc)

    def _close_state(self, completed: bool) -> None:
        """Commit what can be committed and close the journal and the manifest."""
        ok = self.exit_code != EXIT_STATE_UNWRITABLE
        try:
            if ok:
                self._journal.commit()  # flushes the manifest first
                if completed:  # only once everything it counts is on disk
                    if self.previous is not None:
                        self._end_refresh()
                    self._journal.set_meta("finished", "1", refresh="0")
                    if self.previous is not None:
                        refresh_.drop_base(refresh_.base_path(self.cfg.out))
        except StateWriteError as exc:
            ok = False
            self._state_failed(exc)
        finally:
            self._journal.close(commit=ok)
        try:
            self._manifest.close()  # lines the journal has not counted yet still help a resume
        except StateWriteError as exc:
            self._state_failed(exc)

    def _end_refresh(self) -> None:
        """One line per URL: what the last run recorded and this one did not answer joins
        the manifest (atomically)."""
        self._manifest.close()
        carried = refresh_.finish(self.cfg.out / MANIFEST_NAME, refresh_.base_path(self.cfg.out))
        if carried:
            log.warning("kept %d line(s) of the last run for images this refresh did not ask for", carried)

    def _resume(self, manifest_path: Path) -> None:
        removed = manifest.repair(manifest_path)
        if removed:
            log.warning("cut an incomplete last line (%d bytes) from %s", removed, manifest_path)
        done_urls = self._count_manifest(manifest_path)
        snap = self._journal.snapshot(done_urls)
        self._seen_pages = snap.pages_seen
        self._pages.extend(snap.pages_queued)
        self.summary.pages_ok = snap.pages_done
        if snap.pages_failed:
            self.summary.pages_failed["in an earlier run"] = snap.pages_failed
        # A manifest line can reach the disk before the journal commit that added its task:
        # the manifest decides, so such an image is never handed out again.
        self._seen_images = snap.image_urls | done_urls
        self._done_ids = snap.done_ids
        self._next_id = snap.next_id
        self.sitemap_plan.seen |= snap.sitemaps_seen
        self._sitemaps.extend(snap.sitemaps_queued)
        self._sitemaps_queued = len(snap.sitemaps_seen)
        tasks = [Task(*row) for row in snap.open_tasks]
        for task in tasks:
            self._outstanding[task.id] = task
            self._admit(task)
        done = snap.pages_done + snap.pages_failed
        if self.previous is not None and not done and not snap.done_ids:  # a refresh that starts now
            log.info("refreshing the crawl in %s: %d pages to fetch again, %d images to ask again",
                     self.cfg.out, len(snap.pages_queued), len(tasks))
            return
        log.info("resuming the %s in %s: %d pages done, %d to fetch; %d images recorded, %d to download",
                 "crawl" if self.previous is None else "refresh of the crawl", self.cfg.out, done,
                 len(snap.pages_queued), len(snap.done_ids), len(tasks))

    def _count_manifest(self, path: Path) -> set[str]:
        """Fill the summary from an existing manifest; return the URLs it records."""
        urls_done = set()
        if not path.exists():
            return urls_done
        for rec in manifest.read(path):
            urls_done.add(rec.get("url"))
            if self.previous is not None and rec.get("change") in refresh_.CHANGES:
                self.summary.changes[rec["change"]] += 1
            if rec.get("ok"):
                self.summary.images_ok += 1
                self.summary.bytes += rec.get("bytes") or 0
            else:
                self.summary.images_failed[rec.get("reason") or "error"] += 1
        return urls_done

    def _flush_manifest(self) -> None:
        if self._manifest is not None:
            self._manifest.flush()

    # -- the loop ------------------------------------------------------------------
    def _loop(self, pool: ThreadPoolExecutor) -> bool:
        """Run until done (True), or stopped or aborted (False)."""
        next_tick = 0.0
        while True:
            # Pages and robots.txt done first, then dispatch what they allow, then wait: the
            # other way round, a page's new links waited for the drain below (up to 0.05 s)
            # before they were started, three times over at the start of every crawl.
            while self._page_results:
                done = self._page_results.popleft()
                self._jobs_in_flight -= 1
                if isinstance(done, RobotsOutcome):
                    self._robots_in_flight -= 1
                    self._on_robots(done)
                elif isinstance(done, SitemapOutcome):
                    self._on_sitemap(done)
                else:
                    self._on_page(done)
            self._dispatch(pool)
            for item in self.inbox.drain(timeout=0.0 if self._crawl_done() else LOOP_WAIT):
                self._on_result(item)
            self._on_expired(self.board.take_expired())
            self._journal.maybe_commit()
            if self._stop.is_set():
                self.summary.interrupted = True
                self._drain_after_stop()
                self._progress()
                return False
            now = time.monotonic()
            if now >= next_tick:  # the loop turns once per batch of results: look around less often
                next_tick = now + TICK_SECONDS
                self.watch.tick()
                self._progress()
                abort = self.should_abort() if self.should_abort else None
                if abort:
                    log.error("%s", abort)
                    self.exit_code = 1
                    return False
            if self._crawl_done():
                self._progress()
                return True

    def _crawl_done(self) -> bool:
        return not self._pages and not self._sitemaps and not self._jobs_in_flight and not self._page_results \
            and not self._outstanding

    def _dispatch(self, pool: ThreadPoolExecutor) -> None:
        """Start robots.txt and page fetches that robots.txt and the hosts' limits allow.

        A job takes its host's slot when it is submitted, so no more are submitted than
        there are threads to run them: a job waiting for a thread would hold a slot with
        no request in flight, and at the start of a crawl, when pages are plentiful, it
        kept images from half of a host's slots.
        """
        cap = self.cfg.page_threads
        for origin in self.robots.due():
            host = urls.host_of(origin)
            if self._jobs_in_flight < cap and self.board.try_start(host):
                self._jobs_in_flight += 1
                self._robots_in_flight += 1
                pool.submit(self._robots_job, origin, host)
            else:
                self.robots.not_started(origin)
        budget = 256  # pages looked at per turn of the loop
        waiting: dict[str, int] = {}  # host -> pages and sitemaps that could start but for its limits
        budget = self._dispatch_queue(pool, self._sitemaps, self._sitemap_job, self._skip_sitemap, budget, waiting)
        self._dispatch_queue(pool, self._pages, self._page_job, self._skip_page, budget, waiting)
        free = cap - self._jobs_in_flight
        self.board.wait_for_pages({h: min(n, free) for h, n in waiting.items()} if free > 0 else {})

    def _dispatch_queue(self, pool: ThreadPoolExecutor, queue: PageQueue, job, skip, budget: int,
                        waiting: dict[str, int]) -> int:
        """Start `job`s for the queue's URLs (pages or sitemaps) as robots.txt and the hosts'
        limits allow; `skip` those robots.txt keeps us from; count in `waiting` those a host's
        limits hold back. Returns the budget left."""
        cap = self.cfg.page_threads
        for origin in queue.origins(budget):
            host = urls.host_of(origin)
            while self._jobs_in_flight < cap and budget and origin in queue:
                budget -= 1
                url, depth = queue.peek(origin)
                verdict = self.robots.verdict(url)
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
                self._jobs_in_flight += 1
                pool.submit(job, url, depth, host)
            if self._jobs_in_flight >= cap or not budget:
                break
        return budget

    def _skip_page(self, url: str, depth: int) -> None:
        """A page robots.txt keeps us from: disallowed, or its origin given up."""
        self._journal.page_finished(url, depth, ok=False)
        failure = self.robots.failure(url)
        if failure is None:
            self.summary.pages_skipped["robots"] += 1
            log.info("not fetching page %s: robots.txt disallows it", url)
        elif failure[0] == "unreachable":  # fetched, it would have failed the same way
            self.summary.pages_failed["unreachable"] += 1
            log.warning("page %s failed: %s", url, failure[1])
        else:
            self.summary.pages_skipped[failure[0]] += 1
            log.info("not fetching page %s: its robots.txt could not be read", url)

    def _skip_sitemap(self, url: str, level: int) -> None:
        self._journal.sitemap_finished(url, level, ok=False)
        failure = self.robots.failure(url)
        log.info("not reading sitemap %s: %s", url, "robots.txt disallows it" if failure is None else failure[1])

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
            self._page_results.append(process_page(self._client(), url, depth, self.cfg, fetched=release,
                                                   parser=self._parser))
        finally:
            release()
            self.inbox.wake()

    def _sitemap_job(self, url: str, level: int, host: str) -> None:
        try:
            self._page_results.append(sitemap_job(self._client(), url, level, timeout=self.cfg.timeout,
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
        self._page_results.append(outcome)
        self.inbox.wake()  # after the append: woken before it, the loop found nothing and waited a turn

    def _on_robots(self, outcome: RobotsOutcome) -> None:
        delay = self.robots.fetched(outcome.origin, outcome.status, outcome.body, error=outcome.error or "",
                                    unreachable=outcome.unreachable, retry_after=outcome.retry_after)
        if delay:
            delay = min(delay, MAX_CRAWL_DELAY)
            self.board.set_host_delay(outcome.host, delay)
            log.info("%s/robots.txt asks for a Crawl-delay of %g s; honouring it", outcome.origin, delay)
        if outcome.status is None or outcome.status >= 500:
            if outcome.unreachable:
                log.warning("%s is unreachable (%s); its pages and images are recorded as such",
                            outcome.origin, outcome.error)
            elif self.robots.given_up(outcome.origin + "/"):
                log.warning("%s/robots.txt could not be read (%s); giving up on that site",
                            outcome.origin, outcome.error)
            else:
                log.warning("%s/robots.txt could not be read (%s); its pages and images wait and it is "
                            "tried again later", outcome.origin, outcome.error)
                return
        self._pages.unpark(outcome.origin)
        self._sitemaps.unpark(outcome.origin)
        for task in self._parked.pop(outcome.origin, []):
            self._admit(task)
        for url in self.sitemap_plan.settled(outcome.origin):
            self._queue_sitemap(url, TOP)

    def _admit(self, task: Task) -> None:
        """Hand a task out if robots.txt allows it, record it if not, park it until we know."""
        verdict = self.robots.verdict(task.url)
        if verdict is None:
            self._parked[origin_of(task.url)].append(task)
        elif verdict:
            self.board.add(task)
        else:
            failure = self.robots.failure(task.url)
            if failure is None:
                self._record(task, None, error="robots.txt disallows it", reason="robots")
            elif failure[0] == "unreachable":
                self._record(task, None, error=f"{failure[1]} (at its site's robots.txt)", reason="unreachable")
            else:
                self._record(task, None, error="robots.txt of its site could not be read", reason=failure[0])

    def _on_page(self, outcome: PageOutcome) -> None:
        self._journal.page_finished(outcome.url, outcome.depth, ok=not outcome.error)
        if outcome.error:
            self.summary.pages_failed[outcome.reason or "error"] += 1
            log.warning("page %s failed: %s", outcome.url, outcome.error)
            return
        self.summary.pages_ok += 1
        self._want_sitemaps(origin_of(outcome.url))
        log.debug("page %s: %d link(s), %d image(s)%s", outcome.url, len(outcome.links), len(outcome.images),
                  " (an image itself)" if outcome.image_itself else "")
        if outcome.image_itself:
            self._add_image(outcome.url, outcome.url, "page")
        for ref in outcome.images:
            if self.scope.image_allowed(ref.url, same_host_only=self.cfg.same_host_images):
                self._add_image(ref.url, outcome.url, ref.source)
            else:  # kept, for a later run with a wider scope
                self._journal.image_dropped(ref.url, outcome.url, ref.source)
        if outcome.depth < self.cfg.max_depth:
            for link in outcome.links:
                self._add_page(link, outcome.depth + 1)
        else:
            for link in outcome.links:
                if link not in self._seen_pages:
                    self._journal.page_dropped(link, outcome.depth + 1)

    # -- sitemaps ------------------------------------------------------------------
    def _want_sitemaps(self, origin: str) -> None:
        for url in self.sitemap_plan.want(origin):
            self._queue_sitemap(url, TOP)

    def _queue_sitemap(self, url: str, level: int) -> None:
        if self._pages_used() >= self.cfg.max_pages:
            self._max_pages_reached()
            return
        self._sitemaps_queued += 1
        self._sitemaps.append(url, level)
        self._journal.sitemap_queued(url, level)

    def _on_sitemap(self, outcome: SitemapOutcome) -> None:
        """A sitemap's pages enter at depth 1, as a seed's links would; its images are taken
        as the images of those pages, when the pages are in the crawl's scope and depth."""
        self._journal.sitemap_finished(outcome.url, outcome.level, ok=not outcome.error)
        self.sitemap_plan.record(outcome)
        self.summary.sitemaps = self.sitemap_plan.counts.line()
        if outcome.error:
            return
        for url in self.sitemap_plan.children(outcome):
            self._queue_sitemap(url, CHILD)
        for entry in outcome.sitemap.pages:
            if self.cfg.max_depth >= 1:
                self._add_page(entry.loc, 1)
            elif entry.loc not in self._seen_pages:
                self._journal.page_dropped(entry.loc, 1)
            in_crawl = entry.images and self._sitemap_page_in_crawl(entry.loc)
            for image in entry.images:
                if in_crawl and self.scope.image_allowed(image, same_host_only=self.cfg.same_host_images):
                    self._add_image(image, entry.loc, sitemap.SOURCE)
                else:
                    self._journal.image_dropped(image, entry.loc, sitemap.SOURCE)

    def _sitemap_page_in_crawl(self, page: str | None) -> bool:
        return bool(page) and self.cfg.max_depth >= 1 and self.scope.page_in_scope(page)

    def _pages_used(self) -> int:
        """Pages and sitemaps queued or fetched: what --max-pages counts."""
        return len(self._seen_pages) + self._sitemaps_queued

    def _max_pages_reached(self) -> None:
        if not self._max_pages_warned:
            self._max_pages_warned = True
            log.warning("reached --max-pages %d; not following more links", self.cfg.max_pages)

    def _add_page(self, url: str, depth: int, *, seed: bool = False) -> None:
        """Queue a page. A seed is the user's explicit choice and is fetched even where the
        scope rules (--include, --exclude) would leave it out: they apply to the links found."""
        if url in self._seen_pages:
            return
        left_out = self.scope.page_left_out(url)
        if left_out and not seed:
            self._journal.page_dropped(url, depth)  # for a later run with a wider scope
            return
        host = urls.host_of(url)
        if self._pages_per_host[host] >= self.cfg.max_pages_per_host:
            if self._pages_per_host[host] == self.cfg.max_pages_per_host:
                self._pages_per_host[host] += 1  # warn once per host
                log.warning("reached --max-pages-per-host %d on %s; not following more links there",
                            self.cfg.max_pages_per_host, host)
            self._journal.page_dropped(url, depth)
            return
        if self._pages_used() >= self.cfg.max_pages:
            self._max_pages_reached()
            self._journal.page_dropped(url, depth)
            return
        if left_out:
            log.info("seed %s is outside the scope rules (%s); fetching it anyway: they apply to the "
                     "links found", url, left_out)
        self._seen_pages.add(url)
        self._pages_per_host[host] += 1
        self._pages.append(url, depth)
        self._journal.page_queued(url, depth)

    def _add_image(self, url: str, page: str, source: str) -> None:
        """Queue an image found on `page`; `source` says how it was found (ImageRef.source, or
        "page" for a page link that answered with an image)."""
        if url in self._seen_images:
            return
        self._seen_images.add(url)
        source = sys.intern(source)  # a million tasks share a few words
        task = Task(self._next_id, url, page, 1, source)
        self._next_id += 1
        self._outstanding[task.id] = task
        self._journal.task_added(task.id, url, page, 1, source)
        self._admit(task)

    def _wire(self, task: Task) -> dict:
        """The task as it goes to a worker: plain data, with this crawl's limits."""
        return make_task(task.id, task.url, task.page, attempt=task.attempt, max_bytes=self.cfg.max_bytes,
                         timeout=self.cfg.timeout, retries=self.cfg.retries, accept=list(self.cfg.accept),
                         min_bytes=self.cfg.min_bytes,
                         refresh=self.previous.wire(task.url) if self.previous is not None else None)

    def _on_result(self, item) -> None:
        try:
            result = validate_result(item)
        except InvalidMessage as exc:
            log.warning("dropped an invalid result: %s", exc)
            self._refuse(item)
            return
        task_id = result["id"]
        task = self._outstanding.get(task_id)
        if task is None:
            if task_id in self._done_ids:
                log.info("ignored a late second result for task %d from %s (already recorded)",
                         task_id, result["worker"])
            else:
                log.warning("dropped a result for unknown task id %r", task_id)
            return
        if result["url"] != task.url:
            log.warning("dropped a result whose URL does not match task %d", task_id)
            self._refuse(item)
            return
        if result["ok"] and result["status"] == 304 and (
                self.previous is None or self.previous.wire(task.url).get("stored") != result["path"]):
            log.warning("dropped a 304 result for task %d that no conditional request asked for", task_id)
            self._refuse(item)
            return
        if result["ok"]:
            try:
                naming.check_relative(result["path"])
            except ValueError:
                log.warning("dropped a result with an unsafe path %r", result["path"][:200])
                self._refuse(item)
                return
        self.board.ack(task)
        self._record(task, result)

    def _refuse(self, item) -> None:
        """A dropped result may have freed its task's slot on arrival: hand the task out again."""
        task_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(task_id, int) and task_id in self._outstanding:
            self.board.reopen(task_id)

    def _on_expired(self, expired: list[tuple[Task, str]]) -> None:
        for task, worker in expired:
            if task.id not in self._outstanding:
                continue
            if task.attempt >= self.cfg.max_attempts:
                error = (f"no result after {task.attempt} lease(s) of {self.cfg.effective_lease_seconds:.0f} s "
                         f"(last worker {worker})")
                log.warning("task %d %s failed: %s", task.id, task.url, error)
                self._record(task, None, error=error, reason="lease-expired")
                continue
            again = task._replace(attempt=task.attempt + 1)
            self._outstanding[task.id] = again
            self._journal.task_attempt(task.id, again.attempt)
            log.info("lease of task %d expired at worker %s; handing it out again (attempt %d)",
                     task.id, worker, again.attempt)
            self.board.add(again, front=True)

    def _record(self, task: Task, result: dict | None, *, error: str | None = None,
                reason: str | None = None) -> None:
        rec = manifest.record(task.url, task.page, task.attempt, result, error=error, reason=reason,
                              source=task.source)
        if self.previous is not None:
            rec = refresh_.judge(rec, self.previous.get(task.url))
            self.summary.changes[rec["change"]] += 1
        self._manifest.write(rec)
        del self._outstanding[task.id]
        self._done_ids.add(task.id)
        self._journal.task_done(task.id)
        if result is not None and result["ok"]:  # this run's answer (a refresh's line may keep an older one)
            self.summary.images_ok += 1
            self.summary.bytes += result["bytes"]
        else:
            self.summary.images_failed[rec["reason"] or "error"] += 1

    def _drain_after_stop(self) -> None:
        log.warning("stopping: no more tasks handed out; waiting up to %.0f s for results in flight",
                    STOP_GRACE_SECONDS)
        self.board.finish_crawl()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline and self.board.counts()[1]:
            for item in self.inbox.drain(timeout=0.1):
                self._on_result(item)
        for item in self.inbox.drain():
            self._on_result(item)

    def _let_workers_go(self) -> None:
        """Give workers a moment to collect the stop message, so they exit by themselves: the
        connected ones, and (`workers_pending`, for `crawler run`) local workers still on their
        way. One of those that connects after a short crawl has ended then gets the stop
        message too; with the listener closed at once, it retried for --reconnect-timeout
        while `crawler run` waited 10 s for it and 5 s more after SIGTERM: 15 s added to
        5 of 24 runs of `crawler demo` (a 0.4 s crawl) on a loaded 2-core machine."""
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline:
            # live workers poll about every 0.25 s once they are idle; a killed one is not waited for
            seen = {w for w, age in self.board.status()["workers"].items() if age < 1.0 and w != "anonymous"}
            if seen <= self.board.workers_told_to_stop() and not (self.workers_pending and self.workers_pending()):
                return
            time.sleep(0.05)

    def _progress(self) -> None:
        pending, leased = self.board.counts()
        s = self.summary
        elapsed = time.monotonic() - self._started
        stats = {
            "state": "stopping" if self._stop.is_set() else "crawling",
            "started": round(self._started_wall, 1), "uptime": round(elapsed, 1),
            "pages_done": s.pages_ok + sum(s.pages_failed.values()),
            "pages_queued": len(self._pages) + self._jobs_in_flight - self._robots_in_flight,
            "images_ok": s.images_ok, "images_failed": sum(s.images_failed.values()),
            "images_queued": pending + sum(len(t) for t in self._parked.values()), "images_leased": leased,
            "bytes": s.bytes, "rate": (s.images_ok - self._images_ok_at_start) / max(elapsed, 1e-9),
            "workers_connected": self.watch.connected(),
            "failures": dict(s.images_failed.most_common(5)),
        }
        self.board.master_stats = stats
        self.progress.update(stats)


def _set_aside_old_manifest(path: Path) -> None:
    """A new crawl starts a new manifest; an old one is kept under a dated name."""
    if path.exists() and path.stat().st_size > 0:
        old = path.with_name(f"manifest.{time.strftime('%Y%m%d-%H%M%S')}.jsonl")
        path.rename(old)
        log.info("kept the previous manifest as %s", old.name)


def _remove_journal(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)
