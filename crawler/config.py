"""Defaults in one place, frozen configs, and validation with readable errors.

The CLI takes its defaults from here, so a default is changed once and documented once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .errors import ConfigError
from .portable import hostname
from .rules import imagetype

DEFAULT_PORT = 50000
"""Port the master listens on when --listen gives only a host."""

DEFAULT_LISTEN_HOST = "127.0.0.1"
"""The master binds loopback unless told otherwise: the authkey is its only protection."""

DEFAULT_OUT = "downloads"
"""Where images, the manifest and the master's state go."""

DEFAULT_MAX_DEPTH = 5
"""Link hops from a seed page (wget -r uses 5 too)."""

DEFAULT_MAX_PAGES = 10_000
"""Pages fetched at most in one crawl: a crawler trap ends here."""

DEFAULT_MAX_PAGES_PER_HOST = 5_000
"""Pages fetched at most from one host: a crawler trap (an endless calendar) ends here."""

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
"""Largest image body stored; larger ones are recorded as too-large."""

DEFAULT_MAX_PAGE_BYTES = 5 * 1024 * 1024
"""Largest page body read; the rest is cut with a warning."""

DEFAULT_TIMEOUT = 20.0
"""Seconds for connecting and for each read of a body; the whole download gets 3 times that."""

DEFAULT_THREADS = 8
"""Download threads per worker process."""

DEFAULT_PAGE_THREADS = 4
"""Threads the master fetches (and, without page processes, parses) pages with."""

DEFAULT_PAGE_PROCESSES = 1
"""Processes beside the master that decode and parse pages, once the page threads have
parsed for parsing.START_AFTER_CPU seconds; 0: the page threads always do. One keeps parsing
from holding up the master (bench/page_ceiling.py: parsing in the 4 page threads held a
manager call up to 322 ms, against 29 with one process, and cost 36 ms of CPU a page against
30)."""

DEFAULT_MAX_ATTEMPTS = 3
"""Times a task is leased before it is recorded as failed (lease expiry counts)."""

DEFAULT_USER_AGENT = f"crawler/{__version__} (distributed image crawler)"

DEFAULT_PER_HOST = 8
"""Requests in flight to one host over the master and all workers (Scrapy's default is 8)."""

DEFAULT_DELAY = 0.0
"""Seconds between request starts to one host (robots.txt Crawl-delay raises it for its host)."""

MAX_CRAWL_DELAY = 30.0
"""A robots.txt Crawl-delay above this is taken as this."""

SRCSET_MODES = ("all", "largest")
DEFAULT_SRCSET = "all"
"""Which candidates of a srcset, <picture> or image-set() to take: all (an archive of the
site), or only the largest of each (the photos, at a fraction of the requests)."""

DEFAULT_RETRIES = 2
"""Retries after a connection error, a timeout, 408, 429 or 5xx (other 4xx are final)."""

ACCEPT_NAMES: dict[str, str] = {
    **{kind: kind for kind in imagetype.KEPT_EXTENSIONS},
    **{ext[1:]: kind for kind, exts in imagetype.KEPT_EXTENSIONS.items() for ext in exts}}
"""--accept's names: each kind, and each extension a stored file of it keeps (jpg, tif, ...)."""

# Exit codes, documented in the README and in `crawler --help`.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_AUTHKEY, EXIT_UNREACHABLE, EXIT_KEY_REFUSED = 0, 1, 2, 3, 4, 5
EXIT_KEY_TOO_OPEN, EXIT_KEY_TOO_SHORT, EXIT_TLS = 6, 7, 8
EXIT_WORKER_FAULT = 9
"""A worker stopped on a fault of its own (its storage failed, or downloads kept failing with
internal errors) and handed its tasks back."""
EXIT_STATE_UNWRITABLE = 10
"""The master could not write its manifest or journal (a full disk...); the same command resumes."""
EXIT_INTERRUPTED = 130

MIN_AUTHKEY_BYTES = 16
AUTHKEY_ENV = "CRAWLER_AUTHKEY"
PROXY_ENV = "CRAWLER_PROXY"
"""The default of --proxy: how `run` hands its proxy to its local workers (a proxy URL may
hold a password, and a command line is visible to every user of the host)."""
STATE_DIRNAME = ".crawler"
MANIFEST_NAME = "manifest.jsonl"


def download_deadline(timeout: float) -> float:
    """Seconds one whole download (redirects, head and body) may take: --timeout bounds each
    read, this bounds a server that trickles bytes just fast enough to never trip it."""
    return 3 * timeout


def default_lease_seconds(timeout: float) -> float:
    """A lease outlives one whole download (`download_deadline`) with room to spare."""
    return download_deadline(timeout) + timeout + 10


