"""A lean HTTP/1.1 GET client on the standard library's http.client: the crawler's transport.

One `Connections` object per thread keeps a keep-alive connection per origin. Every new
connection goes through the SSRF guard (`netguard.connect`), which resolves the host,
checks the addresses and connects to the address it checked; TLS verifies the
certificate against the host name with the system's trust store. A connection that the
server closed while it sat idle is noticed before reuse, and a GET that fails on a reused
connection before any answer is sent again once on a new one, as browsers do.

Bodies are decoded here (gzip and deflate, the encodings we ask for) in bounded steps, so
a compression bomb never inflates more than one chunk at a time.

Why not urllib3 or requests: per 44 kB image over loopback, in one run of
bench/one_download.py (one thread, 500 images from nginx, medians of 3): requests 1.03 ms
of CPU, urllib3's pool manager 0.48, bare http.client 0.23, and this module's path with
all its checks 0.21 (its header parser is lighter than http.client's). On a fast site the
HTTP layer was the largest part of a worker's CPU. An image crawler's GET needs none of
what they add beyond this module: no proxies, cookies, auth, retries or redirects of theirs
(fetch.py follows redirects itself).
"""

from __future__ import annotations

import http.client
import io
import select
import socket
import ssl
import time
import zlib
from collections import OrderedDict
from typing import Iterator
from urllib.parse import urlsplit

from .netguard import NetPolicy, connect
from .sockopts import set_timeouts

CHUNK = 64 * 1024
MAX_IDLE_CONNECTIONS = 64  # origins kept open per thread; the least recently used closes first
FRESH_SECONDS = 1.0  # a keep-alive connection idle less than this is reused without looking
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_HEADER_LINE = 65536  # as http.client: a longer line, or more lines, is a bad answer
MAX_HEADERS = 100


class UnsupportedURL(ValueError):
    """Not an http(s) URL with a host."""


class DecodeError(ValueError):
    """A body that does not decode as its Content-Encoding says."""


