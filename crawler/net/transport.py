"""The transport under `fetch`: requests' HTTPAdapter, with the SSRF guard inside urllib3.

Every new connection to an origin is opened by `netguard.connect` (resolve, check, connect
to the address that was checked) in `_new_conn`, the one place urllib3 opens a socket. So
each request and each redirect hop is checked at connect time, on the address actually
connected to, and a DNS answer that changes between check and connect (rebinding) cannot
get around it. TLS then verifies the certificate against the URL's host name, as urllib3
always does.

Through a proxy (`--proxy`, or HTTP_PROXY / HTTPS_PROXY / ALL_PROXY / NO_PROXY in either
case, read as requests reads them) the socket goes to the proxy, which the user named: the
proxy resolves the target and is the boundary. An address written in the URL itself is
still refused (`NetPolicy.check_literal`).

One `Transport` per thread: an adapter with its connection pools (keep-alive connections
per origin). Per process: the cookie jar (http.cookiejar locks itself), the TLS context
(a CA bundle is read once, not per connection) and the proxy chosen for each origin.

The path through requests, and why not `Session.get`: a Session looks up the environment's
proxies on every request (`merge_environment_settings`: urllib's getproxies scans all of
os.environ and no_proxy is parsed again), copies its cookie jar into every request
(`prepare_request`), and with `allow_redirects=False` still works out the next hop of a
redirect, which reads the whole redirect body into memory and rebuilds proxies and auth.
We follow redirects ourselves (fetch.py) and decide the proxy once per origin, so a request
is a PreparedRequest sent with `HTTPAdapter.send` (the call `responses` patches in tests),
and cookies a site sets go straight into the process's jar in `build_response`.
"""

from __future__ import annotations

import io
import os
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar
from requests.models import PreparedRequest, Response
from requests.structures import CaseInsensitiveDict
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_encoding_from_headers, get_environ_proxies, select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.poolmanager import PoolManager
from urllib3.util.ssl_ import create_urllib3_context

from .netguard import DEFAULT_POLICY, NetPolicy, connect
from .sockopts import clear_kernel_timeouts, kernel_timeouts_work, set_kernel_timeouts

CHUNK = 64 * 1024
MAX_POOLS = 64  # origins kept open per thread; the least recently used closes first
POOL_SIZE = 2  # a thread sends one request at a time; one spare, so a connection is never dropped
ACCEPT_ENCODING = "gzip, deflate"  # what urllib3 decodes without extra packages
CA_BUNDLE_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # as requests reads them, in this order


class UnsupportedURL(ValueError):
    """Not an http(s) URL with a host."""


# -- connections through the guard ------------------------------------------------------------

def _guarded_socket(conn: _GuardedHTTPConnection | _GuardedHTTPSConnection) -> socket.socket:
    """What urllib3's own _new_conn does, but resolved, checked and connected by netguard;
    errors are urllib3's, so requests reports them as it always does."""
    try:
        return connect(conn.policy, conn._dns_host, conn.port, conn.timeout)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    except TimeoutError as exc:
        raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out. "
                                        f"(connect timeout={conn.timeout})") from exc
    except OSError as exc:
        raise NewConnectionError(conn, f"Failed to establish a new connection: {exc}") from exc


# A plain-HTTP socket is blocking, with its timeouts kept by the kernel (SO_RCVTIMEO and
# SO_SNDTIMEO) rather than by Python. On a socket with a Python timeout every recv and send
# is a poll and then the call, and urllib3 sets the timeout again on every request (an
# ioctl); each of these system calls lets the interpreter's lock go and come back, and with
# a worker's threads every hand-over costs. strace of 200 downloads: 981 polls and 665
# ioctls with Python's timeouts, 205 and 269 with the kernel's. One process, 2 threads,
# 600 loopback downloads from nginx through fetch.open_body, 9 interleaved rounds (other
# sessions loading the machine): 0.872 -> 0.802 ms of CPU per image (medians; min 0.779 ->
# 0.694). TLS sockets keep Python's timeouts: OpenSSL over a socket that times out in the
# kernel reports "want read", not a timeout.
class _KernelTimedIO(socket.SocketIO):
    """A blocking socket's reader for which an expired SO_RCVTIMEO is a timeout: SocketIO
    returns None for it (its reading of EAGAIN), which http.client would take for an early
    end of the answer."""

    def readinto(self, b):
        n = super().readinto(b)
        if n is None:
            raise TimeoutError("timed out")
        return n


