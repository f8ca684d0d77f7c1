"""Command line: parse arguments, build a config, call in. No crawl logic lives here."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path

from . import __version__, authkey, config, httpopts, logs, portable, queues, urls
from .board import MAX_WAIT
from .config import (
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
from .errors import AuthkeyError, AuthkeyTooOpenError, AuthkeyTooShortError, ConfigError, CrawlerError, StateWriteError
from .launch import CONSOLE, install_stop_handlers, run_local, run_master, tune_gc
from .progress import use_live_display

log = logging.getLogger("crawler")

_KEY_FILE = f"OUT/{config.STATE_DIRNAME}/{authkey.KEY_NAME}"  # where the master keeps its authkey

EPILOG_MAIN = """examples:
  crawler demo                                   crawl the bundled demo site, offline
  crawler run seeds/example.txt --workers 4      master and 4 local workers
  crawler master seeds/example.txt --listen 0.0.0.0:50000 --out downloads
  crawler worker --connect MASTER_HOST:50000 --out downloads --threads 8
  crawler master seeds/example.txt --listen 0.0.0.0:50000 --tls-cert master.crt --tls-key master.key
  crawler worker --connect master.lan:50000 --tls-ca ca.crt --out downloads

exit codes: 0 done, 1 crawl failed, 2 bad arguments or seeds, 3 authkey missing,
            4 master unreachable, 5 authkey refused by the master, 6 authkey file
            readable by others, 7 authkey too short, 8 TLS with the master failed
            (certificate not verified, or only one side uses TLS), 9 worker stopped
            on a fault of its own (its disk...), 10 master cannot write its manifest
            or journal, 130 stopped by Ctrl-C/SIGTERM (Ctrl-Break on Windows)"""


def _crawl_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("crawl")
    g.add_argument("--out", type=Path, default=Path(config.DEFAULT_OUT), help="downloads folder (default: %(default)s)")
    g.add_argument("--max-depth", type=int, default=config.DEFAULT_MAX_DEPTH,
                   help="link hops from a seed (default: %(default)s)")
    g.add_argument("--max-pages", type=int, default=config.DEFAULT_MAX_PAGES,
                   help="pages fetched at most (default: %(default)s)")
    g.add_argument("--allow-domain", action="append", default=[], metavar="D",
                   help="also crawl pages on D and its subdomains (repeatable)")
    g.add_argument("--include", action="append", default=[], metavar="REGEX",
                   help="only follow page URLs matching REGEX (repeatable)")
    g.add_argument("--exclude", action="append", default=[], metavar="REGEX",
                   help="skip URLs matching REGEX (repeatable)")
    g.add_argument("--same-host-images", action="store_true",
                   help="download images only from the pages' hosts (default: any host)")
    g.add_argument("--max-bytes", type=int, default=config.DEFAULT_MAX_BYTES,
                   help="largest image stored (default: %(default)s)")
    g.add_argument("--max-page-bytes", type=int, default=config.DEFAULT_MAX_PAGE_BYTES,
                   help="largest page read; longer ones are cut (default: %(default)s)")
    g.add_argument("--timeout", type=float, default=config.DEFAULT_TIMEOUT,
                   help="connect/read timeout in seconds (default: %(default)s)")
    g.add_argument("--user-agent", default=config.DEFAULT_USER_AGENT, metavar="UA",
                   help="User-Agent header (default: %(default)s)")
    g.add_argument("--page-threads", type=int, default=config.DEFAULT_PAGE_THREADS,
                   help="threads fetching pages on the master (default: %(default)s)")
    g.add_argument("--page-processes", type=int, default=config.DEFAULT_PAGE_PROCESSES, metavar="N",
                   help="processes beside the master that parse pages, so parsing holds up neither the "
                        "master nor its GIL; they start once the page threads have parsed for 2 s of CPU; "
                        "0: the page threads parse (default: %(default)s)")
    g.add_argument("--lease-seconds", type=float, default=None,
                   help="time a worker has for a task before it is handed out again (default: 4 x timeout + 10)")
    g.add_argument("--max-attempts", type=int, default=config.DEFAULT_MAX_ATTEMPTS,
                   help="leases per task before it is recorded as failed (default: %(default)s)")
    g.add_argument("--authkey-file", type=Path, default=None, metavar="FILE",
                   help=f"authkey file (mode 600); default: $CRAWLER_AUTHKEY, else {_KEY_FILE}, generated if missing")
    g.add_argument("--per-host", type=int, default=config.DEFAULT_PER_HOST,
                   help="requests in flight to one host, over the master and all workers (default: %(default)s)")
    g.add_argument("--delay", type=float, default=config.DEFAULT_DELAY,
                   help="seconds between request starts to one host (default: %(default)s; robots.txt Crawl-delay can "
                        "raise it)")
    g.add_argument("--retries", type=int, default=config.DEFAULT_RETRIES,
                   help="retries after connection errors, timeouts, 408, 429, 5xx (default: %(default)s)")
    g.add_argument("--ignore-robots", action="store_true", help="do not fetch or honour robots.txt")
    g.add_argument("--accept", type=config.parse_accept, default=(), metavar="TYPES",
                   help="store only these image types, by their real type: e.g. png,jpg,webp (default: all)")
    g.add_argument("--min-bytes", type=int, default=0,
                   help="skip images smaller than this, e.g. tracking pixels (default: 0)")
    g.add_argument("--allow-private", action="store_true",
                   help="let the crawl reach loopback and private addresses on any host (default: only the seeds' "
                        "hosts)")
    g.add_argument("--max-pages-per-host", type=int, default=config.DEFAULT_MAX_PAGES_PER_HOST,
                   help="pages fetched at most from one host (default: %(default)s)")
    g.add_argument("--fresh", action="store_true",
                   help=f"start over instead of resuming the crawl recorded in OUT/{config.STATE_DIRNAME}/")
    g.add_argument("--refresh", action="store_true",
                   help="crawl a finished (or stopped) crawl in OUT again: every page fetched again, every known "
                        "image asked with a conditional request (only what changed is downloaded)")
    g.add_argument("--no-sitemaps", dest="sitemaps", action="store_false",
                   help="do not read sitemaps (default: each origin's robots.txt Sitemap: lines, else /sitemap.xml)")
    _srcset_option(g)


def _srcset_option(g) -> None:
    g.add_argument("--srcset", choices=config.SRCSET_MODES, default=config.DEFAULT_SRCSET,
                   help="all: every candidate of a srcset, <picture> or image-set(); largest: only the widest "
                        "(else densest) of each <img>, <picture> and image-set() (default: %(default)s)")


def _request_options(p: argparse.ArgumentParser, *, crawl: bool) -> None:
    """How requests go out: a proxy and a trust store per process; headers and cookies per
    crawl (given to the master, which hands them to its workers)."""
    g = p.add_argument_group("requests")
    g.add_argument("--proxy", default=None, metavar="URL",
                   help=f"send every request through this HTTP(S) proxy (default: ${config.PROXY_ENV}, else "
                        "HTTP_PROXY, HTTPS_PROXY and NO_PROXY from the environment)")
    g.add_argument("--ca-bundle", default=None, metavar="FILE",
                   help="verify TLS against the CA certificates in this PEM file (default: $REQUESTS_CA_BUNDLE, "
                        "else certifi's bundle)" + ("; the workers get them too" if crawl else
                                                    "; wins over the bundle the master hands out"))
    if crawl:
        g.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                       help="send this header with every request of the crawl, pages and images, on every worker "
                            "(repeatable); not sent on when a redirect leads to another site")
        g.add_argument("--cookies", default=None, metavar="FILE",
                       help="send the cookies of this Netscape cookies.txt (as curl, wget and browser extensions "
                            "write it) to the sites they belong to, from every worker")


def _proxy(args: argparse.Namespace) -> str | None:
    proxy = args.proxy or os.environ.get(config.PROXY_ENV)
    return httpopts.check_proxy(proxy) if proxy else None


def _ca_bundle(args: argparse.Namespace) -> str | None:
    if not args.ca_bundle:
        return None
    httpopts.read_ca_bundle(args.ca_bundle)  # checked before the crawl starts
    return str(Path(args.ca_bundle).resolve())
def _tls_server_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("TLS on the manager link")
    g.add_argument("--tls-cert", type=Path, default=None, metavar="FILE",
                   help="serve the queues over TLS with this certificate (PEM; the chain after it)")
    g.add_argument("--tls-key", type=Path, default=None, metavar="FILE",
                   help="the certificate's private key (PEM, mode 600)")


def _tls_client_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("TLS on the manager link (for a master started with --tls-cert)")
    g.add_argument("--tls", action="store_true",
                   help="connect over TLS, trusting the system's CA store; the certificate must name the --connect "
                        "host")
    g.add_argument("--tls-ca", type=Path, default=None, metavar="FILE",
                   help="connect over TLS, trusting the CA certificates in FILE (PEM) instead")
    g.add_argument("--tls-fingerprint", default=None, metavar="SHA256",
                   help="connect over TLS, trusting exactly the certificate with this SHA-256 fingerprint "
                        "(the master prints it); no CA or name check")


def server_tls_from(args: argparse.Namespace):
    """The master's TLS settings from --tls-cert/--tls-key, or None for plaintext."""
    if args.tls_cert is None and args.tls_key is None:
        return None
    if args.tls_cert is None or args.tls_key is None:
        raise ConfigError("--tls-cert and --tls-key go together: the certificate and its private key")
    from .tls import server_tls
    return server_tls(args.tls_cert, args.tls_key)


