"""The only HTTP code: pooled connections, timeouts, redirects, size caps, error translation.

Every request the crawler makes passes through here; library errors become the project's
`FetchError` family, so the rest of the code never imports urllib3.

Requests go to urllib3 directly. A 44 kB image over loopback costs about 0.30 ms of CPU
that way against 0.48 ms through requests' adapter (bench/README.md, "one download"): on a
fast site that is a fifth of all the crawl's CPU. Nothing requests adds is used by an image
crawl: no cookies, no auth, no proxies from the environment; redirects are followed here.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Iterator

import urllib3
from urllib3 import exceptions as u3

from . import urls
from .errors import (FetchError, FetchTimeoutError, HTTPStatusError, NetworkError,
                     RedirectError, TooLargeError)
from .netguard import NetPolicy, guarded_pool_classes
from .retry import parse_retry_after

CHUNK = 64 * 1024
HEAD_BYTES = 512
DRAIN_BYTES = 64 * 1024  # read the rest of an unwanted body up to this, to keep its connection
MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = ("text/html", "application/xhtml+xml")


class Client:
    """One thread's HTTP client: keep-alive connections per origin, all obeying a NetPolicy."""

    def __init__(self, user_agent: str, policy: NetPolicy = NetPolicy()):
        self.policy = policy
        self.headers = {"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"}
        # a thread's client uses one connection per origin at a time; 64 origins stay open
        self.pools = urllib3.PoolManager(num_pools=64, maxsize=1, block=False)
        self.pools.pool_classes_by_scheme = guarded_pool_classes(policy)

    def close(self) -> None:
        self.pools.clear()


def new_client(user_agent: str, policy: NetPolicy = NetPolicy()) -> Client:
    return Client(user_agent, policy)


def _get(client: Client, url: str, accept: str, timeout: float) -> tuple[urllib3.BaseHTTPResponse, str]:
    """GET url, following up to MAX_REDIRECTS redirects (http and https only), each hop through
    the client's guarded pools; the open response and the URL it came from."""
    headers = {**client.headers, "Accept": accept}
    limits = urllib3.Timeout(connect=timeout, read=timeout)
    for hop in range(MAX_REDIRECTS + 1):
        try:
            resp = client.pools.urlopen("GET", url, headers=headers, redirect=False, retries=False,
                                        preload_content=False, decode_content=True, timeout=limits)
        except FetchError:
            raise  # the SSRF guard refused an address
        except (u3.HTTPError, OSError) as exc:
            raise _translate(exc, url, redirected=hop > 0) from exc
        location = resp.headers.get("Location") if resp.status in REDIRECT_STATUSES else None
        if location is None:
            return resp, url
        _discard(resp)
        target = urls.normalize_url(location, base=url)
        if target is None:
            raise RedirectError(f"redirected to an address we do not fetch: {location[:200]}", final_url=location[:2000])
        url = target
    raise RedirectError(f"more than {MAX_REDIRECTS} redirects (or a redirect loop)", final_url=url)


def _discard(resp: urllib3.BaseHTTPResponse) -> None:
    """Done with a response. Its connection goes back to the pool for the next request when the
    body was read to the end or what is left of it is small (a redirect's, an error page's);
    otherwise the connection is closed rather than read through."""
    remaining = resp.length_remaining
    if not resp.isclosed() and (remaining is None or remaining > DRAIN_BYTES):
        resp.close()
    else:
        resp.drain_conn()  # reads the few bytes left; on an error the connection is dropped
    resp.release_conn()


@dataclass
class Body:
    """An open response: metadata, the first bytes for sniffing, and the rest as a stream."""

    final_url: str
    status: int
    content_type: str | None
    head: bytes
    _chunks: Iterator[bytes]
    _max_bytes: int
    _deadline: float

    def rest(self) -> Iterator[bytes]:
        """The remaining body; raises TooLargeError past max_bytes (counted after decompression)."""
        size = len(self.head)
        for chunk in self._chunks:
            size += len(chunk)
            if size > self._max_bytes:
                raise TooLargeError(f"body is larger than {self._max_bytes} bytes", status=self.status,
                                    final_url=self.final_url)
            if time.monotonic() > self._deadline:
                raise FetchTimeoutError("download took too long", status=self.status, final_url=self.final_url)
            yield chunk


