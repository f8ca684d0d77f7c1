"""The only door to HTTP: what to fetch and how to judge the answer (redirects, status, size
caps, timeouts, error translation). The transport under it is requests (`transport`).

requests', urllib3's and socket errors become the project's `FetchError` family here, so
the rest of the code never imports requests or urllib3 or catches their exceptions.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from urllib3.util.ssl_match_hostname import CertificateError

from ..config import download_deadline
from ..errors import (
    FetchError,
    FetchTimeoutError,
    HTTPStatusError,
    NetworkError,
    RedirectError,
    TLSError,
    TooLargeError,
    UnreachableError,
)
from ..page import charset
from ..rules import imagetype, retry, urls
from ..rules.messages import MAX_VALIDATOR_CHARS  # an ETag or Last-Modified longer is not kept (nor sent back)
from ..rules.retry import parse_retry_after
from . import transport
from .netguard import DEFAULT_POLICY, NetPolicy
from .transport import Options

log = logging.getLogger(__name__)
T = TypeVar("T")

CHUNK = transport.CHUNK
HEAD_BYTES = 512
DRAIN_BYTES = 64 * 1024  # read the rest of an unwanted body up to this, to keep its connection
MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = ("text/html", "application/xhtml+xml")
DECODED_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})  # what we ask for, and urllib3 decodes
# what requests, urllib3 and the socket layer raise for a request that went wrong
_LIBRARY_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError)


class Client:
    """One thread's HTTP client: keep-alive connections per origin, all obeying a NetPolicy,
    with the process's headers, cookies, proxies and trust store (`transport.Options`)."""

    def __init__(self, user_agent: str, policy: NetPolicy = DEFAULT_POLICY, options: Options | None = None):
        self.transport = transport.Transport(user_agent, policy, options or transport.default_options())

    def close(self) -> None:
        self.transport.close()


def new_client(user_agent: str, policy: NetPolicy = DEFAULT_POLICY, options: Options | None = None) -> Client:
    return Client(user_agent, policy, options)


def _get(client: Client, url: str, accept: str, timeout: float,
         conditional: dict[str, str] | None = None) -> tuple[requests.Response, str]:
    """GET url, following up to MAX_REDIRECTS redirects (http and https only), each hop through
    the guard; the open response and the URL it came from. The user's headers (--header) go
    to the URL asked for and stay behind when a redirect leads to another site; the
    `conditional` headers (If-None-Match, If-Modified-Since) go to every hop, as they name the
    representation we hold of wherever the redirects end."""
    user_headers = True
    for hop in range(MAX_REDIRECTS + 1):
        try:
            resp = client.transport.get(url, accept, timeout, user_headers=user_headers, extra=conditional)
        except FetchError:
            raise  # the SSRF guard refused an address
        except _LIBRARY_ERRORS as exc:
            raise _translate(exc, url, redirected=hop > 0) from exc
        location = resp.headers.get("Location") if resp.status_code in REDIRECT_STATUSES else None
        if location is None:
            return resp, url
        _release(resp, DRAIN_BYTES)
        target = urls.normalize_url(location, base=url)
        if target is None:
            raise RedirectError(f"redirected to an address we do not fetch: {location[:200]}",
                                final_url=location[:2000])
        user_headers = user_headers and same_site(url, target)
        url = target
    raise RedirectError(f"more than {MAX_REDIRECTS} redirects (or a redirect loop)", final_url=url)


def same_site(old: str, new: str) -> bool:
    """Does a redirect from old to new stay where the user's headers were meant to go? As
    requests decides for Authorization (should_strip_auth): the same host, scheme and port,
    or http to https on the same host with default ports."""
    a, b = urlsplit(old), urlsplit(new)
    if a.hostname != b.hostname:
        return False
    ports = urls.DEFAULT_PORTS
    pa, pb = a.port or ports.get(a.scheme), b.port or ports.get(b.scheme)
    if (a.scheme, b.scheme) == ("http", "https") and (pa, pb) == (ports["http"], ports["https"]):
        return True
    return a.scheme == b.scheme and pa == pb


def _release(resp: requests.Response, limit: int) -> None:
    """Done with an answer. A body not read yet and at most `limit` bytes on the wire (a
    redirect's note, an error page) is read and dropped, so its connection goes back to the
    pool; any other is closed with its connection."""
    raw = resp.raw
    left = getattr(raw, "length_remaining", None)
    try:
        if left is not None and left <= limit and not getattr(raw, "chunked", True) and raw.tell() == 0:
            while raw.read(CHUNK, decode_content=False):  # raw bytes: nothing to inflate
                pass
    except Exception:  # noqa: BLE001  the connection is closed below either way
        pass
    resp.close()


