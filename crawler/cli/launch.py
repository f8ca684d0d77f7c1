"""Launching a crawl in this process: the master (run_master), the master with local workers
(run_local), a clean stop on Ctrl-C/SIGTERM, and the collector's tuning. The command line
(cli) parses arguments and calls in here; `crawler demo` does too."""

from __future__ import annotations

import gc
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from .. import config, portable
from ..config import EXIT_INTERRUPTED, EXIT_OK, CrawlConfig
from ..errors import CrawlerError
from ..master.progress import make_progress
from ..net import httpopts
from . import local, logs

log = logging.getLogger("crawler")

CONSOLE: dict = {}  # the live display's console, when there is one (set up once per process)


def install_stop_handlers(stop, *, hard_exit_code: int) -> None:
    """First Ctrl-C/SIGTERM (Ctrl-Break on Windows): a clean stop; a second one: stop at once."""
    state = {"count": 0}

    def handler(signum, frame):
        state["count"] += 1
        if state["count"] == 1:
            log.warning("%s: stopping cleanly (press Ctrl-C again to stop at once)", signal.Signals(signum).name)
            stop()
        else:
            log.warning("stopping at once")
            logging.shutdown()
            os._exit(hard_exit_code)

    for sig in portable.stop_signals():
        signal.signal(sig, handler)


def run_master(cfg: CrawlConfig, key: bytes, key_source: str, listen: tuple[str, int], *,
               on_ready=None, should_abort=None, fresh: bool = False, tls=None, workers_pending=None,
               refresh: bool = False) -> int:
    from ..master import Master

    def announce(address):
        host, port = address
        if host in ("0.0.0.0", "::", "") and tls is None:
            log.warning("listening on all interfaces without TLS: the authkey is the only protection and tasks "
                        "and results cross the network in the clear; prefer --tls-cert/--tls-key, a private "
                        "network or an SSH tunnel")
        if tls is not None:
            log.info("serving the queues over TLS; certificate SHA-256 fingerprint %s", tls.fingerprint)
        log.info("%s; workers: crawler worker --connect %s:%d --out DIR%s "
                 "(with --authkey-file or $%s)", key_source, "HOST" if host in ("0.0.0.0", "::") else host,
                 port, " --tls-ca CA_FILE (or --tls-fingerprint)" if tls else "", config.AUTHKEY_ENV)
        if on_ready:
            on_ready(address)

    import urllib.request
    said = httpopts.describe(cfg.headers, cfg.cookies, cfg.proxy, cfg.ca_bundle, urllib.request.getproxies())
    if said:
        log.info("%s", said)
    master = Master(cfg, key, listen, on_ready=announce, should_abort=should_abort, fresh=fresh, tls=tls,
                    workers_pending=workers_pending, refresh=refresh,
                    progress=make_progress(live=CONSOLE.get("console") is not None, console=CONSOLE.get("console")))
    install_stop_handlers(master.request_stop, hard_exit_code=EXIT_INTERRUPTED)
    summary = master.run()
    if master.already_finished:
        return EXIT_OK
    for line in summary.lines():
        log.info("%s", line)
    log.info("manifest: %s", cfg.out / config.MANIFEST_NAME)
    if master.exit_code != config.EXIT_STATE_UNWRITABLE:  # no room for a gallery either
        _write_gallery(cfg.out)
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return master.exit_code


def _write_gallery(out: Path) -> None:
    """The master's last step: the report's gallery, so the user can look at what came in."""
    from ..report import build_report, write_gallery
    try:
        log.info("gallery: %s", write_gallery(out, build_report(out)))
    except (CrawlerError, OSError) as exc:  # the crawl itself is done and recorded
        log.warning("could not write the gallery: %s", exc)


def run_local(cfg: CrawlConfig, key: bytes, key_source: str, listen: tuple[str, int], *,
              workers: int, threads: int, verbosity: list[str], worker_main: Callable[[list[str]], int],
              fresh: bool = False, tls=None, refresh: bool = False) -> int:
    """A master in this process and `workers` worker processes connected over loopback TCP
    (over TLS when `tls` is given: the local workers trust exactly the master's certificate).
    worker_main is the command line's main(): what a forked worker runs."""

    env = {config.AUTHKEY_ENV: key.decode()}
    if cfg.proxy:  # not on their command line: a proxy URL may hold a password
        env[config.PROXY_ENV] = cfg.proxy
    tls_argv = ["--tls-fingerprint", tls.fingerprint] if tls else []

    def worker_argv(connect: str) -> list[str]:
        return ["worker", "--connect", connect, "--out", str(cfg.out), "--threads", str(threads),
                "--max-bytes", str(cfg.max_bytes), "--timeout", str(cfg.timeout), "--user-agent", cfg.user_agent,
                "--reconnect-timeout", "30", "--log-format", "json", *tls_argv, *verbosity]

    # Started now, before the master starts a thread: forked where that is safe, else as new
    # interpreters, which then import while the master starts. Either way they wait for its
    # address (see local.py), so none is late for a short crawl.
    if local.can_fork():
        procs: list = local.fork_workers(workers, worker_argv, env, worker_main)
        log.debug("%d local workers forked", workers)
    else:
        procs = [local.spawn_worker(worker_argv("-"), env) for _ in range(workers)]
        log.info("%d local workers started as `%s -m crawler worker` (not forked)", workers,
                 os.path.basename(sys.executable))

    for n, p in enumerate(procs, 1):
        # the workers' logs come through this process, so they share its format and display
        threading.Thread(target=logs.relay, args=(p.stderr, f"[worker {n}]"), daemon=True).start()

    def start_workers(address):
        host = "127.0.0.1" if address[0] in ("0.0.0.0", "") else "::1" if address[0] == "::" else address[0]
        connect = f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
        for p in procs:
            p.start(connect)

    def all_workers_gone() -> str | None:
        if procs and all(p.poll() is not None for p in procs):
            codes = ", ".join(str(p.returncode) for p in procs)
            return f"all {len(procs)} local workers exited (exit codes {codes}) before the crawl finished"
        return None

    try:
        code = run_master(cfg, key, key_source, listen, on_ready=start_workers, should_abort=all_workers_gone,
                          fresh=fresh, tls=tls, workers_pending=lambda: any(p.poll() is None for p in procs),
                          refresh=refresh)
    finally:
        for p in procs:
            p.cancel()  # the master never listened (say, the crawl was finished already): they exit
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log.warning("worker %d did not exit; terminating it", p.pid)
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    return code


def tune_gc() -> None:
    """Collect garbage less often: a crawl allocates many short-lived containers (messages,
    tasks, results) and few reference cycles, and with the default threshold (700) the
    collector ran every few images (bench/README.md, under bench/split.py, has the numbers)."""
    gc.set_threshold(20_000, 20, 20)