class _KernelTimedSocket(socket.socket):
    """What http.client and urllib3 use of a socket, with settimeout() kept by the kernel."""

    _kernel_timeout: float | None = None

    @classmethod
    def adopt(cls, sock: socket.socket, timeout: float | None) -> _KernelTimedSocket:
        new = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        super(_KernelTimedSocket, new).settimeout(None)  # blocking, for good
        new.settimeout(timeout)
        return new

    def settimeout(self, value: float | None) -> None:
        if value != self._kernel_timeout:  # urllib3 sets it twice per request, mostly to what it was
            if value is None:
                clear_kernel_timeouts(self)
            else:
                set_kernel_timeouts(self, value)
            self._kernel_timeout = value

    def gettimeout(self) -> float | None:
        return self._kernel_timeout

    def sendall(self, data, flags=0):
        try:
            return super().sendall(data, flags)
        except BlockingIOError:  # SO_SNDTIMEO expired
            raise TimeoutError("timed out sending") from None

    def makefile(self, mode="r", buffering=None, **kwargs):
        if mode != "rb":
            return super().makefile(mode, buffering, **kwargs)
        raw = _KernelTimedIO(self, "rb")
        self._io_refs += 1  # as socket.makefile: the descriptor stays open until the reader closes
        return io.BufferedReader(raw, buffering if buffering and buffering > 0 else io.DEFAULT_BUFFER_SIZE)


class _GuardedHTTPConnection(HTTPConnection):
    def __init__(self, *args, policy: NetPolicy = DEFAULT_POLICY, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy = policy

    def _new_conn(self) -> socket.socket:
        sock = _guarded_socket(self)
        if not kernel_timeouts_work():  # this platform's kernel cannot keep them: Python's own
            return sock
        return _KernelTimedSocket.adopt(sock, self.timeout)


class _GuardedHTTPSConnection(HTTPSConnection):
    def __init__(self, *args, policy: NetPolicy = DEFAULT_POLICY, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy = policy

    def _new_conn(self) -> socket.socket:
        return _guarded_socket(self)  # connect() then wraps it in TLS for the URL's host name


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedPoolManager(PoolManager):
    """urllib3's pool manager with guarded connection pools for both schemes."""

    def __init__(self, policy: NetPolicy, **kwargs):
        super().__init__(**kwargs)
        self.policy = policy
        self.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}

    def _new_pool(self, scheme, host, port, request_context=None):
        pool = super()._new_pool(scheme, host, port, request_context)
        # not through connection_pool_kw: its keys become the pool key's fields, and there is none for this
        pool.conn_kw["policy"] = self.policy
        return pool


class GuardedAdapter(HTTPAdapter):
    """requests' adapter with guarded connections, one TLS context and one cookie jar.
    Without a proxy its pools are guarded; requests' proxy managers (the proxy is the
    boundary) get the same TLS context for the targets they tunnel to."""

    def __init__(self, policy: NetPolicy, options: Options):
        self.policy, self.options, self.jar = policy, options, options.jar
        super().__init__(pool_connections=MAX_POOLS, pool_maxsize=POOL_SIZE)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs) -> None:
        self._pool_connections, self._pool_maxsize, self._pool_block = connections, maxsize, block
        self.poolmanager = _GuardedPoolManager(self.policy, num_pools=connections, maxsize=maxsize, block=block,
                                               **pool_kwargs)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params["scheme"] == "https":
            pool_kwargs["ssl_context"] = self.options.tls
        return host_params, pool_kwargs

    def cert_verify(self, conn, url, verify, cert) -> None:
        # Verification is always on, and the trust store is in options.tls. requests' own
        # cert_verify would name its bundle's path on the pool (a stat per request), and
        # each new connection would then load that file into the context again.
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = conn.ca_cert_dir = None

    def build_response(self, req, resp) -> Response:
        """requests' build_response, except that cookies a site sets go into the process's
        jar (requests parses them into a jar of the response's, and Session.send a second
        time into the session's)."""
        response = Response()
        response.status_code = resp.status  # requests reads it with getattr; urllib3's responses all have it
        response.headers = CaseInsensitiveDict(getattr(resp, "headers", {}))
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url
        if "set-cookie" in resp.headers:  # parsing is not free; Set-Cookie2 is obsolete (RFC 6265)
            extract_cookies_to_jar(self.jar, req, resp)
        response.request = req
        response.connection = self
        return response


# -- what a process's requests share ---------------------------------------------------------

def new_jar() -> RequestsCookieJar:
    """A cookie jar where a cookie without a Domain goes back to its own host only (RFC 6265;
    http.cookiejar's default policy would also send it to the host's subdomains)."""
    return RequestsCookieJar(DefaultCookiePolicy(strict_ns_domain=DefaultCookiePolicy.DomainStrictNonDomain))


_tls_lock = threading.Lock()
_tls_contexts: dict[tuple, ssl.SSLContext] = {}


