"""URL normalisation, crawl scope and seed parsing. Pure functions, no I/O.

normalize_url follows what a browser does with an href (the WHATWG URL standard) for the
parts a crawler cares about, so the URL we fetch is the URL a browser would fetch, and two
spellings of one URL dedupe to one. It is hand-rolled rather than urljoin + safe_url_string
because it runs for every link and image of every page: this way costs about a fifth.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import quote, unquote, urlsplit

from ..errors import ConfigError

DEFAULT_PORTS: dict[str, int] = {"http": 80, "https": 443}
"""The schemes a crawl fetches, with their default ports: the one table of both."""
DEFAULT_PORT_TEXTS: dict[str, str] = {scheme: str(port) for scheme, port in DEFAULT_PORTS.items()}
"""The same, as a URL spells the port."""
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
# Leading/trailing C0 controls and spaces, and tabs/newlines anywhere, are dropped by browsers.
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
# Characters a browser percent-encodes (WHATWG path / special-query / userinfo percent-encode sets;
# anything outside printable ASCII is always encoded, as UTF-8).
_PATH_SAFE = "!$%&'()*+,-./:;=@[\\]^_|~"
_QUERY_SAFE = "!$%&()*+,-./:;=?@[\\]^_`{|}~"
_USERINFO_SAFE = "!$%&'()*+,-.;=_~"
_NEEDS_PATH_QUOTE = re.compile(r'[^\x21-\x7e]|["<>`{}]')
_NEEDS_QUERY_QUOTE = re.compile(r"""[^\x21-\x7e]|["'<>]""")
_ANY_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
# Escapes of unreserved characters (ALPHA DIGIT - . _ ~) mean the same as the character (RFC 3986 6.2.2.2).
_UNRESERVED_ESCAPE = re.compile(r"%(2[dDeE]|5[fF]|7[eE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA])")
# WHATWG forbidden domain code points (after percent-decoding the host).
_FORBIDDEN_HOST = re.compile(r"[\x00-\x20\x7f#%/:<>?@\[\\\]^|]")


class _Parts(NamedTuple):
    """An absolute http(s) URL already normalised: netloc is the canonical authority."""

    scheme: str
    netloc: str
    path: str
    query: str | None  # None when empty


def normalize_url(url: str, base: str | None = None) -> str | None:
    """The canonical absolute http(s) form of url (resolved against base), or None if unusable.

    Lower-cases scheme and host, IDNA-encodes the host, drops default ports and the fragment,
    resolves dot segments, percent-encodes what browsers encode, upper-cases escapes and
    decodes escaped unreserved characters (%7E -> ~). The query keeps its order. Never raises.
    """
    try:
        parts = _resolve(url, _parse_base(base) if base else None)
    except (ValueError, TypeError, UnicodeError, AttributeError):
        return None
    return None if parts is None else _unsplit(parts)


@lru_cache(maxsize=256)  # bounded: a page resolves all its URLs against one base
def _parse_base(base: str) -> _Parts | None:
    try:
        return _resolve(base, None)
    except (ValueError, TypeError, UnicodeError, AttributeError):
        return None


def _unsplit(p: _Parts) -> str:
    url = f"{p.scheme}://{p.netloc}{p.path}"
    return url if p.query is None else f"{url}?{p.query}"


def _clean(url: str) -> str:
    return _TAB_NEWLINE.sub("", url.strip(_C0_AND_SPACE))


def _resolve(url: str, base: _Parts | None) -> _Parts | None:
    if not isinstance(url, str):
        return None
    url = _clean(url)
    if not url:
        return None
    m = _SCHEME.match(url)
    if m:
        scheme = url[:m.end() - 1].lower()
        if scheme not in DEFAULT_PORT_TEXTS:
            return None
        rest = _slashes(url[m.end():])
        # "http:x" against an http base is relative; otherwise browsers skip any number of slashes
        if base is not None and base.scheme == scheme and not rest.startswith("//"):
            return _relative(rest, base)
        return _absolute(scheme, rest.lstrip("/"))
    if base is None:
        return None
    return _relative(_slashes(url), base)