@dataclass
class Body:
    """An open response: metadata, the first bytes for sniffing, and the rest as a stream.
    A 304 to a conditional request is a Body too, with `not_modified` set and nothing to read."""

    final_url: str
    status: int
    content_type: str | None
    head: bytes
    _chunks: Iterator[bytes]
    _max_bytes: int
    _deadline: float
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

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
              accept: str = "*/*", etag: str | None = None, last_modified: str | None = None) -> Iterator[Body]:
    """GET url, follow redirects, check the status and the declared size, read the head.

    With `etag` or `last_modified` (what an earlier answer said), the request is conditional
    (If-None-Match, If-Modified-Since), and a 304 yields a Body with `not_modified` set: no
    body is read, and the connection goes back to the pool."""
    deadline = time.monotonic() + download_deadline(timeout)
    conditional = _conditional_headers(etag, last_modified)
    resp, final_url = _get(client, url, accept, timeout, conditional)
    try:
        status = resp.status_code
        validators = _validators(resp)
        if status == 304 and conditional:
            yield Body(final_url, status, resp.headers.get("Content-Type"), b"", iter(()), max_bytes, deadline,
                       *validators)
            return
        if not 200 <= status < 300:
            raise HTTPStatusError(f"HTTP {status} {resp.reason or ''}".strip(), status=status, final_url=final_url,
                                  retry_after=parse_retry_after(resp.headers.get("Retry-After")))
        encoding = (resp.headers.get("Content-Encoding") or "").strip().lower()
        if any(e.strip() not in DECODED_ENCODINGS for e in encoding.split(",")):
            # urllib3 would pass a body it cannot decode through as it came
            raise NetworkError(f"cannot decode the body: unsupported Content-Encoding {encoding[:40]!r}",
                               status=status, final_url=final_url)
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes and encoding in ("", "identity"):
            raise TooLargeError(f"Content-Length {declared} is larger than {max_bytes} bytes",
                                status=status, final_url=final_url)
        # One generator for the whole body: the head is read from it, and Body.rest() goes on
        # from where the head stopped. (Breaking out of a loop over a temporary generator
        # would close the underlying stream and silently cut the body.) iter_content decodes
        # gzip and deflate in steps of at most CHUNK bytes (urllib3 >= 2.6 bounds each
        # step), so a compression bomb never inflates more than that at a time.
        stream = _translated(resp.iter_content(CHUNK), final_url)
        head = b""
        for chunk in stream:
            head += chunk
            if len(head) >= HEAD_BYTES:
                break
        if len(head) > max_bytes:
            raise TooLargeError(f"body is larger than {max_bytes} bytes", status=status, final_url=final_url)
        yield Body(final_url, status, resp.headers.get("Content-Type"), head, stream, max_bytes, deadline,
                   *validators)
    finally:
        _release(resp, DRAIN_BYTES)


def _conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str] | None:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers or None


def _validators(resp: requests.Response) -> tuple[str | None, str | None]:
    """The answer's ETag and Last-Modified, as sent (checked for length and line breaks only:
    they go back to the server verbatim)."""
    out = []
    for name in ("ETag", "Last-Modified"):
        value = resp.headers.get(name)
        value = value.strip() if value else None
        out.append(value if value and len(value) <= MAX_VALIDATOR_CHARS and value.isprintable() else None)
    return out[0], out[1]


@dataclass
class Page:
    final_url: str
    status: int
    content_type: str | None
    body: bytes
    truncated: bool

    @property
    def is_html(self) -> bool:
        ctype = imagetype.media_type(self.content_type)
        return ctype in HTML_TYPES or (not ctype and self.body.lstrip()[:1] == b"<")

    @property
    def charset(self) -> str | None:
        return imagetype.media_param(self.content_type, "charset")

    def text(self) -> str:
        """The body as text: the charset from the header, else the document's meta, else
        UTF-8, else detection (see charset.py). Never raises."""
        return charset.decode_html(self.body, self.charset)


PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"


def fetch_page(client: Client, url: str, *, max_bytes: int, timeout: float) -> Page:
    """Fetch a page; a body over max_bytes is cut (truncated=True) rather than refused."""
    # The page cap cuts rather than refuses, so the body stream itself gets no limit here.
    with open_body(client, url, max_bytes=2**62, timeout=timeout, accept=PAGE_ACCEPT) as body:
        return read_page(body, max_bytes)