def tls_context(ca_file: str | None = None, ca_pem: str | None = None) -> ssl.SSLContext:
    """Certificate and host name checks on, trusting `ca_file` (a bundle or a folder), else the
    PEM text `ca_pem`, else requests' own bundle (certifi). Made once per process and trust
    store; threads share it. ssl.SSLError or OSError for a file that is not a bundle."""
    key = (ca_file, ca_pem)
    with _tls_lock:
        ctx = _tls_contexts.get(key)
        if ctx is None:
            ctx = create_urllib3_context()  # urllib3's defaults, as requests uses them
            if ca_file and os.path.isdir(ca_file):
                ctx.load_verify_locations(capath=ca_file)
            elif ca_file or not ca_pem:
                ctx.load_verify_locations(cafile=ca_file or DEFAULT_CA_BUNDLE_PATH)
            else:
                ctx.load_verify_locations(cadata=ca_pem)
            _tls_contexts[key] = ctx
        return ctx


def env_ca_bundle() -> str | None:
    """The CA bundle the environment names for requests (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE)."""
    for name in CA_BUNDLE_ENV:
        if os.environ.get(name):
            return os.environ[name]
    return None


class Proxies:
    """The proxy each origin's requests go through: `proxy` for all of them, else what the
    environment says for the URL, as requests reads it (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY,
    NO_PROXY, either case). Decided once per origin: the environment does not change during
    a crawl, and requests' Session would look it up again on every request."""

    MAX_ORIGINS = 10_000

    def __init__(self, proxy: str | None = None):
        self.proxy = proxy
        self._by_origin: dict[tuple, dict[str, str]] = {}

    def for_url(self, url: str, scheme: str, netloc: str) -> dict[str, str]:
        key = (scheme, netloc)
        found = self._by_origin.get(key)
        if found is None:
            chosen = self.proxy or select_proxy(url, get_environ_proxies(url))
            found = {"all": chosen} if chosen else {}
            if len(self._by_origin) >= self.MAX_ORIGINS:
                self._by_origin.clear()
            self._by_origin[key] = found  # a race here stores the same answer twice
        return found


@dataclass(frozen=True, eq=False)
class Options:
    """What every request of a process carries beyond the guard: the user's headers, the
    cookie jar, the proxies and the TLS trust store (`ca_file`, else the PEM text `ca_pem`,
    else requests' own). Made once per process (or per change of the crawl's settings) and
    shared by its threads' transports."""

    headers: tuple[tuple[str, str], ...] = ()
    jar: CookieJar = field(default_factory=new_jar)
    proxies: Proxies = field(default_factory=Proxies)
    ca_file: str | None = field(default_factory=env_ca_bundle)
    ca_pem: str | None = None

    @property
    def tls(self) -> ssl.SSLContext:
        """Made on the first https request (loading a bundle costs about 40 ms of CPU)."""
        return tls_context(self.ca_file, self.ca_pem)


_default: Options | None = None


def default_options() -> Options:
    """This process's options when nobody gave any: the environment's proxies and CA bundle."""
    global _default
    if _default is None:
        _default = Options()
    return _default


# -- one thread's requests -------------------------------------------------------------------

class Transport:
    """One thread's HTTP transport (not thread-safe: one per thread)."""

    def __init__(self, user_agent: str, policy: NetPolicy, options: Options):
        self.policy = policy
        self.options = options
        self.adapter = GuardedAdapter(policy, options)
        self._ours = {"User-Agent": user_agent, "Accept-Encoding": ACCEPT_ENCODING}
        self._user = dict(options.headers)

    def get(self, url: str, accept: str, timeout: float, *, user_headers: bool = True,
            extra: dict[str, str] | None = None) -> Response:
        """Send a GET for url and read the status line and headers; the body waits to be
        streamed. `extra`: headers of this request alone (a conditional request's). Raises
        UnsupportedURL, netguard.BlockedAddressError, or what requests raises
        (requests.RequestException and its kin)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise UnsupportedURL(f"not an http(s) URL: {url[:200]}")
        headers = {**self._ours, "Accept": accept, **self._user} if user_headers else {**self._ours, "Accept": accept}
        if extra:
            headers.update(extra)
        # PreparedRequest.prepare's steps; the cookie step only with cookies in the jar (an
        # empty jar costs a MockRequest and a locked walk per request for no header)
        request = PreparedRequest()
        request.prepare_method("GET")
        request.prepare_url(url, None)
        request.prepare_headers(headers)
        jar = self.options.jar
        if len(jar):
            request.prepare_cookies(jar)
        request.prepare_body(None, None)
        if "@" in parts.netloc:  # a user:password in the URL, sent as requests sends it
            request.prepare_auth(None, url)
        proxies = self.options.proxies.for_url(url, scheme, parts.netloc)
        if proxies:
            self.policy.check_literal(parts.hostname)
        return self.adapter.send(request, stream=True, timeout=(timeout, timeout), verify=True, proxies=proxies)

    def close(self) -> None:
        self.adapter.close()