def _slashes(ref: str) -> str:
    """Backslashes before the query are slashes in http(s) URLs (as browsers read them)."""
    if "\\" not in ref:
        return ref
    cut = len(ref)
    for ch in "?#":
        i = ref.find(ch)
        if 0 <= i < cut:
            cut = i
    return ref[:cut].replace("\\", "/") + ref[cut:]


def _split_tail(rest: str) -> tuple[str, str | None]:
    """(path, query or None) of what follows the authority; the fragment is dropped."""
    rest = rest.split("#", 1)[0]
    path, sep, query = rest.partition("?")
    return path, (query if sep else None)


def _relative(ref: str, base: _Parts) -> _Parts | None:
    if ref.startswith("//"):
        return _absolute(base.scheme, ref.lstrip("/"))
    path, query = _split_tail(ref)
    if not path:
        if query is None:
            query = base.query  # "" or "#frag": the base document itself
        path = base.path
    elif not path.startswith("/"):
        path = base.path[:base.path.rfind("/") + 1] + path
    return _finish(base.scheme, base.netloc, path, query)


def _absolute(scheme: str, rest: str) -> _Parts | None:
    end = len(rest)
    for ch in "/?#":
        i = rest.find(ch)
        if 0 <= i < end:
            end = i
    netloc = _netloc(scheme, rest[:end])
    if netloc is None:
        return None
    path, query = _split_tail(rest[end:])
    return _finish(scheme, netloc, path, query)


def _netloc(scheme: str, authority: str) -> str | None:
    userinfo, at, hostport = authority.rpartition("@")
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            return None
        host, port = hostport[:close + 1].lower(), hostport[close + 1:]
        if port and not port.startswith(":"):
            return None
        port = port[1:]
        if not re.fullmatch(r"\[[0-9a-f:.]+\]", host):
            return None
    else:
        name, _, port = hostport.partition(":")
        checked = _host(name)
        if checked is None:
            return None
        host = checked
    if port:
        if not port.isascii() or not port.isdigit() or int(port) > 65535:
            return None
        port = str(int(port))  # "0080" is 80
        netloc = host if port == DEFAULT_PORT_TEXTS[scheme] else f"{host}:{port}"
    else:
        netloc = host
    if at and userinfo:
        user, colon, password = userinfo.partition(":")
        userinfo = quote(user, safe=_USERINFO_SAFE) + colon + quote(password, safe=_USERINFO_SAFE)
        netloc = f"{userinfo}@{netloc}"
    return netloc


def _host(host: str) -> str | None:
    """Lower-case ASCII host name (punycode for IDN), or None if it is not a valid host."""
    if "%" in host:
        host = unquote(host, errors="strict")
    if not host.isascii():
        host = host.encode("idna").decode("ascii")  # lower-cases and maps too (IDNA 2003, as w3lib)
    host = host.lower().rstrip(".")  # "example.com." is example.com
    if not host or _FORBIDDEN_HOST.search(host):
        return None
    return host


def _finish(scheme: str, netloc: str, path: str, query: str | None) -> _Parts:
    if _NEEDS_PATH_QUOTE.search(path):
        path = quote(path, safe=_PATH_SAFE)
    if "%" in path:
        path = _tidy_escapes(path)
    if "." in path:
        path = _remove_dot_segments(path)
    if not path.startswith("/"):
        path = "/" + path
    if not query:
        query = None  # "a.jpg?" is a.jpg: an empty query asks the server for nothing more
    else:
        if _NEEDS_QUERY_QUOTE.search(query):
            query = quote(query, safe=_QUERY_SAFE)
        if "%" in query:
            query = _tidy_escapes(query)
    return _Parts(scheme, netloc, path, query)


