"""Command line: the commands (`parser` parses their arguments): build a config, call in.
No crawl logic lives here."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path

from .. import config, portable
from ..config import (
    EXIT_AUTHKEY,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_KEY_REFUSED,
    EXIT_KEY_TOO_OPEN,
    EXIT_KEY_TOO_SHORT,
    EXIT_OK,
    EXIT_TLS,
    EXIT_USAGE,
    CrawlConfig,
    WorkerConfig,
    parse_address,
)
from ..errors import AuthkeyError, AuthkeyTooOpenError, AuthkeyTooShortError, ConfigError, CrawlerError, StateWriteError
from ..link import authkey, manager
from ..master.board import MAX_WAIT
from ..master.progress import use_live_display
from ..net import httpopts
from ..rules import urls
from . import logs
from .launch import CONSOLE, install_stop_handlers, run_local, run_master, tune_gc
from .parser import parse_args

log = logging.getLogger("crawler")


def _proxy(args: argparse.Namespace) -> str | None:
    proxy = args.proxy or os.environ.get(config.PROXY_ENV)
    return httpopts.check_proxy(proxy) if proxy else None


def _ca_bundle(args: argparse.Namespace) -> str | None:
    if not args.ca_bundle:
        return None
    httpopts.read_ca_bundle(args.ca_bundle)  # checked before the crawl starts
    return str(Path(args.ca_bundle).resolve())


def server_tls_from(args: argparse.Namespace):
    """The master's TLS settings from --tls-cert/--tls-key, or None for plaintext."""
    if args.tls_cert is None and args.tls_key is None:
        return None
    if args.tls_cert is None or args.tls_key is None:
        raise ConfigError("--tls-cert and --tls-key go together: the certificate and its private key")
    from ..link.tls import server_tls
    return server_tls(args.tls_cert, args.tls_key)


def client_tls_from(args: argparse.Namespace):
    """Whom a worker (or status) trusts over TLS, or None for plaintext."""
    if not (args.tls or args.tls_ca is not None or args.tls_fingerprint is not None):
        return None
    from ..link.tls import client_tls
    return client_tls(args.tls_ca, args.tls_fingerprint)


def setup_logging(args: argparse.Namespace):
    """Set up logging; returns the console a live progress display draws on, or None."""
    live = args.command in ("master", "run", "demo") and use_live_display(args.quiet, args.log_format, args.log_file)
    return logs.setup(quiet=args.quiet, verbose=args.verbose, log_file=args.log_file,
                      log_format=args.log_format, live=live)


