"""The master: crawl pages, hand image URLs out as leased tasks, record every result.

One loop owns all crawl state; page fetching and parsing run in a small thread pool
(PageJobs), and the manager's server threads only touch the TaskBoard and ResultInbox,
which carry their own locks. Master wires the parts and runs the loop: Frontier (pages),
SitemapDesk (sitemaps), RobotsDesk (robots.txt), Ledger (image tasks), CrawlRecord (journal
and manifest), stats (Summary and the status numbers).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable

from ..config import EXIT_STATE_UNWRITABLE, CrawlConfig
from ..errors import StateWriteError
from ..link.manager import Served, format_address, serve
from ..net import httpopts, transport
from ..net.netguard import NetPolicy
from ..page import sitemap
from ..rules import urls
from ..rules.politeness import HostGate
from ..rules.robots import origin_of
from .board import ResultInbox, Task, TaskBoard
from .frontier import Frontier
from .ledger import Ledger, to_wire
from .pagejobs import PageJobs, PageOutcome, RobotsOutcome
from .progress import LineProgress
from .record import CrawlRecord
from .robotsdesk import RobotsDesk
from .sitemapdesk import SitemapDesk
from .sitemaps import SitemapOutcome
from .stats import Summary, Uptime
from .workerwatch import WorkerWatch

log = logging.getLogger("crawler.master")  # one logger for the master's parts, as before the split

TICK_SECONDS = 0.1  # progress, status and the workers-gone check, at most this often
LOOP_WAIT = 0.05  # the longest the loop waits for results; a page or robots.txt done wakes it at once
STOP_GRACE_SECONDS = 5.0
"""After the crawl ends (or Ctrl-C), how long to wait for workers to collect the stop message."""


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
        self.progress = progress or LineProgress()
        self.already_finished = False
        self.uptime = Uptime()
        self.summary = Summary()
        self.record = CrawlRecord(cfg, self.summary, fresh=fresh, refresh=refresh)
        scope = urls.Scope(seed_hosts=frozenset(urls.host_of(s) for s in cfg.seeds),
                           allow_domains=cfg.allow_domains, include=cfg.include, exclude=cfg.exclude)
        self.policy = NetPolicy(scope.seed_hosts, cfg.allow_private)
        self.board = TaskBoard(cfg.effective_lease_seconds, gate=HostGate(cfg.per_host, cfg.delay),
                               to_wire=functools.partial(to_wire, cfg, self.record))
        # the crawl's headers, cookies and CA bundle, for the master's requests and its workers'
        jar = httpopts.fill_jar(transport.new_jar(), list(cfg.cookies))
        self.http = transport.Options(headers=cfg.headers, jar=jar, proxies=transport.Proxies(cfg.proxy),
                                      ca_file=cfg.ca_bundle or transport.env_ca_bundle())
        ca_pem = httpopts.read_ca_bundle(cfg.ca_bundle) if cfg.ca_bundle else None
        self.board.crawl_settings = {"trusted_hosts": sorted(self.policy.trusted_hosts),
                                     "allow_private": self.policy.allow_private,
                                     **httpopts.to_wire(cfg.headers, cfg.cookies, ca_pem)}
        self.inbox = ResultInbox(on_arrival=self.board.arrived)
        self.watch = WorkerWatch(self.board)
        self.board.results = self.inbox
        self.served: Served | None = None
        self.frontier = Frontier(cfg, scope, self.record)
        self.ledger = Ledger(cfg, self.record, self.board, self.summary)
        self.desk = RobotsDesk(cfg, self.board, self.record, self.summary)
        self.sitemaps = SitemapDesk(cfg, self.desk.robots, self.frontier, self.record, self.summary, self._add_image)
        self.jobs = PageJobs(cfg, self.board, self.inbox, self.policy, self.http)
        self._stop = threading.Event()
        self.exit_code = 0

    # -- public --------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()
        self.inbox.wake()

    def run(self) -> Summary:
        started = time.monotonic()
        widened = self.record.open()
        if widened is None:
            self.already_finished = True
            return self.summary
        if self.record.resuming:  # even an empty journal: the manifest may already hold results
            self._resume()
        self.record.start_writing()
        self.served = serve(self.board, self.inbox, self.listen, self.authkey, tls=self.tls)
        log.info("master listening on %s", format_address(self.served.address))
        before = (len(self.frontier.seen), len(self.ledger.seen))
        for seed in self.cfg.seeds:
            self.frontier.add(seed, 0, seed=True)
        if widened:
            self._offer_dropped(widened, before)
        if self.record.previous is not None:  # every image the last run recorded, even one the journal lost
            for url, page, source in self.record.previous.unseen(self.ledger.seen):
                self._add_image(url, page, source)
        for origin in dict.fromkeys(origin_of(seed) for seed in self.cfg.seeds):
            self.sitemaps.want(origin)
        self.jobs.start()
        completed = False
        self.uptime.begin(self.summary.images_ok)
        try:
            # robots.txt and the seeds first: workers connecting (several handshakes each)
            # would otherwise hold up the first request, which everything else waits for
            self._dispatch()
            if self.on_ready:
                self.on_ready(self.served.address)
            completed = self._loop()
        except StateWriteError as exc:
            self._state_failed(exc)
        finally:
            self.progress.close()
            self.jobs.close()
            self.board.finish_crawl()
            failed = self.record.close(completed=completed, state_ok=self.exit_code != EXIT_STATE_UNWRITABLE)
            if failed is not None:
                self._state_failed(failed)
            self._let_workers_go()
            self.served.stop()
            self.summary.seconds = time.monotonic() - started
        return self.summary

    def _resume(self) -> None:
        snap, done_urls = self.record.resume()
        self.frontier.restore(snap)
        self.sitemaps.restore(snap)
        tasks = self.ledger.restore(snap, done_urls)
        for task in tasks:
            self._admit(task)
        self.record.say_resumed(snap, len(tasks))

    def _offer_dropped(self, changed: list[str], before: tuple[int, int]) -> None:
        """The limits changed: what the old ones left out is offered again under the new."""
        self.frontier.take_dropped()
        for url, page, source in self.record.journal.dropped_images():
            if self.frontier.scope.image_allowed(url, same_host_only=self.cfg.same_host_images) and (
                    source != sitemap.SOURCE or self.sitemaps.page_in_crawl(page)):
                self._add_image(url, page, source)
        pages, images = len(self.frontier.seen) - before[0], len(self.ledger.seen) - before[1]
        log.info("the crawl's limits changed since its last run (%s): %s", "; ".join(changed),
                 f"{pages} pages and {images} images newly in scope" if pages or images
                 else "nothing newly in scope; nothing stored changes")

    def _state_failed(self, exc: StateWriteError) -> None:
        """The manifest or the journal cannot be written: stop, saying so in one line."""
        if self.exit_code != EXIT_STATE_UNWRITABLE:
            self.exit_code = EXIT_STATE_UNWRITABLE
            log.error("%s; stopping the crawl: what was written before stays, and the same command "
                      "resumes once the disk has room", exc)

    # -- the loop ------------------------------------------------------------------
    def _loop(self) -> bool:
        """Run until done (True), or stopped or aborted (False)."""
        next_tick = 0.0
        while True:
            # Pages and robots.txt done first, then dispatch what they allow, then wait: the
            # other way round, a page's new links waited for the drain below (up to 0.05 s)
            # before they were started, three times over at the start of every crawl.
            while (done := self.jobs.take()) is not None:
                if isinstance(done, RobotsOutcome):
                    self._on_robots(done)
                elif isinstance(done, SitemapOutcome):
                    self.sitemaps.fetched(done)
                else:
                    self._on_page(done)
            self._dispatch()
            for item in self.inbox.drain(timeout=0.0 if self._crawl_done() else LOOP_WAIT):
                self.ledger.on_result(item)
            self.ledger.on_expired(self.board.take_expired())
            self.record.journal.maybe_commit()
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
        return not self.frontier.pages and not self.sitemaps.queue and self.jobs.idle() \
            and not self.ledger.outstanding

    def _dispatch(self) -> None:
        self.jobs.dispatch(self.desk.robots, self.sitemaps.queue, self.sitemaps.skip,
                           self.frontier.pages, self.desk.skip_page)

    def _on_robots(self, outcome: RobotsOutcome) -> None:
        released = self.desk.fetched(outcome)
        if released is None:  # its robots.txt is tried again later: its pages and images wait
            return
        self.frontier.pages.unpark(outcome.origin)
        self.sitemaps.queue.unpark(outcome.origin)
        for task in released:
            self._admit(task)
        self.sitemaps.settled(outcome.origin)

    def _on_page(self, outcome: PageOutcome) -> None:
        self.record.journal.page_finished(outcome.url, outcome.depth, ok=not outcome.error)
        if outcome.error:
            self.summary.pages_failed[outcome.reason or "error"] += 1
            log.warning("page %s failed: %s", outcome.url, outcome.error)
            return
        self.summary.pages_ok += 1
        self.sitemaps.want(origin_of(outcome.url))
        log.debug("page %s: %d link(s), %d image(s)%s", outcome.url, len(outcome.links), len(outcome.images),
                  " (an image itself)" if outcome.image_itself else "")
        if outcome.image_itself:
            self._add_image(outcome.url, outcome.url, "page")
        for ref in outcome.images:
            if self.frontier.scope.image_allowed(ref.url, same_host_only=self.cfg.same_host_images):
                self._add_image(ref.url, outcome.url, ref.source)
            else:  # kept, for a later run with a wider scope
                self.record.journal.image_dropped(ref.url, outcome.url, ref.source)
        if outcome.depth < self.cfg.max_depth:
            for link in outcome.links:
                self.frontier.add(link, outcome.depth + 1)
        else:
            for link in outcome.links:
                self.frontier.drop(link, outcome.depth + 1)

    def _add_image(self, url: str, page: str | None, source: str | None) -> None:
        task = self.ledger.new_task(url, page, source)
        if task is not None:
            self._admit(task)

    def _admit(self, task: Task) -> None:
        """Hand a task out if robots.txt allows it, park it until we know, record it if not."""
        kept_out = self.desk.admit(task)
        if kept_out is not None:
            self.ledger.write(task, None, error=kept_out[0], reason=kept_out[1])

    # -- the end -------------------------------------------------------------------
    def _drain_after_stop(self) -> None:
        log.warning("stopping: no more tasks handed out; waiting up to %.0f s for results in flight",
                    STOP_GRACE_SECONDS)
        self.board.finish_crawl()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline and self.board.counts()[1]:
            for item in self.inbox.drain(timeout=0.1):
                self.ledger.on_result(item)
        for item in self.inbox.drain():
            self.ledger.on_result(item)

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
        stats = self.uptime.status_numbers(
            self.summary, stopping=self._stop.is_set(), images_leased=leased, workers_connected=self.watch.connected(),
            pages_queued=len(self.frontier) + self.jobs.in_flight - self.jobs.robots_in_flight,
            images_queued=pending + self.desk.parked())
        self.board.master_stats = stats
        self.progress.update(stats)
