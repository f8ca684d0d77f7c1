"""Session: the link thread's side of the worker, the one thread that calls the master (so a
signal in the main thread can never split a call from its reply). It connects and reconnects
(giving up after --reconnect-timeout), reads the crawl's settings, and runs exchange rounds:
deliver results and lease tasks in one call, as `rounds.plan_round` says; at the end it gives
back what was not done and says why the worker stops."""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from ..config import EXIT_KEY_REFUSED, EXIT_TLS, EXIT_UNREACHABLE, WorkerConfig
from ..errors import ConnectError
from ..link.manager import ForbiddenPickle, MasterLink, format_address
from ..link.tls import TLSError
from ..rules.messages import InvalidMessage, is_stop, validate_task
from .control import Control, why
from .downloaders import Downloaders, WorkerStats
from .outbox import Outbox
from .rounds import POLL_WAIT, RESULT_BATCH, plan_round
from .settings import CrawlSettings

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
FIRST_BACKOFF = 0.2  # seconds before the second try to reach the master; doubles up to MAX_BACKOFF
MAX_BACKOFF = 5.0


class Reconnect:
    """How long the master has been out of reach, and the waits between tries to reach it."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.ever_connected = False
        self.first_failure = True  # the first failed try since the last connection: worth a warning
        self._lost_since: float | None = None
        self._backoff = FIRST_BACKOFF

    def connected(self) -> None:
        self.ever_connected, self.first_failure = True, True
        self._lost_since, self._backoff = None, FIRST_BACKOFF

    def lost(self, now: float) -> None:
        """The connection broke at `now`: the timeout counts from here."""
        self._lost_since = now

    def failed(self, now: float) -> bool:
        """A try failed at `now`; False once the master has been out of reach past the timeout."""
        if self._lost_since is None:
            self._lost_since = now
        return now - self._lost_since <= self.timeout

    def next_wait(self) -> float:
        """The wait before the next try (with jitter, so that workers do not call at once)."""
        wait = self._backoff * random.uniform(0.8, 1.2)
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)
        self.first_failure = False
        return wait


class Session:
    def __init__(self, cfg: WorkerConfig, link: MasterLink, *, reconnect_timeout: float, control: Control,
                 outbox: Outbox, downloaders: Downloaders, settings: CrawlSettings, stats: WorkerStats):
        self.cfg, self.link, self.reconnect_timeout = cfg, link, reconnect_timeout
        self.control, self.outbox, self.downloaders, self.settings = control, outbox, downloaders, settings
        self.stats = stats
        self.finished = False  # the master said the crawl is over
        self._last_contact = 0.0  # when this worker last called the master

    def run(self) -> None:
        """Talk to the master until the crawl is over, the worker stopped, or the link failed for good."""
        control, address = self.control, format_address(self.cfg.address)
        reconnect = Reconnect(self.reconnect_timeout)
        connected = False
        while True:
            if not connected:
                try:
                    self.link.connect()
                    self.settings.apply(self.link.tasks)
                except TLSError as exc:  # a TLS mismatch, or a certificate that does not verify
                    control.fail(EXIT_TLS, str(exc))
                    return
                except ConnectError as exc:
                    control.fail(EXIT_KEY_REFUSED, str(exc))
                    return
                except (OSError, EOFError) as exc:
                    if control.stopping.is_set():  # asked to stop, and no master to hand anything back to
                        log.log(logging.WARNING if len(self.outbox) else logging.INFO,
                                "stopping without the master (%s); %d result(s) not delivered (their tasks are "
                                "handed out again)", why(exc), len(self.outbox))
                        control.interrupted()
                        return
                    if not reconnect.failed(time.monotonic()):
                        verb = "reconnect to" if reconnect.ever_connected else "reach"
                        control.fail(EXIT_UNREACHABLE, f"could not {verb} the master at {address} "
                                                       f"for {self.reconnect_timeout:.0f} s ({why(exc)}); giving up")
                        return
                    if reconnect.first_failure:
                        log.warning("master at %s unreachable (%s); retrying for up to %.0f s",
                                    address, why(exc), self.reconnect_timeout)
                    control.sleep(reconnect.next_wait())
                    continue
                connected = True
                tls = getattr(self.link, "tls", None)
                log.info("%s to master at %s as %s, %d threads%s",
                         "reconnected" if reconnect.ever_connected else "connected",
                         address, self.cfg.name, self.cfg.threads, f", over {tls.description}" if tls else "")
                reconnect.connected()
            try:
                if self.exchange():
                    return
            except (OSError, EOFError) as exc:
                self.link.reset()
                connected = False
                if self.finished:
                    return  # the master told us to stop and has gone: a normal end
                log.warning("lost the master (%s); %d result(s) kept for delivery", why(exc), len(self.outbox))
                reconnect.lost(time.monotonic())
            except ForbiddenPickle as exc:
                log.error("dropped a message from the master: %s", exc)
            except Exception as exc:  # a RemoteError or a reply out of step: start the link afresh
                log.error("unexpected answer from the master (%s); reconnecting", why(exc))
                self.link.reset()
                connected = False
                reconnect.lost(time.monotonic())

    def exchange(self) -> bool:
        """One round: deliver results, lease tasks. True when the worker is done."""
        control = self.control
        batch, inflight, waiting, held = self.outbox.look(RESULT_BATCH)
        queued = self.downloaders.queue.qsize()
        stopping = control.stopping.is_set()
        if self.finished or stopping:
            if batch:
                if not self._deliver(batch):
                    control.wait_activity(POLL_WAIT)  # the master's inbox is full: not at once
                return False
            if stopping and not self.finished:
                self._give_back()
            if inflight + queued == 0:
                if stopping and not self.finished:
                    control.interrupted()
                if control.local_fault:
                    self._say_stopped()
                return True
            control.wait_activity()
            return False
        plan = plan_round(waiting, held, inflight, queued, self.downloaders.limit)
        if plan.call:
            items = self._deliver_and_lease(batch, plan.want, plan.wait, plan.idle)  # batch: plan.batch of them
            pause = plan.pause_after(len(items))
            if not pause:
                return False
            control.wait_activity(pause)
        else:
            control.wait_activity(plan.pause)  # full: until a download finishes
        if time.monotonic() - self._last_contact > HEARTBEAT_SECONDS:
            # every thread busy with long downloads: tell the master we are alive (status)
            self._last_contact = time.monotonic()
            self.finished = bool(self.link.tasks.heartbeat(self.cfg.name)) or self.finished
        return False

    def _deliver_and_lease(self, batch: list[dict], want: int, wait: float, idle: int) -> list:
        """Deliver a batch of results and lease up to `want` tasks in one call (`exchange`).
        Returns the tasks accepted."""
        self._last_contact = time.monotonic()
        self.stats.calls += 1
        reply = self.link.tasks.exchange(self.cfg.name, batch, want, wait, idle)
        if not isinstance(reply, dict):
            log.warning("dropped a reply from the master that is not a dict")
            return []
        if batch and reply.get("accepted") is True:
            self.outbox.delivered(batch)
        return self._accept(reply.get("tasks"))

    def _deliver(self, batch: list[dict]) -> bool:
        """put_many: False when the master's inbox refused the batch (kept for later)."""
        self._last_contact = time.monotonic()
        self.stats.calls += 1
        if not self.link.results.put_many(batch):
            return False
        self.outbox.delivered(batch)
        return True

    def _accept(self, items: Any) -> list:
        """Queue the tasks of a lease for the download threads; returns the items accepted."""
        if not isinstance(items, list):
            log.warning("dropped a reply from the master that is not a list")
            return []
        for item in items:
            if is_stop(item):
                self.finished = True
                continue
            try:
                self.downloaders.queue.put(validate_task(item))
            except InvalidMessage as exc:
                log.warning("dropped an invalid task: %s", exc)
        return items

    def _give_back(self) -> None:
        """Hand tasks not yet started (or kept from being done by a local fault) back to the
        master, so nobody waits for their lease."""
        ids = self.outbox.take_hand_back()
        ids += self.downloaders.take_unstarted()
        if ids:
            try:
                n = self.link.tasks.release(self.cfg.name, ids)
            except (OSError, EOFError):
                self.outbox.keep_hand_back(ids)  # not given back yet: again after reconnecting
                raise
            self.stats.handed_back += n
            log.debug("gave back %d task(s) not done", n)

    def _say_stopped(self) -> None:
        """Tell the master why this worker stops, so that its log says so too."""
        try:
            self.link.tasks.stopped(self.cfg.name, self.control.error)
        except (OSError, EOFError):
            pass  # the master has gone: it learns nothing, loses nothing