def _tidy_escapes(text: str) -> str:
    """Upper-case escape hex digits, and decode escapes of unreserved characters."""
    text = _ANY_ESCAPE.sub(lambda m: m.group(0).upper(), text)
    return _UNRESERVED_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4 on an absolute path ("%2E" is already decoded to "." by then)."""
    segments = path.split("/")
    out: list[str] = []
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        if seg == ".":
            if i == last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if i == last:
                out.append("")
        else:
            out.append(seg)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


def authority(url: str) -> str | None:
    """The `[user@]host[:port]` part of `scheme://...` or `//...`, without parsing it; None if
    there is none. A cheap key: callers parse each distinct authority once (lru_cache)."""
    start = url.find("://")
    if start >= 0:
        start += 3
    elif url.startswith("//"):
        start = 2
    else:
        return None
    end = len(url)
    for sep in "/?#":
        i = url.find(sep, start)
        if 0 <= i < end:
            end = i
    return url[start:end]


def host_of(url: str) -> str:
    """Lower-case host name without port, of a normalised URL ("" if there is none)."""
    netloc = authority(url)
    return "" if netloc is None else _host_of_netloc(netloc)


@lru_cache(maxsize=4096)  # a crawl has few hosts and many URLs: parse each authority once
def _host_of_netloc(netloc: str) -> str:
    try:
        return (urlsplit("//" + netloc).hostname or "").lower()
    except ValueError:
        return ""


def _in_domain(host: str, domain: str) -> bool:
    domain = domain.lower().strip().strip(".")
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
        # frozen: compiled once here, so a bad pattern fails at start-up, not mid-crawl
        object.__setattr__(self, "_include_re", tuple(_compile(p, "--include") for p in self.include))
        object.__setattr__(self, "_exclude_re", tuple(_compile(p, "--exclude") for p in self.exclude))

    def host_allowed(self, host: str) -> bool:
        """A seed host exactly (any port, either scheme), or an allowed domain or a subdomain of it."""
        return host in self.seed_hosts or any(_in_domain(host, d) for d in self.allow_domains)

    def page_in_scope(self, url: str) -> bool:
        """May the crawl follow a link to this page? (Seeds are fetched whatever this says.)"""
        return self.page_left_out(url) is None

    def page_left_out(self, url: str) -> str | None:
        """Which rule leaves this page out, in words; None when it is in scope."""
        if not self.host_allowed(host_of(url)):
            return "its host is not a seed's, nor under --allow-domain"
        if self._include_re and not any(r.search(url) for r in self._include_re):
            return "it matches no --include"
        for pattern, r in zip(self.exclude, self._exclude_re, strict=True):
            if r.search(url):
                return f"it matches --exclude {pattern!r}"
        return None

    def image_allowed(self, url: str, same_host_only: bool = False) -> bool:
        """Images may come from any host (CDNs) unless same_host_only; include does not narrow them."""
        if same_host_only and not self.host_allowed(host_of(url)):
            return False
        return not any(r.search(url) for r in self._exclude_re)


def _compile(pattern: str, flag: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{flag} {pattern!r} is not a valid regular expression: {exc}") from None


def parse_seeds(lines: Iterable[str]) -> tuple[list[str], list[str]]:
    """(normalised seed URLs in file order without duplicates, problems with their line numbers).

    Blank lines and whole-line "#" comments are skipped; a "#" later in a line is part of the URL.
    """
    seeds: list[str] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        shown = repr(text[:200])
        problem = _seed_problem(text)
        url = None if problem else normalize_url(text)
        if url is None:
            problems.append(f"line {number}: {problem or 'malformed URL'}: {shown}")
        elif url not in seen:
            seen.add(url)
            seeds.append(url)
    return seeds, problems


def _seed_problem(text: str) -> str | None:
    m = _SCHEME.match(text)
    # "example.com:8080/x" parses as scheme "example.com": a scheme is only one with "//" or a known one
    if m is None or (not text[m.end():].startswith("//")
                     and text[:m.end() - 1].lower() not in ("http", "https", "data", "javascript", "mailto")):
        return "missing scheme (http:// or https://)"
    if text[:m.end() - 1].lower() not in DEFAULT_PORT_TEXTS:
        return "not an http(s) URL"
    return None