def read_page(body: Body, max_bytes: int) -> Page:
    """An open body as a page: HTML read up to max_bytes (cut beyond), anything else its head only."""
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


def with_retries(call: Callable[[], T], url: str, retries: int, *, what: str = "page",
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """call(), retried as image downloads are (connection errors, timeouts, 408, 429, 5xx;
    backoff with jitter, honouring Retry-After) at most `retries` times."""
    attempt = 1
    while True:
        try:
            return call()
        except FetchError as exc:
            wait = retry.wait_seconds(attempt, exc.retry_after) if retry.should_retry(exc.reason, exc.status) else None
            if wait is None or attempt > retries:
                raise
            log.warning("retrying %s %s in %.1f s after %s (attempt %d of %d)", what, url, wait, exc,
                        attempt + 1, retries + 1)
            sleep(wait)
            attempt += 1


def _looks_html(content_type: str | None) -> bool:
    ctype = imagetype.media_type(content_type)
    return not ctype or ctype in HTML_TYPES


def _translated(chunks: Iterator[bytes], url: str) -> Iterator[bytes]:
    try:
        yield from chunks
    except _LIBRARY_ERRORS as exc:
        raise _translate(exc, url) from exc


def _causes(exc: BaseException) -> list[BaseException]:
    """exc and what it wraps, outermost first: requests wraps urllib3's errors in args[0],
    urllib3 its reasons in .reason or args[1], and everyone chains with __cause__."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 12:
        e = todo.pop(0)
        if any(e is s for s in seen):
            continue
        seen.append(e)
        inner = [getattr(e, "reason", None), e.__cause__, e.__context__, *getattr(e, "args", ())]
        todo.extend(x for x in inner if isinstance(x, BaseException))
    return seen


def _translate(exc: BaseException, url: str, redirected: bool = False) -> FetchError:
    """Turn what requests, urllib3, the socket or TLS layer raised into one of ours, with a
    one-line message."""
    chain = _causes(exc)

    def find(*types):
        return next((e for e in chain if isinstance(e, types)), None)

    host = urlsplit(url).hostname or "?"
    if isinstance(exc, (transport.UnsupportedURL, requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema, urllib3.exceptions.LocationValueError)):
        if redirected:
            return RedirectError(f"redirected to an address we do not fetch: {_first_line(exc)}", final_url=url)
        return FetchError(f"not a URL we can fetch: {_first_line(exc)}", final_url=url)
    cert = find(ssl.SSLCertVerificationError, CertificateError)
    if cert is not None:
        why = getattr(cert, "verify_message", None) or _first_line(cert)
        return TLSError(f"the TLS certificate of {host} is not trusted: {why} (a private CA? --ca-bundle FILE)",
                        final_url=url)
    if find(ssl.SSLError, requests.exceptions.SSLError, urllib3.exceptions.SSLError) is not None:
        leaf = find(ssl.SSLError)
        why = getattr(leaf, "reason", None) or _first_line(leaf or exc)
        return TLSError(f"TLS with {host} failed: {why}", final_url=url)
    if find(urllib3.exceptions.ProxyError, requests.exceptions.ProxyError) is not None:
        return NetworkError(f"the proxy failed: {_first_line(chain[-1])}", final_url=url)
    if find(urllib3.exceptions.NameResolutionError, socket.gaierror) is not None:
        return UnreachableError(f"cannot resolve the host {host}", final_url=url)
    if find(ConnectionRefusedError) is not None:
        return UnreachableError(f"connection refused by {host}", final_url=url)
    # urllib3's NewConnectionError is a ConnectTimeoutError too (for old callers): not a timeout
    if find(requests.exceptions.ConnectTimeout) or any(
            isinstance(e, urllib3.exceptions.ConnectTimeoutError)
            and not isinstance(e, urllib3.exceptions.NewConnectionError) for e in chain):
        return FetchTimeoutError(f"timed out connecting to {host}", final_url=url)
    if find(urllib3.exceptions.ReadTimeoutError, requests.exceptions.Timeout, TimeoutError) is not None:
        return FetchTimeoutError(f"timed out waiting for {host}", final_url=url)
    if find(urllib3.exceptions.IncompleteRead) is not None:
        return NetworkError("connection closed before the body was complete", final_url=url)
    if find(urllib3.exceptions.DecodeError, requests.exceptions.ContentDecodingError) is not None:
        return NetworkError(f"cannot decode the body: {_first_line(chain[-1])}", final_url=url)
    return NetworkError(f"connection failed: {_first_line(chain[-1])}", final_url=url)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