def client_tls_from(args: argparse.Namespace):
    """Whom a worker (or status) trusts over TLS, or None for plaintext."""
    if not (args.tls or args.tls_ca is not None or args.tls_fingerprint is not None):
        return None
    from .tls import client_tls
    return client_tls(args.tls_ca, args.tls_fingerprint)


def _config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help="a TOML file with the same keys as these flags (max-depth = 3); flags win")


def _verbosity(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    p.add_argument("-v", "--verbose", action="store_true", help="log every page and download")
    p.add_argument("--log-file", default=None, metavar="FILE", help="write the log to FILE instead of stderr")
    p.add_argument("--log-format", choices=("text", "json"), default="text",
                   help="text for people, json (one object per line) for machines (default: text)")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    # allow_abbrev=False: `--authkey` must not quietly mean `--authkey-file`, nor any
    # prefix mean an option that a later version adds
    parser = argparse.ArgumentParser(prog="crawler", description="A distributed image crawler.",
                                     epilog=EPILOG_MAIN, formatter_class=fmt, allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"crawler {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")


    m = sub.add_parser("master", allow_abbrev=False,
                       help="crawl pages and serve image tasks to workers", formatter_class=fmt,
                       epilog="example:\n  crawler master seeds/example.txt --listen 0.0.0.0:50000 --out downloads")
    m.add_argument("seeds", type=Path, help="seed file: one URL per line, # comments")
    m.add_argument("--listen", default=f"{config.DEFAULT_LISTEN_HOST}:{config.DEFAULT_PORT}", metavar="HOST:PORT",
                   help="address to serve the queues on (default: %(default)s; loopback only)")
    _crawl_options(m)
    _request_options(m, crawl=True)
    _tls_server_options(m)
    _config_option(m)
    _verbosity(m)

    w = sub.add_parser("worker", allow_abbrev=False, help="download images handed out by a master", formatter_class=fmt,
                       epilog="example:\n  CRAWLER_AUTHKEY=... crawler worker --connect master.lan:50000 --out "
                              "downloads --threads 8")
    w.add_argument("--connect", required=True, metavar="HOST:PORT",
                   help="the master's address (-: read it from the first line of stdin, as the workers "
                        "`crawler run` starts do; stop when stdin closes)")
    w.add_argument("--out", type=Path, default=Path(config.DEFAULT_OUT), help="downloads folder (default: %(default)s)")
    w.add_argument("--threads", type=int, default=config.DEFAULT_THREADS,
                   help="most downloads at once; fewer when downloads barely wait on the network (default: "
                        "%(default)s)")
    w.add_argument("--max-bytes", type=int, default=config.DEFAULT_MAX_BYTES,
                   help="largest image stored (default: %(default)s)")
    w.add_argument("--timeout", type=float, default=config.DEFAULT_TIMEOUT,
                   help="connect/read timeout in seconds (default: %(default)s)")
    w.add_argument("--user-agent", default=config.DEFAULT_USER_AGENT, metavar="UA", help="User-Agent header")
    w.add_argument("--name", default=None, help="worker name in the manifest (default: HOST:PID)")
    w.add_argument("--reconnect-timeout", type=float, default=60.0,
                   help="give up after the master has been unreachable this long (default: %(default)s s)")
    w.add_argument("--socket-timeout", type=float, default=30.0,
                   help="a master that does not answer a call for this long counts as lost (default: %(default)s s)")
    w.add_argument("--authkey-file", type=Path, default=None, metavar="FILE",
                   help=f"authkey file (mode 600); default: $CRAWLER_AUTHKEY, else {_KEY_FILE}")
    _request_options(w, crawl=False)
    _tls_client_options(w)
    _config_option(w)
    _verbosity(w)

    r = sub.add_parser("run", allow_abbrev=False, help="master and N local workers in one command", formatter_class=fmt,
                       epilog="example:\n  crawler run seeds/example.txt --workers 4 --out downloads")
    r.add_argument("seeds", type=Path, help="seed file: one URL per line, # comments")
    r.add_argument("--workers", type=int, default=2, help="local worker processes (default: %(default)s)")
    r.add_argument("--threads", type=int, default=config.DEFAULT_THREADS,
                   help="most downloads at once per worker; fewer when downloads barely wait on the network (default: "
                        "%(default)s)")
    r.add_argument("--listen", default=f"{config.DEFAULT_LISTEN_HOST}:0", metavar="HOST:PORT",
                   help="address to serve the queues on, for more workers to join (default: loopback, a free port)")
    _crawl_options(r)
    _request_options(r, crawl=True)
    _tls_server_options(r)
    _config_option(r)
    _verbosity(r)

    s = sub.add_parser("status", allow_abbrev=False,
                       help="ask a running master how its crawl goes", formatter_class=fmt,
                       epilog="example:\n  crawler status --connect 127.0.0.1:50000 --out downloads --json")
    s.add_argument("--connect", required=True, metavar="HOST:PORT", help="the master's address")
    s.add_argument("--out", type=Path, default=Path(config.DEFAULT_OUT),
                   help=f"where to look for the authkey ({_KEY_FILE})")
    s.add_argument("--authkey-file", type=Path, default=None, metavar="FILE", help="authkey file (mode 600)")
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    _tls_client_options(s)
    _verbosity(s)

    e = sub.add_parser("extract", allow_abbrev=False, help="show what the master would take from one page or sitemap",
                       formatter_class=fmt, epilog="examples:\n  crawler extract https://example.com/gallery.html\n"
                                                   "  crawler extract saved.html --base https://example.com/ --json\n"
                                                   "  crawler extract https://example.com/sitemap.xml")
    e.add_argument("page", help="a page or sitemap URL, or a local HTML or sitemap file")
    e.add_argument("--base", default=None, metavar="URL",
                   help="the URL a local file is read as (default: http://localhost/FILE)")
    e.add_argument("--allow-domain", action="append", default=[], metavar="D",
                   help="also in scope: D and its subdomains")
    e.add_argument("--include", action="append", default=[], metavar="REGEX")
    e.add_argument("--exclude", action="append", default=[], metavar="REGEX")
    e.add_argument("--same-host-images", action="store_true")
    e.add_argument("--timeout", type=float, default=config.DEFAULT_TIMEOUT)
    e.add_argument("--user-agent", default=config.DEFAULT_USER_AGENT, metavar="UA")
    _srcset_option(e)
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    _verbosity(e)

    rp = sub.add_parser("report", allow_abbrev=False, help="summarise a crawl and write its HTML gallery",
                        formatter_class=fmt,
                        epilog="example:\n  crawler report downloads    # then open downloads/index.html")
    rp.add_argument("out", type=Path, metavar="DIR", help="the --out folder of a crawl")
    _verbosity(rp)

    d = sub.add_parser("demo", allow_abbrev=False, help="crawl the bundled demo site, offline", formatter_class=fmt,
                       epilog="example:\n  crawler demo --out /tmp/demo")
    d.add_argument("--out", type=Path, default=Path(config.DEFAULT_OUT), help="downloads folder (default: %(default)s)")
    d.add_argument("--workers", type=int, default=2, help="local worker processes (default: %(default)s)")
    _verbosity(d)
    return parser


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
    from .worker import Worker

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
    queues.ClientSettings.recv_timeout = args.socket_timeout
    worker = Worker(cfg, key, reconnect_timeout=args.reconnect_timeout, link=queues.MasterLink(address, key, tls=tls))
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

    from .show import status_lines
    from .queues import MasterLink

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

    from . import charset, fetch
    from .errors import SitemapError
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
    from . import fetch, sitemaps
    from .netguard import NetPolicy

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
    from .report import run_report
    return run_report(args.out)


def cmd_demo(args) -> int:
    from . import demo
    return demo.run_demo(args.out, workers=args.workers, verbosity=_verbosity_flags(args), worker_main=main)


COMMANDS = {"master": cmd_master, "worker": cmd_worker, "run": cmd_run, "demo": cmd_demo,
            "status": cmd_status, "extract": cmd_extract, "report": cmd_report}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line; a --config file's values become defaults, so flags win."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "config", None) is not None:
        from . import configfile
        # private: argparse exposes a subcommand's parser nowhere else (_actions, _SubParsersAction)
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[args.command]
        sub.set_defaults(**configfile.load(args.config, sub))
        args = parser.parse_args(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    tune_gc()
    try:
        args = parse_args(argv)
    except ConfigError as exc:
        print(f"crawler: {exc}", file=sys.stderr)
        return EXIT_USAGE
    CONSOLE["console"] = setup_logging(args)
    from .errors import ConnectError
    from .tls import TLSError
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