class Headers:
    """A response's header fields, case-insensitive; get() gives the first of repeated fields,
    as http.client's email-based HTTPMessage does, at a third of its cost (12 against 42 us
    for nginx's 8 lines; bench/one_download.py: our whole fetch now costs less than bare
    http.client does)."""

    __slots__ = ("_fields", "_first")

    def __init__(self, fields: list[tuple[str, str]]):
        self._fields = fields
        first: dict[str, str] = {}
        for name, value in fields:
            first.setdefault(name.lower(), value)
        self._first = first

    def get(self, name: str, default=None):
        return self._first.get(name.lower(), default)

    def get_all(self, name: str, default=None):
        key = name.lower()
        found = [v for k, v in self._fields if k.lower() == key]
        return found or default

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)

    def __getitem__(self, name: str):
        return self._first.get(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def __iter__(self):
        return (name for name, _ in self._fields)

    def __len__(self) -> int:
        return len(self._fields)


def read_headers(fp) -> Headers:
    """Header lines up to the blank line; folded lines join the field before them."""
    fields: list[tuple[str, str]] = []
    for _ in range(MAX_HEADERS + 1):
        line = fp.readline(MAX_HEADER_LINE + 1)
        if len(line) > MAX_HEADER_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            return Headers(fields)
        text = line.decode("iso-8859-1")
        if text[0] in " \t":  # obsolete line folding: more of the previous field
            if fields:
                name, value = fields[-1]
                fields[-1] = (name, f"{value} {text.strip()}".strip())
            continue
        name, colon, value = text.partition(":")
        if colon:
            fields.append((name.strip(), value.strip()))
    raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")


# Plain-HTTP sockets are blocking, with their timeout kept by the kernel (SO_RCVTIMEO and
# SO_SNDTIMEO) rather than by Python. A socket with a Python timeout polls before every
# recv and send, and each of the two system calls lets the interpreter's lock go and come
# back, and with a worker's 8 threads each hand-over has a cost. Measured with bench/split.py
# (7 interleaved runs, medians of the whole crawl's CPU per image), the gain was small and
# largest when the VM ran slowest: 1.26 -> 1.16 and 1.24 -> 1.17 ms (a first cut), then
# workers 0.60 -> 0.58 and 0.56 -> 0.54 ms. TLS sockets keep Python's timeouts: OpenSSL over
# a socket that times out in the kernel reports "want read", not a timeout.
class _KernelTimedIO(socket.SocketIO):
    """A blocking socket's reader for which an expired SO_RCVTIMEO is a timeout: SocketIO
    returns None for it (its reading of EAGAIN), which http.client would take for an early
    end of the answer."""

    def readinto(self, b):
        n = super().readinto(b)
        if n is None:
            raise TimeoutError("timed out")
        return n


class _SocketForResponse:
    """What http.client's HTTPResponse needs of the socket (only makefile("rb"))."""

    __slots__ = ("_sock",)

    def __init__(self, sock: socket.socket):
        self._sock = sock

    def makefile(self, mode: str):
        raw = _KernelTimedIO(self._sock, "rb")
        self._sock._io_refs += 1  # as socket.makefile: the fd stays open until this reader closes
        return io.BufferedReader(raw)


class _Response(http.client.HTTPResponse):
    """http.client's response with a lighter header parser; begin() is the standard library's
    (3.11), but for the one line that parses the header fields."""

    def begin(self):
        if self.headers is not None:
            return
        while True:  # read until a final (non-100) answer
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            read_headers(self.fp)  # the 100 answer's own fields, dropped
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = read_headers(self.fp)
        tr_enc = self.headers.get("transfer-encoding")
        self.chunked = bool(tr_enc and tr_enc.lower() == "chunked")
        self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:
                    self.length = None
        if (status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200
                or self._method == "HEAD"):
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True


class _KernelTimedResponse(_Response):
    """The response on a plain-HTTP connection, whose socket's timeout the kernel keeps."""

    def __init__(self, sock, debuglevel=0, method=None, url=None):
        super().__init__(_SocketForResponse(sock), debuglevel, method, url)


class _GuardedHTTP(http.client.HTTPConnection):
    response_class = _KernelTimedResponse

    def __init__(self, host: str, port: int, timeout: float, policy: NetPolicy):
        super().__init__(host, port, timeout=timeout)
        self._policy = policy
        self.kernel_timeout: float | None = None

    def connect(self) -> None:
        sock = connect(self._policy, self.host, self.port, self.timeout)
        try:
            set_timeouts(sock, self.timeout)  # kept by the kernel where it can (see above)
        except BaseException:
            sock.close()
            raise
        self.sock, self.kernel_timeout = sock, self.timeout

    def set_timeout(self, seconds: float) -> None:
        """The timeout of the open connection's next request."""
        if seconds != self.kernel_timeout:
            set_timeouts(self.sock, seconds)
            self.kernel_timeout = seconds


class _GuardedHTTPS(http.client.HTTPSConnection):
    response_class = _Response

    def __init__(self, host: str, port: int, timeout: float, policy: NetPolicy, context: ssl.SSLContext):
        super().__init__(host, port, timeout=timeout, context=context)
        self._policy = policy

    def connect(self) -> None:
        sock = connect(self._policy, self.host, self.port, self.timeout)
        try:
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise

    def set_timeout(self, seconds: float) -> None:
        """The timeout of the open connection's next request."""
        if self.sock.gettimeout() != seconds:
            self.sock.settimeout(seconds)


_tls_context: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    """The system's trust store, certificate and host name checks on (made once, shared)."""
    global _tls_context
    if _tls_context is None:
        ctx = ssl.create_default_context()
        ctx.set_alpn_protocols(["http/1.1"])
        _tls_context = ctx
    return _tls_context


class Response:
    """An answer whose body has not been read yet. `chunks()` yields it decoded; `close()`
    gives the connection back for reuse when the body was read to the end."""

    def __init__(self, raw: http.client.HTTPResponse, conn: http.client.HTTPConnection, key: tuple,
                 owner: "Connections"):
        self.status = raw.status
        self.reason = raw.reason
        self.headers = raw.headers
        self._raw, self._conn, self._key, self._owner = raw, conn, key, owner

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The body, decoded, in pieces of at most `size` bytes (DecodeError if it is corrupt)."""
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        if encoding in ("", "identity"):
            yield from self._pieces(size)
            return
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise DecodeError(f"unsupported Content-Encoding {encoding[:40]!r}")
        yield from _inflate(self._pieces(size), encoding, size)

    def _pieces(self, size: int) -> Iterator[bytes]:
        raw = self._raw
        while data := raw.read(size):
            yield data
        # http.client's read(n) returns b"" when the server closes early, without a word;
        # a body shorter than its Content-Length must not pass for a whole one
        if raw.length:
            raise http.client.IncompleteRead(b"", raw.length)

    def close(self) -> None:
        """Done with the answer: its connection is kept for the next request only if the body
        was read to the end and the server keeps it open; otherwise it is closed."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._raw.isclosed() and not self._raw.will_close and conn.sock is not None:
            self._owner._keep(self._key, conn)
        else:
            self._raw.close()
            conn.close()

    def drain(self, limit: int) -> None:
        """Read and drop what is left of the body if it is at most `limit` bytes (an error
        page, a redirect's note), so the connection can be reused; then close()."""
        left = self._raw.length
        if left is not None and left <= limit and not self._raw.chunked:
            try:
                self._raw.read()
            except (OSError, http.client.HTTPException):
                self._raw.close()
        self.close()


def _inflate(pieces: Iterator[bytes], encoding: str, size: int) -> Iterator[bytes]:
    """Decompress gzip (several members too) or deflate (zlib-wrapped or raw), never producing
    more than `size` bytes from one step."""
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    d = zlib.decompressobj(wbits)
    first = True
    try:
        for data in pieces:
            if first and encoding == "deflate":
                first = False
                try:
                    out = d.decompress(data, size)
                except zlib.error:  # some servers send raw deflate without the zlib header
                    d = zlib.decompressobj(-zlib.MAX_WBITS)
                    out = d.decompress(data, size)
            else:
                out = d.decompress(data, size)
            while True:
                if out:
                    yield out
                if d.unconsumed_tail:
                    out = d.decompress(d.unconsumed_tail, size)
                elif d.eof and d.unused_data and wbits != zlib.MAX_WBITS:  # another gzip member
                    rest = d.unused_data
                    d = zlib.decompressobj(wbits)
                    out = d.decompress(rest, size)
                else:
                    break
        tail = d.flush()
        if tail:
            yield tail
    except zlib.error as exc:
        raise DecodeError(f"the {encoding} body is corrupt: {exc}") from None


class Connections:
    """One thread's keep-alive connections, by origin. Not thread-safe: one per thread."""

    def __init__(self, policy: NetPolicy = NetPolicy()):
        self.policy = policy
        self._idle: OrderedDict[tuple, tuple[http.client.HTTPConnection, float]] = OrderedDict()

    def get(self, url: str, headers: dict[str, str], timeout: float) -> Response:
        """Send a GET for url and read the status line and headers.

        Raises UnsupportedURL, netguard.BlockedAddressError, OSError (socket.gaierror,
        ConnectionRefusedError, TimeoutError, ssl.SSLError...) or http.client.HTTPException.
        """
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname
        if scheme not in DEFAULT_PORTS or not host:
            raise UnsupportedURL(f"not an http(s) URL: {url[:200]}")
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except ValueError as exc:
            raise UnsupportedURL(f"bad port in {url[:200]}: {exc}") from None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = (scheme, host, port)
        conn, idle_since = self._idle.pop(key, (None, 0.0))
        # A connection idle for a while may have been closed by the server: look before using
        # it. One used a moment ago is taken as it is (a server closing it that fast is
        # handled below: the GET goes again on a new connection).
        reused = conn is not None and conn.sock is not None and (
            time.monotonic() - idle_since < FRESH_SECONDS or not _dropped(conn.sock))
        if conn is not None and not reused:
            conn.close()
            conn = None
        if conn is None:
            conn = (_GuardedHTTPS(host, port, timeout, self.policy, tls_context()) if scheme == "https"
                    else _GuardedHTTP(host, port, timeout, self.policy))
        while True:
            try:
                if conn.sock is None:
                    conn.timeout = timeout  # connect() applies it
                else:
                    conn.set_timeout(timeout)
                conn.putrequest("GET", target, skip_accept_encoding=True)
                for name, value in headers.items():
                    conn.putheader(name, value)
                conn.endheaders()
                raw = conn.getresponse()
            except BlockingIOError:  # SO_SNDTIMEO expired while sending the request
                conn.close()
                raise TimeoutError("timed out sending the request") from None
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                if not reused:
                    raise
                reused = False  # the server dropped the idle connection as we sent: once more, fresh
                continue
            except BaseException:
                conn.close()
                raise
            return Response(raw, conn, key, self)

    def _keep(self, key: tuple, conn: http.client.HTTPConnection) -> None:
        old, _ = self._idle.pop(key, (None, 0.0))
        if old is not None:
            old.close()
        self._idle[key] = (conn, time.monotonic())
        while len(self._idle) > MAX_IDLE_CONNECTIONS:
            self._idle.popitem(last=False)[1][0].close()

    def close(self) -> None:
        while self._idle:
            self._idle.popitem()[1][0].close()


def _dropped(sock) -> bool:
    """Has the server closed (or written to) an idle keep-alive connection? Either way it is
    not fit for the next request."""
    try:
        if hasattr(select, "poll"):
            p = select.poll()
            p.register(sock, select.POLLIN)
            return bool(p.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True
