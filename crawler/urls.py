"""URL normalisation, crawl scope and seed parsing. Pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable
from urllib.parse import urljoin, urlsplit, urlunsplit

from w3lib.url import safe_url_string

from .errors import ConfigError

_DEFAULT_PORTS = {"http": 80, "https": 443}
_STRIP_INSIDE = re.compile(r"[\t\n\r]")
_UNRESERVED_ESCAPE = re.compile(r"%(2[dDeE]|5[fF]|7[eE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA])")
_ANY_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")


def normalize_url(url: str, base: str | None = None) -> str | None:
    """The canonical absolute http(s) form of url (resolved against base), or None if unusable.

    Lower-cases scheme and host, IDNA-encodes the host, drops default ports and the fragment,
    resolves dot segments, percent-encodes what browsers encode, upper-cases escapes and
    decodes escaped unreserved characters (%7E -> ~). Never raises.
    """
    try:
        return _normalize(url, base)
    except (ValueError, TypeError, UnicodeError, AttributeError):
        return None


def _normalize(url: str, base: str | None) -> str | None:
    if not isinstance(url, str):
        return None
    # browsers strip leading/trailing C0 controls and spaces, and tabs/newlines anywhere
    url = _STRIP_INSIDE.sub("", url.strip(" \x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f"
                                          "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f"))
    if not url:
        return None
    if base:
        url = urljoin(base, url)
    url = url.replace("\\", "/") if url[:5].lower() in ("http:", "https") else url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    if not parts.hostname:
        return None
    port = parts.port  # raises ValueError on a bad port
    safe = safe_url_string(urlunsplit((scheme, parts.netloc, parts.path, parts.query, "")), encoding="utf-8")
    parts = urlsplit(safe)
    host = (parts.hostname or "").rstrip(".")
    if not host or any(c in host for c in " <>\"{}|^`%"):
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username or parts.password:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        netloc = f"{userinfo}@{netloc}"
    path = _remove_dot_segments(_tidy_escapes(parts.path)) or "/"
    query = _tidy_escapes(parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def _tidy_escapes(text: str) -> str:
    text = _ANY_ESCAPE.sub(lambda m: m.group(0).upper(), text)
    return _UNRESERVED_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, also for the escaped forms %2E and %2e that browsers treat as dots."""
    segments = path.split("/")
    out: list[str] = []
    for i, seg in enumerate(segments):
        low = seg.lower()
        if low in (".", "%2e"):
            if i == len(segments) - 1:
                out.append("")
            continue
        if low in ("..", ".%2e", "%2e.", "%2e%2e"):
            if len(out) > 1:
                out.pop()
            if i == len(segments) - 1:
                out.append("")
            continue
        out.append(seg)
    result = "/".join(out)
    return result if result.startswith("/") or not result else "/" + result


def is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme.lower() in _DEFAULT_PORTS and bool(parts.hostname)
    except ValueError:
        return False


def host_of(url: str) -> str:
    """Lower-case host name without port."""
    return (urlsplit(url).hostname or "").lower()


def _in_domain(host: str, domain: str) -> bool:
    domain = domain.lower().strip().lstrip(".")
    return bool(domain) and (host == domain or host.endswith("." + domain))


@dataclass(frozen=True)
class Scope:
    """Which pages the crawl follows and which images it downloads."""

    seed_hosts: frozenset[str]
    allow_domains: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    _include_re: tuple[re.Pattern, ...] = field(default=(), init=False, repr=False, compare=False)
    _exclude_re: tuple[re.Pattern, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_include_re", tuple(_compile(p, "--include") for p in self.include))
        object.__setattr__(self, "_exclude_re", tuple(_compile(p, "--exclude") for p in self.exclude))

    def host_allowed(self, host: str) -> bool:
        return host in self.seed_hosts or any(_in_domain(host, d) for d in self.allow_domains)

    def page_in_scope(self, url: str) -> bool:
        if not self.host_allowed(host_of(url)):
            return False
        if self._include_re and not any(r.search(url) for r in self._include_re):
            return False
        return not any(r.search(url) for r in self._exclude_re)

    def image_allowed(self, url: str, same_host_only: bool = False) -> bool:
        if same_host_only and not self.host_allowed(host_of(url)):
            return False
        return not any(r.search(url) for r in self._exclude_re)


def _compile(pattern: str, flag: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{flag} {pattern!r} is not a valid regular expression: {exc}") from None


def parse_seeds(lines: Iterable[str]) -> tuple[list[str], list[str]]:
    """(normalised seed URLs in file order without duplicates, problems with their line numbers)."""
    seeds: list[str] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        shown = repr(text[:200])
        scheme = urlsplit(text).scheme.lower() if ":" in text else ""
        if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", text) and scheme not in ("data", "javascript", "mailto", "ftp", "file"):
            problems.append(f"line {number}: missing scheme (http:// or https://): {shown}")
            continue
        if scheme not in _DEFAULT_PORTS:
            problems.append(f"line {number}: not an http(s) URL: {shown}")
            continue
        url = normalize_url(text)
        if url is None:
            problems.append(f"line {number}: malformed URL: {shown}")
            continue
        if url not in seen:
            seen.add(url)
            seeds.append(url)
    return seeds, problems