@dataclass(frozen=True)
class CrawlConfig:
    """Everything the master needs for one crawl."""

    seeds: tuple[str, ...]
    out: Path = Path(DEFAULT_OUT)
    max_depth: int = DEFAULT_MAX_DEPTH
    max_pages: int = DEFAULT_MAX_PAGES
    allow_domains: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    same_host_images: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES
    timeout: float = DEFAULT_TIMEOUT
    user_agent: str = DEFAULT_USER_AGENT
    page_threads: int = DEFAULT_PAGE_THREADS
    lease_seconds: float | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    allow_private: bool = False
    max_pages_per_host: int = DEFAULT_MAX_PAGES_PER_HOST
    per_host: int = DEFAULT_PER_HOST
    delay: float = DEFAULT_DELAY
    retries: int = DEFAULT_RETRIES
    ignore_robots: bool = False
    accept: tuple[str, ...] = ()   # image kinds (jpeg, png, ...); empty: every image
    min_bytes: int = 0
    srcset: str = DEFAULT_SRCSET
    page_processes: int = DEFAULT_PAGE_PROCESSES
    sitemaps: bool = True  # read each origin's sitemaps (--no-sitemaps: off)
    # every request of the crawl, on the master and its workers (see httpopts); never shown
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    cookies: tuple[dict, ...] = field(default=(), repr=False)
    proxy: str | None = field(default=None, repr=False)  # this process's; may hold a password
    ca_bundle: str | None = None  # a PEM file; its certificates also go to the workers

    def __post_init__(self) -> None:
        self.validate()

    @property
    def effective_lease_seconds(self) -> float:
        return self.lease_seconds if self.lease_seconds is not None else default_lease_seconds(self.timeout)

    def validate(self) -> None:
        if not self.seeds:
            raise ConfigError("no usable seed URL")
        _positive("--max-pages", self.max_pages)
        _at_least("--max-depth", self.max_depth, 0)
        _positive("--max-bytes", self.max_bytes)
        _positive("--max-page-bytes", self.max_page_bytes)
        _positive("--timeout", self.timeout)
        _positive("--page-threads", self.page_threads)
        _positive("--max-attempts", self.max_attempts)
        _positive("--max-pages-per-host", self.max_pages_per_host)
        _positive("--per-host", self.per_host)
        _at_least("--delay", self.delay, 0)
        _at_least("--retries", self.retries, 0)
        _at_least("--min-bytes", self.min_bytes, 0)
        if self.lease_seconds is not None:
            _positive("--lease-seconds", self.lease_seconds)
        _at_least("--page-processes", self.page_processes, 0)
        if self.srcset not in SRCSET_MODES:
            raise ConfigError(f"--srcset must be one of {', '.join(SRCSET_MODES)}, got {self.srcset!r}")
        if not self.user_agent.strip():
            raise ConfigError("--user-agent must not be empty")


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a downloader worker needs."""

    address: tuple[str, int]
    out: Path = Path(DEFAULT_OUT)
    threads: int = DEFAULT_THREADS
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = DEFAULT_TIMEOUT
    user_agent: str = DEFAULT_USER_AGENT
    name: str = field(default_factory=lambda: f"{hostname()}:{os.getpid()}")
    proxy: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None  # wins over the master's (the crawl's settings)

    def __post_init__(self) -> None:
        _positive("--threads", self.threads)
        _positive("--max-bytes", self.max_bytes)
        _positive("--timeout", self.timeout)


def parse_accept(text: str) -> tuple[str, ...]:
    """'png,jpg,webp' -> ('png', 'jpeg', 'webp'): image kinds as the magic bytes name them."""
    kinds = []
    for name in (part.strip().lower().lstrip(".") for part in text.split(",")):
        if not name:
            continue
        if name not in ACCEPT_NAMES:
            raise ConfigError(f"--accept: unknown image type {name!r} (known: {', '.join(sorted(ACCEPT_NAMES))})")
        if ACCEPT_NAMES[name] not in kinds:
            kinds.append(ACCEPT_NAMES[name])
    return tuple(kinds)


def parse_address(text: str, *, default_host: str = DEFAULT_LISTEN_HOST) -> tuple[str, int]:
    """'HOST:PORT', ':PORT', 'HOST' or '[v6]:PORT' -> (host, port)."""
    text = text.strip()
    if not text:
        raise ConfigError("empty address: use HOST:PORT")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if not sep:
            raise ConfigError(f"bad address {text!r}: unclosed '['")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text:
        raise ConfigError(f"bad address {text!r}: put an IPv6 address in brackets, [::1]:{DEFAULT_PORT}")
    else:
        host, port_text = text, ""
    host = host or default_host
    if not port_text:
        return host, DEFAULT_PORT
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"bad port in {text!r}: {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"bad port in {text!r}: {port} is not in 0..65535")
    return host, port


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{name} must be greater than 0, got {value}")


def _at_least(name: str, value: float, low: float) -> None:
    if value < low:
        raise ConfigError(f"{name} must be at least {low}, got {value}")