@contextlib.contextmanager
def open_body(client: Client, url: str, *, max_bytes: int, timeout: float,
              accept: str = "*/*") -> Iterator[Body]:
    """GET url, follow redirects, check the status and the declared size, read the head."""
    deadline = time.monotonic() + 3 * timeout
    resp, final_url = _get(client, url, accept, timeout)
    try:
        status = resp.status
        if not 200 <= status < 300:
            raise HTTPStatusError(f"HTTP {status} {resp.reason or ''}".strip(), status=status, final_url=final_url,
                                  retry_after=parse_retry_after(resp.headers.get("Retry-After")))
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes and not resp.headers.get("Content-Encoding"):
            raise TooLargeError(f"Content-Length {declared} is larger than {max_bytes} bytes",
                                status=status, final_url=final_url)
        # One generator for the whole body: the head is read from it, and Body.rest() goes on
        # from where the head stopped. (Breaking out of a loop over a temporary generator
        # would close the underlying stream and silently cut the body.)
        stream = _translated(resp.stream(CHUNK), final_url)
        head = b""
        for chunk in stream:
            head += chunk
            if len(head) >= HEAD_BYTES:
                break
        if len(head) > max_bytes:
            raise TooLargeError(f"body is larger than {max_bytes} bytes", status=status, final_url=final_url)
        yield Body(final_url, status, resp.headers.get("Content-Type"), head, stream, max_bytes, deadline)
    finally:
        _discard(resp)


@dataclass
class Page:
    final_url: str
    status: int
    content_type: str | None
    body: bytes
    truncated: bool

    @property
    def is_html(self) -> bool:
        ctype = (self.content_type or "").split(";")[0].strip().lower()
        return ctype in HTML_TYPES or (not ctype and self.body.lstrip()[:1] == b"<")

    @property
    def charset(self) -> str | None:
        for param in (self.content_type or "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip("\"'")
        return None


def fetch_page(client: Client, url: str, *, max_bytes: int, timeout: float) -> Page:
    """Fetch a page; a body over max_bytes is cut (truncated=True) rather than refused."""
    # The page cap cuts rather than refuses, so the body stream itself gets no limit here.
    with open_body(client, url, max_bytes=2**62, timeout=timeout,
                   accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.5") as body:
        parts = [body.head]
        size = len(body.head)
        truncated = size > max_bytes
        if not truncated and _looks_html(body.content_type):
            for chunk in body.rest():
                parts.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    truncated = True
                    break
        data = b"".join(parts)[:max_bytes]
        return Page(body.final_url, body.status, body.content_type, data, truncated)


def _looks_html(content_type: str | None) -> bool:
    ctype = (content_type or "").split(";")[0].strip().lower()
    return not ctype or ctype in HTML_TYPES


def _translated(chunks: Iterator[bytes], url: str) -> Iterator[bytes]:
    try:
        yield from chunks
    except (u3.HTTPError, OSError) as exc:
        raise _translate(exc, url) from exc


def _translate(exc: BaseException, url: str, redirected: bool = False) -> FetchError:
    """Turn a urllib3 or socket exception into one of ours, with a short, readable message."""
    if isinstance(exc, u3.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, (u3.LocationValueError, u3.URLSchemeUnknown)):
        if redirected:
            return RedirectError(f"redirected to an address we do not fetch: {_first_line(exc)}", final_url=url)
        return FetchError(f"not a URL we can fetch: {_first_line(exc)}", final_url=url)
    if isinstance(exc, u3.NewConnectionError):  # a subclass of ConnectTimeoutError, oddly
        text = _first_line(exc)
        if "timed out" in text.lower():
            return FetchTimeoutError(f"timed out: {text}", final_url=url)
        return NetworkError(f"connection failed: {text}", final_url=url)
    if isinstance(exc, (u3.TimeoutError, TimeoutError)):
        return FetchTimeoutError(f"timed out: {_first_line(exc)}", final_url=url)
    if isinstance(exc, u3.NameResolutionError):
        return NetworkError(f"cannot resolve the host: {_first_line(exc)}", final_url=url)
    if isinstance(exc, u3.SSLError):
        return NetworkError(f"TLS failed: {_first_line(exc)}", final_url=url)
    if isinstance(exc, u3.DecodeError):
        return NetworkError(f"cannot decode the body: {_first_line(exc)}", final_url=url)
    text = _first_line(exc)
    if "timed out" in text.lower():
        return FetchTimeoutError(f"timed out: {text}", final_url=url)
    return NetworkError(f"connection failed: {text}", final_url=url)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
