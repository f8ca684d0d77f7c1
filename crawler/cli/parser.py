"""The command line's parser: every subcommand and flag, their help and examples; a --config
file's values become defaults (flags win)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import __version__, config
from ..link import authkey

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
