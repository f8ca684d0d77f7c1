"""The downloader worker: lease tasks in batches, download with threads, report results.

One link thread talks to the master (all proxy calls happen there, so signals in the main
thread can never split a call from its reply); `threads` download threads take tasks from a
local queue and put results in an outbox that the link thread delivers in batches. Results
not yet delivered survive a lost master and go out after reconnecting.

How many of the threads download at once, and so how many tasks the worker leases, follows
`concurrency.DownloadGate`: all of them for a distant server, as few as 2 for a fast one,
where more would only queue for the GIL.

A fault of the worker's own is not the URL's: when its storage fails (full, over quota,
read-only, no permission) the task goes back to the master unrecorded, the worker hands back
every task it holds, says in one line what failed and where, and exits with
EXIT_WORKER_FAULT; another worker gets the tasks. So does a worker whose downloads fail with
internal errors MAX_INTERNAL_STREAK times in a row, rather than draining the queue.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import contentindex, fetch, httpopts, imagetype, naming, retry, storage, transport, urls
from .concurrency import DownloadGate
from .config import EXIT_INTERRUPTED, EXIT_KEY_REFUSED, EXIT_TLS, EXIT_UNREACHABLE, EXIT_WORKER_FAULT, WorkerConfig
from .errors import ConnectError, CrawlerError, FetchError, FilteredError, NotAnImageError
from .messages import InvalidMessage, is_stop, make_result, validate_task
from .netguard import NetPolicy
from .queues import ForbiddenPickle, MasterLink, format_address
from .tls import TLSError

log = logging.getLogger(__name__)

RESULT_BATCH = 200
RESULT_HOLD = 0.05  # the longest a result waits here to go out with others
HEARTBEAT_SECONDS = 5.0
IDLE_WAIT = 0.25
POLL_WAIT = 0.02
MAX_INTERNAL_STREAK = 10  # downloads failing with internal errors in a row before the worker stops


@dataclass
class WorkerStats:
    ok: int = 0
    failed: int = 0
    bytes: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    calls: int = 0  # round trips to the master
    handed_back: int = 0  # tasks given back undone (stopping on a signal or a fault of its own)


def download(task: dict, cfg: WorkerConfig, client, *, sleep=time.sleep) -> dict:
    """Download one task's image under cfg.out, retrying what is worth retrying, and return
    its result record. Raises only LocalStorageError: the worker's own storage failed, which
    says nothing about the URL."""
    start = time.perf_counter()
    retries = task.get("retries", 0)
    attempt = 1
    while True:
        try:
            return _download_once(task, cfg, client, start, attempt)
        except FetchError as exc:
            wait = retry.wait_seconds(attempt, exc.retry_after) if retry.should_retry(exc.reason, exc.status) else None
            if wait is None or attempt > retries:
                return make_result(task, ok=False, worker=cfg.name, elapsed=time.perf_counter() - start,
                                   final_url=exc.final_url, status=exc.status, error=str(exc),
                                   reason=exc.reason, attempts=attempt)
            log.warning("retrying %s in %.1f s after %s (attempt %d of %d)", task["url"], wait, exc,
                        attempt + 1, retries + 1)
            sleep(wait)
            attempt += 1
        except storage.LocalStorageError:
            raise
        except (CrawlerError, ValueError) as exc:
            return make_result(task, ok=False, worker=cfg.name, elapsed=time.perf_counter() - start,
                               error=str(exc), reason=getattr(exc, "reason", "storage"), attempts=attempt)
        except Exception as exc:  # a bug must cost one image, not the worker
            log.exception("unexpected error downloading %s", task["url"])
            return make_result(task, ok=False, worker=cfg.name, elapsed=time.perf_counter() - start,
                               error=f"internal error: {type(exc).__name__}: {exc}", reason="internal",
                               attempts=attempt)


def _download_once(task: dict, cfg: WorkerConfig, client, start: float, attempt: int) -> dict:
    max_bytes = min(task["max_bytes"], cfg.max_bytes)
    timeout = min(float(task["timeout"]), cfg.timeout)
    with fetch.open_body(client, task["url"], max_bytes=max_bytes, timeout=timeout,
                         accept="image/*,*/*;q=0.8") as body:
        kind, why = imagetype.is_image(body.head, body.content_type)
        if kind is None:
            raise NotAnImageError(why or "not an image", status=body.status, final_url=body.final_url)
        accept = task.get("accept")
        if accept and kind not in accept:
            raise FilteredError(f"type {kind} is not accepted (--accept {','.join(accept)})",
                                status=body.status, final_url=body.final_url)
        rel = naming.relative_path(task["url"], kind)
        out = storage.AtomicFile(cfg.out, rel)
        try:
            out.write(body.head)
            for chunk in body.rest():
                out.write(chunk)
            if out.size < task.get("min_bytes", 0):
                raise FilteredError(f"{out.size} bytes is below --min-bytes {task['min_bytes']}",
                                    status=body.status, final_url=body.final_url)
            sha = out.sha256.hexdigest()
            # http://h/a.jpg and https://h/a.jpg share a path: other bytes there are not replaced
            rel = out.commit(fallback=lambda: naming.hashed_path(task["url"], kind))
        except BaseException:
            out.abort()
            raise
        first = None
        if not out.kept:  # kept: these very bytes were at our path already, stored for another URL
            # Claimed once committed, so that a copy the content index names is on disk: claimed
            # before, another worker with the same bytes could find the first copy missing (still
            # being renamed into place) and keep its own as well.
            try:
                first = contentindex.claim(cfg.out, urlsplit(task["url"]).hostname or "", sha, rel)
            except BaseException:
                with contextlib.suppress(CrawlerError):
                    storage.remove_stored(cfg.out, rel)
                raise
            if first is not None:
                storage.remove_stored(cfg.out, rel)  # the same bytes from this site are stored already
        return make_result(task, ok=True, worker=cfg.name, elapsed=time.perf_counter() - start,
                           final_url=body.final_url, path=first or rel, nbytes=out.size, sha256=sha,
                           content_type=body.content_type, status=body.status, attempts=attempt,
                           duplicate_of=first)


class Worker:
    def __init__(self, cfg: WorkerConfig, authkey: bytes, *, reconnect_timeout: float = 60.0,
                 link: MasterLink | None = None):
        self.cfg = cfg
        self.reconnect_timeout = reconnect_timeout
        self.link = link or MasterLink(cfg.address, authkey)
        self.stats = WorkerStats()
        self._local: queue.Queue[dict | None] = queue.Queue()
        self._outbox: list[dict] = []
        self._outbox_lock = threading.Lock()
        self._outbox_since = 0.0  # when the oldest result in the outbox arrived there
        self._activity = threading.Event()
        self._gate = DownloadGate(cfg.threads)
        self._inflight = 0
        self._stopping = threading.Event()   # SIGTERM: take no more tasks
        self._finished = False               # the master said the crawl is over
        self.exit_code = 0
        self.error: str | None = None
        self._handback: list[int] = []  # ids of tasks a local fault kept from being done, to give back
        self._internal_streak = 0
        self._last_contact = 0.0  # when this worker last called the master
        self._exchange_supported = True  # until an older master says it has no `exchange`
        # until the master says otherwise, no private address is reachable
        self.policy = NetPolicy()
        # this worker's proxy and trust store; the crawl's headers, cookies and CA bundle
        # come from the master (_apply_settings)
        self.http = self._request_options((), [], None)
        self._http_settings: tuple | None = None

    # -- public --------------------------------------------------------------------
    def run(self) -> int:
        removed = storage.remove_partials(self.cfg.out)
        if removed:
            log.info("removed %d partial file(s) a previous worker left in %s", removed, self.cfg.out)
        threads = [threading.Thread(target=self._download_loop, name=f"download-{i}", daemon=True)
                   for i in range(self.cfg.threads)]
        for t in threads:
            t.start()
        link_thread = threading.Thread(target=self._link_loop, name="master-link", daemon=True)
        link_thread.start()
        while link_thread.is_alive():
            link_thread.join(0.2)  # the main thread stays free for signals
        for _ in threads:
            self._local.put(None)
        for t in threads:
            t.join(self.cfg.timeout * 3 + 5)
        return self.exit_code

    @property
    def limits(self) -> tuple[int, int]:
        """The fewest and the most downloads at once the worker has allowed so far."""
        return self._gate.estimator.lowest, self._gate.estimator.highest

    def request_stop(self) -> None:
        """Finish what is in flight, give back what was not started, deliver results, exit."""
        self._stopping.set()
        self._activity.set()

    # -- download threads ----------------------------------------------------------
    def _download_loop(self) -> None:
        policy, options = self.policy, self.http
        client = fetch.new_client(self.cfg.user_agent, policy, options)
        gate = self._gate
        gate.enter()  # a slot first: a task is taken only by a thread that may start it
        while True:
            task = self._local.get()
            if task is None:
                gate.leave()
                return
            if self._stopping.is_set():  # stopping (a fault, or SIGTERM): give it back, not start it
                with self._outbox_lock:
                    self._handback.append(task["id"])
                self._activity.set()
                continue
            if policy is not self.policy or options is not self.http:  # the master's settings arrived or changed
                policy, options = self.policy, self.http
                client.close()
                client = fetch.new_client(self.cfg.user_agent, policy, options)
            with self._outbox_lock:
                self._inflight += 1
            cpu = time.thread_time()
            try:
                result = download(task, self.cfg, client)
            except storage.LocalStorageError as exc:
                self._local_fault(task, exc.describe(self.cfg.out))
                if not gate.keep(None):
                    gate.enter()
                continue
            cpu = time.thread_time() - cpu
            self._count(result)
            self._hand_in(result)
            # only a download the server answered says how long its network takes
            sample = (urls.host_of(task["url"]), result["elapsed"], cpu) if result.get("status") else None
            if not gate.keep(sample):
                gate.enter()

    def _hand_in(self, result: dict) -> None:
        """A download thread's result joins the outbox, for the exchange loop to deliver."""
        with self._outbox_lock:
            if not self._outbox:
                self._outbox_since = time.monotonic()
            self._outbox.append(result)
            self._inflight -= 1
        self._activity.set()

    def _local_fault(self, task: dict, what: str) -> None:
        """The worker's own storage failed: the task goes back unrecorded, and the worker stops."""
        with self._outbox_lock:
            self._handback.append(task["id"])
            self._inflight -= 1
        self._fail_locally(what)

    def _fail_locally(self, what: str) -> None:
        """Stop on a fault of this worker's own: hand every task back, exit EXIT_WORKER_FAULT."""
        with self._outbox_lock:
            first = self.error is None
            if first:
                self.exit_code, self.error = EXIT_WORKER_FAULT, what
        if first:
            log.error("%s; stopping: this worker's tasks go back to the master, for another worker", what)
        self._stopping.set()
        self._activity.set()

    def _count(self, result: dict) -> None:
        with self._outbox_lock:
            self._internal_streak = self._internal_streak + 1 if result["reason"] == "internal" else 0
            sick = self._internal_streak == MAX_INTERNAL_STREAK
        if sick:
            self._fail_locally(f"{MAX_INTERNAL_STREAK} downloads in a row failed with internal errors "
                               f"(the last: {result['error']})")
        with self._outbox_lock:
            if result["ok"]:
                self.stats.ok += 1
                self.stats.bytes += result["bytes"]
                log.debug("stored %s -> %s (%d bytes)", result["url"], result["path"], result["bytes"])
            else:
                self.stats.failed += 1
                self.stats.reasons[result["reason"]] = self.stats.reasons.get(result["reason"], 0) + 1
                log.debug("failed %s: %s", result["url"], result["error"])

    # -- link thread ---------------------------------------------------------------
    def _link_loop(self) -> None:
        connected = False
        lost_since: float | None = None
        backoff = 0.2
        first = True
        while True:
            if not connected:
                try:
                    self.link.connect()
                    self._apply_settings()
                except TLSError as exc:  # a TLS mismatch, or a certificate that does not verify
                    self._fail(EXIT_TLS, str(exc))
                    return
                except ConnectError as exc:
                    self._fail(EXIT_KEY_REFUSED, str(exc))
                    return
                except (OSError, EOFError) as exc:
                    if self._stopping.is_set():  # asked to stop, and no master to hand anything back to
                        log.log(logging.WARNING if self._outbox else logging.INFO,
                                "stopping without the master (%s); %d result(s) not delivered (their tasks are "
                                "handed out again)", _why(exc), len(self._outbox))
                        if not self.exit_code:  # a fault of its own keeps its code
                            self.exit_code = EXIT_INTERRUPTED
                        return
                    now = time.monotonic()
                    lost_since = lost_since or now
                    if now - lost_since > self.reconnect_timeout:
                        verb = "reach" if first else "reconnect to"
                        self._fail(EXIT_UNREACHABLE, f"could not {verb} the master at {format_address(self.cfg.address)} "
                                      f"for {self.reconnect_timeout:.0f} s ({_why(exc)}); giving up")
                        return
                    if backoff == 0.2:
                        log.warning("master at %s unreachable (%s); retrying for up to %.0f s",
                                    format_address(self.cfg.address), _why(exc), self.reconnect_timeout)
                    self._sleep(backoff * random.uniform(0.8, 1.2))
                    backoff = min(backoff * 2, 5.0)
                    continue
                connected, backoff = True, 0.2
                tls = getattr(self.link, "tls", None)
                log.info("%s to master at %s as %s, %d threads%s", "connected" if first else "reconnected",
                         format_address(self.cfg.address), self.cfg.name, self.cfg.threads,
                         f", over {tls.description}" if tls else "")
                first, lost_since = False, None
            try:
                if self._exchange():
                    return
            except (OSError, EOFError) as exc:
                self.link.reset()
                connected = False
                if self._finished:
                    return  # the master told us to stop and has gone: a normal end
                log.warning("lost the master (%s); %d result(s) kept for delivery", _why(exc), len(self._outbox))
                lost_since = time.monotonic()
            except ForbiddenPickle as exc:
                log.error("dropped a message from the master: %s", exc)
            except Exception as exc:  # a RemoteError or a reply out of step: start the link afresh
                log.error("unexpected answer from the master (%s); reconnecting", _why(exc))
                self.link.reset()
                connected = False
                lost_since = time.monotonic()

    def _apply_settings(self) -> None:
        try:
            settings = self.link.tasks.settings()
        except (OSError, EOFError):
            raise
        except Exception as exc:  # a master that does not know the call, or sent garbage
            log.warning("could not read the crawl's settings (%s); private addresses stay blocked", _why(exc))
            return
        if isinstance(settings, dict):
            self._apply_request_settings(settings)
        hosts = settings.get("trusted_hosts") if isinstance(settings, dict) else None
        if not isinstance(hosts, list) or len(hosts) > 10_000 or not all(isinstance(h, str) for h in hosts):
            log.warning("the master sent unusable settings; private addresses stay blocked")
            return
        policy = NetPolicy(frozenset(h.lower() for h in hosts), settings.get("allow_private") is True)
        if policy != self.policy:
            self.policy = policy

    def _apply_request_settings(self, settings: dict) -> None:
        """The crawl's headers, cookies and CA bundle, for every request of this worker. The
        same settings again (after a reconnect) keep the cookie jar, and what sites set in it."""
        try:
            wanted = httpopts.from_wire(settings)
        except ValueError as exc:
            log.warning("the master sent unusable request settings (%s); requests go without its headers, "
                        "cookies and CA bundle", exc)
            wanted = ((), [], None)
        if wanted != self._http_settings:
            self._http_settings = wanted
            self.http = self._request_options(*wanted)
            headers, cookies, _ = wanted
            if headers or cookies:
                log.info("the crawl's requests carry %d header(s) and %d cookie(s)", len(headers), len(cookies))

    def _request_options(self, headers: tuple, cookies: list[dict], ca_pem: str | None) -> transport.Options:
        # Trust: this worker's --ca-bundle, else the crawl's (the master's --ca-bundle, an
        # explicit choice), else REQUESTS_CA_BUNDLE here (often a machine-wide default), else certifi's
        ca_file = self.cfg.ca_bundle or (None if ca_pem else transport.env_ca_bundle())
        return transport.Options(headers=headers, jar=httpopts.fill_jar(transport.new_jar(), cookies),
                                 proxies=transport.Proxies(self.cfg.proxy), ca_file=ca_file, ca_pem=ca_pem)

    def _exchange(self) -> bool:
        """One round: deliver results, lease tasks. True when the worker is done."""
        with self._outbox_lock:
            batch = self._outbox[:RESULT_BATCH]
            busy = self._inflight + self._local.qsize()
            backlog = len(self._outbox) - len(batch)  # results left for the next round
            held = time.monotonic() - self._outbox_since if batch else 0.0
        if self._finished or self._stopping.is_set():
            if batch:
                if not self._deliver(batch):
                    self._wait_activity(POLL_WAIT)  # the master's inbox is full: not at once
                return False
            if self._stopping.is_set() and not self._finished:
                self._give_back()
            if busy == 0:
                if self._stopping.is_set() and not self._finished and not self.exit_code:
                    self.exit_code = EXIT_INTERRUPTED
                if self.error and self.exit_code == EXIT_WORKER_FAULT:
                    self._say_stopped()
                return True
            self._wait_activity()
            return False
        limit = self._gate.limit  # downloads at once (at most --threads); lease for two rounds of them
        want = max(0, 2 * limit - busy)
        pause = IDLE_WAIT
        if backlog == 0 and held < RESULT_HOLD and self._local.qsize() >= max(1, limit // 2):
            # Enough leased tasks wait here to keep the downloads going: let results gather
            # (for RESULT_HOLD at most, as each one frees a slot of its host at the master) and
            # deliver them together, in one call instead of one call each.
            want, batch, pause = 0, [], (RESULT_HOLD - held if batch else IDLE_WAIT)
        if want or batch:
            idle = max(0, limit - busy)  # tasks of hosts with a delay go to free threads only
            # Wait on the master only when nothing is running here: a download about to finish
            # must not sit in the outbox while we wait for tasks (its result may be what frees
            # the host's limit for the next task).
            wait = IDLE_WAIT if busy == 0 and want and not backlog else 0
            items = self._deliver_and_lease(batch, want, wait, idle)
            if backlog or wait or (want and len(items) >= want):
                return False
            # Fewer tasks than wanted: the master has none that a host's limit lets go now.
            # Asking again at once would come back empty; our next result (which frees a
            # slot) or a short look later (other workers' results free slots too) will do.
            self._wait_activity(POLL_WAIT)
        else:
            self._wait_activity(pause)  # full: until a download finishes
        if time.monotonic() - self._last_contact > HEARTBEAT_SECONDS:
            # every thread busy with long downloads: tell the master we are alive (status)
            self._last_contact = time.monotonic()
            self._finished = bool(self.link.tasks.heartbeat(self.cfg.name)) or self._finished
        return False

    def _deliver_and_lease(self, batch: list[dict], want: int, wait: float, idle: int) -> list:
        """Deliver a batch of results and lease up to `want` tasks in one call (`exchange`),
        or in two calls to a master that predates it. Returns the tasks accepted."""
        self._last_contact = time.monotonic()
        if self._exchange_supported:
            self.stats.calls += 1
            try:
                reply = self.link.tasks.exchange(self.cfg.name, batch, want, wait, idle)
            except AttributeError:  # "not in exposed": an older master
                log.info("the master has no exchange call; delivering and leasing in two calls")
                self._exchange_supported = False
            else:
                if not isinstance(reply, dict):
                    log.warning("dropped a reply from the master that is not a dict")
                    return []
                if batch and reply.get("accepted") is True:
                    self._delivered(batch)
                return self._accept(reply.get("tasks"))
        if batch:
            self._deliver(batch)
        if not want:
            return []
        self.stats.calls += 1
        return self._accept(self.link.tasks.get_many(self.cfg.name, want, wait, idle))

    def _deliver(self, batch: list[dict]) -> bool:
        """put_many: False when the master's inbox refused the batch (kept for later)."""
        self._last_contact = time.monotonic()
        self.stats.calls += 1
        if not self.link.results.put_many(batch):
            return False
        self._delivered(batch)
        return True

    def _delivered(self, batch: list[dict]) -> None:
        with self._outbox_lock:
            del self._outbox[:len(batch)]
            if self._outbox:  # a backlog: its oldest came after the batch's oldest
                self._outbox_since = time.monotonic()

    def _accept(self, items: Any) -> list:
        """Queue the tasks of a lease for the download threads; returns the items accepted."""
        if not isinstance(items, list):
            log.warning("dropped a reply from the master that is not a list")
            return []
        for item in items:
            if is_stop(item):
                self._finished = True
                continue
            try:
                self._local.put(validate_task(item))
            except InvalidMessage as exc:
                log.warning("dropped an invalid task: %s", exc)
        return items

    def _give_back(self) -> None:
        """Hand tasks not yet started (or kept from being done by a local fault) back to the
        master, so nobody waits for their lease."""
        with self._outbox_lock:
            ids, self._handback = self._handback, []
        while True:
            try:
                task = self._local.get_nowait()
            except queue.Empty:
                break
            if task is None:  # a download thread's exit sentinel: leave it
                self._local.put(None)
                break
            ids.append(task["id"])
        if ids:
            try:
                n = self.link.tasks.release(self.cfg.name, ids)
            except (OSError, EOFError):
                with self._outbox_lock:  # not given back yet: again after reconnecting
                    self._handback.extend(i for i in ids)
                raise
            self.stats.handed_back += n
            log.debug("gave back %d task(s) not done", n)

    def _say_stopped(self) -> None:
        """Tell the master why this worker stops, so that its log says so too."""
        try:
            self.link.tasks.stopped(self.cfg.name, self.error)
        except (OSError, EOFError):
            pass  # the master has gone: it learns nothing, loses nothing
        except Exception as exc:  # an older master without the call
            log.debug("could not tell the master why this worker stops: %s", _why(exc))

    def _wait_activity(self, seconds: float = IDLE_WAIT) -> None:
        self._activity.wait(seconds)
        self._activity.clear()

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)  # a stop request cuts it short

    def _fail(self, code: int, message: str) -> None:
        self.exit_code, self.error = code, message
        log.error("%s", message)


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
