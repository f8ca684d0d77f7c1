"""The only HTTP code: what to fetch and how to judge the answer (redirects, status, size
caps, timeouts, error translation). The transport is `http1`.

Library and socket errors become the project's `FetchError` family here, so the rest of
the code never catches OSError or http.client's exceptions from a download.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Iterator

from . import charset, http1, urls
from .errors import (FetchError, FetchTimeoutError, HTTPStatusError, NetworkError,
                     RedirectError, TooLargeError, UnreachableError)
from .netguard import NetPolicy
from .retry import parse_retry_after

CHUNK = http1.CHUNK
HEAD_BYTES = 512
DRAIN_BYTES = 64 * 1024  # read the rest of an unwanted body up to this, to keep its connection
MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = ("text/html", "application/xhtml+xml")


class Client:
    """One thread's HTTP client: keep-alive connections per origin, all obeying a NetPolicy."""

    def __init__(self, user_agent: str, policy: NetPolicy = NetPolicy()):
        self.headers = {"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"}
        self.connections = http1.Connections(policy)

    def close(self) -> None:
        self.connections.close()


def new_client(user_agent: str, policy: NetPolicy = NetPolicy()) -> Client:
    return Client(user_agent, policy)


def _get(client: Client, url: str, accept: str, timeout: float) -> tuple[http1.Response, str]:
    """GET url, following up to MAX_REDIRECTS redirects (http and https only), each hop through
    the guard; the open response and the URL it came from."""
    headers = {**client.headers, "Accept": accept}
    for hop in range(MAX_REDIRECTS + 1):
        try:
            resp = client.connections.get(url, headers, timeout)
        except FetchError:
            raise  # the SSRF guard refused an address
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise _translate(exc, url, redirected=hop > 0) from exc
        location = resp.headers.get("Location") if resp.status in REDIRECT_STATUSES else None
        if location is None:
            return resp, url
        resp.drain(DRAIN_BYTES)
        target = urls.normalize_url(location, base=url)
        if target is None:
            raise RedirectError(f"redirected to an address we do not fetch: {location[:200]}", final_url=location[:2000])
        url = target
    raise RedirectError(f"more than {MAX_REDIRECTS} redirects (or a redirect loop)", final_url=url)


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
        stream = _translated(resp.chunks(CHUNK), final_url)
        head = b""
        for chunk in stream:
            head += chunk
            if len(head) >= HEAD_BYTES:
                break
        if len(head) > max_bytes:
            raise TooLargeError(f"body is larger than {max_bytes} bytes", status=status, final_url=final_url)
        yield Body(final_url, status, resp.headers.get("Content-Type"), head, stream, max_bytes, deadline)
    finally:
        resp.drain(DRAIN_BYTES)


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

    def text(self) -> str:
        """The body as text: the charset from the header, else the document's meta, else
        UTF-8, else detection (see charset.py). Never raises."""
        return charset.decode_html(self.body, self.charset)


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
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _translate(exc, url) from exc


def _translate(exc: BaseException, url: str, redirected: bool = False) -> FetchError:
    """Turn a socket, TLS, http.client or decoding error into one of ours, with a short message."""
    text = _first_line(exc)
    if isinstance(exc, http1.UnsupportedURL):
        if redirected:
            return RedirectError(f"redirected to an address we do not fetch: {text}", final_url=url)
        return FetchError(f"not a URL we can fetch: {text}", final_url=url)
    if isinstance(exc, http1.DecodeError):
        return NetworkError(f"cannot decode the body: {text}", final_url=url)
    if isinstance(exc, TimeoutError):  # socket.timeout is its alias
        return FetchTimeoutError(f"timed out: {text}", final_url=url)
    if isinstance(exc, socket.gaierror):
        return UnreachableError(f"cannot resolve the host: {text}", final_url=url)
    if isinstance(exc, ConnectionRefusedError):
        return UnreachableError(f"connection refused: {text}", final_url=url)
    if isinstance(exc, ssl.SSLError):
        return NetworkError(f"TLS failed: {text}", final_url=url)
    if isinstance(exc, http.client.InvalidURL):
        return FetchError(f"not a URL we can fetch: {text}", final_url=url)
    if isinstance(exc, http.client.IncompleteRead):
        return NetworkError(f"connection closed before the body was complete ({text})", final_url=url)
    if isinstance(exc, http.client.HTTPException) and not isinstance(exc, ConnectionError):
        return NetworkError(f"bad HTTP answer: {type(exc).__name__}: {text}", final_url=url)
    return NetworkError(f"connection failed: {text}", final_url=url)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