def read_seeds(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read seed file {path}: {exc.strerror}") from None
    seeds, problems = urls.parse_seeds(lines)
    for problem in problems:
        log.warning("%s %s (skipped)", path, problem)
    if not seeds:
        raise ConfigError(f"no usable seed URL in {path}")
    return seeds


def crawl_config(args: argparse.Namespace, seeds: list[str]) -> CrawlConfig:
    cookies: list[dict] = []
    if args.cookies:
        cookies, expired = httpopts.read_cookies_file(args.cookies)
        if expired:
            log.warning("%s: left out %d expired cookie(s)", args.cookies, expired)
    return CrawlConfig(seeds=tuple(seeds), out=args.out, max_depth=args.max_depth, max_pages=args.max_pages,
                       allow_domains=tuple(args.allow_domain), include=tuple(args.include),
                       exclude=tuple(args.exclude), same_host_images=args.same_host_images,
                       max_bytes=args.max_bytes, max_page_bytes=args.max_page_bytes, timeout=args.timeout,
                       user_agent=args.user_agent, page_threads=args.page_threads,
                       lease_seconds=args.lease_seconds, max_attempts=args.max_attempts,
                       allow_private=args.allow_private, max_pages_per_host=args.max_pages_per_host,
                       per_host=args.per_host, delay=args.delay, retries=args.retries,
                       ignore_robots=args.ignore_robots, accept=args.accept, min_bytes=args.min_bytes,
                       headers=httpopts.parse_headers(args.header), cookies=tuple(cookies), proxy=_proxy(args),
                       ca_bundle=_ca_bundle(args), srcset=args.srcset, page_processes=args.page_processes,
                       sitemaps=args.sitemaps)


def cmd_master(args) -> int:
    cfg = crawl_config(args, read_seeds(args.seeds))
    tls = server_tls_from(args)
    key, source = authkey.master_key(cfg.out, args.authkey_file)
    return run_master(cfg, key, source, parse_address(args.listen), fresh=args.fresh, tls=tls,
                      refresh=_refresh(args))


def cmd_worker(args) -> int:
    from ..worker import Worker

    connect, master_done = args.connect, None
    if connect == "-":  # a local worker of `crawler run`, started before its master listens
        from .local import address_from_stdin
        connect, master_done = address_from_stdin()
        if not connect:
            return EXIT_OK  # the master never came up (its crawl was finished already)
        if master_done.wait(0.05):
            log.info("the crawl at %s was over before this worker started; nothing to do", connect)
            return EXIT_OK
    address = parse_address(connect)
    kwargs = {"name": args.name} if args.name else {}
    cfg = WorkerConfig(address=address, out=args.out, threads=args.threads, max_bytes=args.max_bytes,
                       timeout=args.timeout, user_agent=args.user_agent, proxy=_proxy(args),
                       ca_bundle=_ca_bundle(args), **kwargs)
    tls = client_tls_from(args)
    key = authkey.worker_key(cfg.out, args.authkey_file)
    if args.socket_timeout <= 2 * MAX_WAIT:
        raise ConfigError(f"--socket-timeout must be more than {2 * MAX_WAIT:g} s (the master holds a get up to "
                          f"{MAX_WAIT:g} s)")
    # The manager's connection factory is process-wide (multiprocessing's own registry).
    manager.ClientSettings.recv_timeout = args.socket_timeout
    worker = Worker(cfg, key, reconnect_timeout=args.reconnect_timeout, link=manager.MasterLink(address, key, tls=tls))
    install_stop_handlers(worker.request_stop, hard_exit_code=EXIT_INTERRUPTED)
    if master_done is not None:
        done = master_done

        def stop_when_the_master_is_done() -> None:
            done.wait()
            worker.request_stop()
        threading.Thread(target=stop_when_the_master_is_done, daemon=True).start()
    code = worker.run()
    s = worker.stats
    if code == 0:
        low, high = worker.limits
        log.info("worker %s done: %d stored (%.1f MB), %d failed; %d calls to the master; %s downloads at once "
                 "(--threads %d)", cfg.name, s.ok, s.bytes / 1e6, s.failed, s.calls,
                 low if low == high else f"{low} to {high}", cfg.threads)
    elif code in (EXIT_INTERRUPTED, config.EXIT_WORKER_FAULT):
        log.info("worker %s stopped: %d stored (%.1f MB), %d failed, %d task(s) handed back to the master",
                 cfg.name, s.ok, s.bytes / 1e6, s.failed, s.handed_back)
    return code


def _refresh(args) -> bool:
    if args.refresh and args.fresh:
        raise ConfigError("--fresh starts over and --refresh crawls what is recorded again: use one of them")
    return args.refresh


def _verbosity_flags(args) -> list[str]:
    return ["-q"] if args.quiet else ["-v"] if args.verbose else []


def cmd_run(args) -> int:
    if args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    cfg = crawl_config(args, read_seeds(args.seeds))
    tls = server_tls_from(args)
    key, source = authkey.master_key(cfg.out, args.authkey_file)
    return run_local(cfg, key, source, parse_address(args.listen), workers=args.workers, threads=args.threads,
                     verbosity=_verbosity_flags(args), worker_main=main, fresh=args.fresh, tls=tls,
                     refresh=_refresh(args))


def cmd_status(args) -> int:
    import json

    from ..link.manager import MasterLink
    from .show import status_lines

    tls = client_tls_from(args)
    key = authkey.worker_key(args.out, args.authkey_file)
    link = MasterLink(parse_address(args.connect), key, tls=tls)
    try:
        link.connect()
        status = link.tasks.status()
    except (OSError, EOFError) as exc:
        log.error("cannot reach the master at %s: %s", args.connect, exc)
        return config.EXIT_UNREACHABLE
    finally:
        link.reset()
    print(json.dumps(status, indent=2, sort_keys=True) if args.json else "\n".join(status_lines(status)))
    return EXIT_OK


def cmd_extract(args) -> int:
    import json

    from ..errors import SitemapError
    from ..net import fetch
    from ..page import charset
    from .show import extraction_lines, extraction_report, sitemap_lines, sitemap_report

    try:
        found, base = _page_or_sitemap(args)
    except SitemapError as exc:
        raise CrawlerError(f"sitemap {args.page} refused: {exc}") from None
    html = (charset.decode_html(found) if isinstance(found, bytes) else found.text()
            if isinstance(found, fetch.Page) else None)
    scope = urls.Scope(seed_hosts=frozenset({urls.host_of(base)}), allow_domains=tuple(args.allow_domain),
                       include=tuple(args.include), exclude=tuple(args.exclude))
    if html is None:  # a sitemap: the pages and images it lists
        report = sitemap_report(found, scope, args.same_host_images)
        lines = sitemap_lines(report)
    else:
        report = extraction_report(html, base, scope, args.same_host_images, srcset=args.srcset)
        lines = extraction_lines(report)
    print(json.dumps(report, indent=2) if args.json else "\n".join(lines))
    return EXIT_OK


def _page_or_sitemap(args):
    """What `crawler extract` reads: a page's bytes (a file), a fetched Page, or a Sitemap; and its URL."""
    from ..master import sitemaps
    from ..net import fetch
    from ..net.netguard import NetPolicy

    path = Path(args.page)
    if path.is_file():
        base = args.base or f"http://localhost/{path.name}"
        # read and decoded as the crawl reads and decodes a page that names no charset in its header
        return sitemaps.read_file_page_or_sitemap(path, base, config.DEFAULT_MAX_PAGE_BYTES), base
    base = urls.normalize_url(args.page)
    if base is None:
        raise ConfigError(f"{args.page!r} is neither a file nor an http(s) URL")
    # the user named this page: its host is trusted like a seed's
    client = fetch.new_client(args.user_agent, NetPolicy(frozenset({urls.host_of(base)})))
    found = sitemaps.fetch_page_or_sitemap(client, base, max_page_bytes=config.DEFAULT_MAX_PAGE_BYTES,
                                           timeout=args.timeout)
    return found, found.final_url if isinstance(found, fetch.Page) else found.url


def cmd_report(args) -> int:
    from ..report import run_report
    return run_report(args.out)


def cmd_demo(args) -> int:
    from . import demo
    return demo.run_demo(args.out, workers=args.workers, verbosity=_verbosity_flags(args), worker_main=main)


COMMANDS = {"master": cmd_master, "worker": cmd_worker, "run": cmd_run, "demo": cmd_demo,
            "status": cmd_status, "extract": cmd_extract, "report": cmd_report}


def main(argv: list[str] | None = None) -> int:
    tune_gc()
    try:
        args = parse_args(argv)
    except ConfigError as exc:
        print(f"crawler: {exc}", file=sys.stderr)
        return EXIT_USAGE
    CONSOLE["console"] = setup_logging(args)
    from ..errors import ConnectError
    from ..link.tls import TLSError
    if portable.UNKNOWN_DISABLED:
        log.warning("$%s: unknown name(s) %s ignored (known: %s)", portable.DISABLE_ENV,
                    ", ".join(sorted(portable.UNKNOWN_DISABLED)), ", ".join(portable.FAST_PATHS))
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    except AuthkeyError as exc:
        log.error("%s", exc)
        if isinstance(exc, AuthkeyTooOpenError):
            return EXIT_KEY_TOO_OPEN
        return EXIT_KEY_TOO_SHORT if isinstance(exc, AuthkeyTooShortError) else EXIT_AUTHKEY
    except TLSError as exc:
        log.error("%s", exc)
        return EXIT_TLS
    except ConnectError as exc:
        log.error("%s", exc)
        return EXIT_KEY_REFUSED
    except StateWriteError as exc:
        log.error("%s", exc)
        return config.EXIT_STATE_UNWRITABLE
    except CrawlerError as exc:
        log.error("%s", exc)
        return EXIT_FAILED
    except BrokenPipeError:  # `crawler report DIR | head`: the reader has gone, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        if portable.is_address_in_use(exc):
            log.error("cannot listen: %s (another master running? pick another --listen port)", exc.strerror)
            return EXIT_USAGE
        raise
