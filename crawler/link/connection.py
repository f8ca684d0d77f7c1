"""The manager's connections: registered as our own serializer, so that every connection
(server and client) gets what the stock one lacks (see shared/BASEMANAGER.md):

- TCP_NODELAY on both ends: without it a message over 16 KiB stalls ~44 ms on Nagle;
- receive and send timeouts, so a frozen peer raises instead of blocking forever. The
  stock Connection reads the raw descriptor, where `settimeout` has no effect: kept by the
  kernel (SO_RCVTIMEO/SO_SNDTIMEO) where it can, else through a socket object (below);
- a restricted unpickler: only builtins and the manager protocol's own few types are
  loaded, so a peer holding the key can send bad data, never code;
- optionally TLS (crawler.link.tls). OpenSSL must do a TLS connection's reading and writing, so
  such a connection does its I/O through the SSL socket's methods (SocketConnection), not
  the descriptor.
"""

from __future__ import annotations

import functools
import io
import pickle
import socket
import ssl
import struct
import threading
import time
from multiprocessing import connection as mpc
from multiprocessing import managers, reduction

from ..net.sockopts import set_timeouts
from . import tls as tls_

SERIALIZER = "crawler"
SERVER_IDLE_TIMEOUT = 300.0
"""A server-side connection that says nothing for this long is closed (workers heartbeat)."""
LISTEN_BACKLOG = 128
"""Connections waiting to be accepted. multiprocessing asks for 16 before Python 3.13
(gh-88321): a few dozen workers (re)connecting at once, several connections each, overflow
that, and a dropped SYN costs the worker a 1 s retransmission."""

# What a manager message may contain besides builtin containers and scalars.
_ALLOWED_GLOBALS = {
    ("multiprocessing.managers", "Token"),
    ("multiprocessing.managers", "RemoteError"),
    ("queue", "Empty"), ("_queue", "Empty"), ("queue", "Full"),
} | {("builtins", name) for name in (
    "Exception", "ValueError", "TypeError", "KeyError", "IndexError", "AttributeError",
    "AssertionError", "RuntimeError", "EOFError", "OSError", "ConnectionError",
    "ConnectionResetError", "BrokenPipeError", "TimeoutError", "NotImplementedError",
    "set", "frozenset", "bytearray", "complex", "slice", "range",
)}


class ForbiddenPickle(pickle.UnpicklingError):
    """A message asked to load something other than plain data."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise ForbiddenPickle(f"refused to load {module}.{name} from the network")


def safe_loads(data) -> object:
    return _RestrictedUnpickler(io.BytesIO(data)).load()


class SafeConnection(mpc.Connection):
    """A Connection whose recv() unpickles plain data only and turns a socket timeout into EOF,
    and whose send() pickles with the plain pickler: multiprocessing's ForkingPickler copies
    its table of reducers on every message (a visible share of a worker's CPU on loopback),
    for types these messages never hold; it is used only for one that needs it."""

    def send(self, obj):
        self._check_closed()
        self._check_writable()
        try:
            data = pickle.dumps(obj, pickle.DEFAULT_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError):
            data = reduction.ForkingPickler.dumps(obj)
        self._send_bytes(data)

    def recv(self):
        self._check_closed()
        self._check_readable()
        try:
            buf = self._recv_bytes()
        except (BlockingIOError, TimeoutError) as exc:  # the timeout expired: the peer is frozen or gone
            raise EOFError(f"no answer within the socket timeout ({exc})") from None
        return safe_loads(buf.getbuffer())


class SocketConnection(SafeConnection):
    """A SafeConnection that reads and writes through a socket object instead of the raw
    descriptor: a TLS socket, or a plain one whose timeout Python keeps (where the kernel
    cannot). `start`, given on the master's side, runs before the first read or write (the
    TLS preface and handshake): in the connection's own thread, not the accepting one."""

    def __init__(self, sock: socket.socket, start=None):
        super().__init__(sock.fileno())
        self._sock = sock
        self._start = start
        self._failed: BaseException | None = None

    def _begin(self) -> None:
        if self._failed is not None:  # the manager answers a failed request: not twice
            raise ConnectionAbortedError(f"the connection failed to start ({self._failed})")
        start, self._start = self._start, None
        try:
            self._sock = start(self._sock)
        except BaseException as exc:
            self._failed = exc
            raise

    # Connection's private _recv/_send/_poll/_close are the hooks all its I/O goes through; it
    # has no public way to use a socket object (a TLS socket) instead of a descriptor.
    def _read(self, handle, n):  # Connection._recv's reader, through the socket object
        return self._sock.recv(n)

    def _recv(self, size, read=None):
        if self._start is not None or self._failed is not None:
            self._begin()
        return super()._recv(size, self._read)

    def _send(self, buf, write=None):
        if self._start is not None or self._failed is not None:
            self._begin()
        self._sock.sendall(buf)

    def _send_bytes(self, buf):
        n = len(buf)
        if n > 0x7FFFFFFF:
            return super()._send_bytes(buf)
        # one write (one TLS record where it fits) for the header and the message, at any size
        self._send(struct.pack("!i", n) + buf)

    def _poll(self, timeout):
        if isinstance(self._sock, ssl.SSLSocket) and self._sock.pending():
            return True  # decrypted bytes wait in OpenSSL, where the descriptor does not show them
        return super()._poll(timeout)

    def _close(self, _close=None):
        self._sock.close()


def _is_tcp(sock: socket.socket) -> bool:
    return sock.family in (socket.AF_INET, socket.AF_INET6)


class SafeListener(mpc.Listener):
    """The server's listener: tuned, restricted connections; close() stops accepting for good.
    A subclass with `tls` set (see serializer_for) serves TLS."""

    tls: ssl.SSLContext | None = None

    def __init__(self, address=None, family=None, backlog=16, authkey=None):
        super().__init__(address, family, max(backlog, LISTEN_BACKLOG), authkey)
        self._closed = threading.Event()

    def accept(self):
        # private: Listener wraps a SocketListener; accepting from its socket here is the one way
        # to tune each connection (and start TLS) before multiprocessing's handshake
        listener = self._listener
        if self._closed.is_set() or listener is None:
            # The manager's accepter loops on OSError; park it for good instead of letting it spin.
            threading.Event().wait()
        try:
            sock, listener._last_accepted = listener._socket.accept()
        except OSError:
            if self._closed.is_set():
                threading.Event().wait()
            raise
        sock.setblocking(True)
        if not _is_tcp(sock):
            return SafeConnection(sock.detach())
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            sock.settimeout(tls_.HANDSHAKE_TIMEOUT)
            start = functools.partial(tls_.start_server, context=self.tls, idle_timeout=SERVER_IDLE_TIMEOUT)
            return SocketConnection(sock, start)
        if set_timeouts(sock, SERVER_IDLE_TIMEOUT):
            return SafeConnection(sock.detach())
        return SocketConnection(sock)

    def close(self):
        self._closed.set()
        try:
            self._listener._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        super().close()


class ClientSettings:
    """Socket timeouts for client connections; tests and workers may lower them."""

    connect_timeout = 5.0
    recv_timeout = 30.0


def safe_client(address, family=None, authkey=None, tls: tls_.ClientTLS | None = None):
    """Like multiprocessing.connection.Client, with our socket tuning and restricted recv;
    over TLS when `tls` says whom to trust."""
    where = format_address(address)
    sock = socket.create_connection(address, timeout=ClientSettings.connect_timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            sock.settimeout(ClientSettings.recv_timeout)
            conn: SafeConnection = SocketConnection(tls_.start_client(sock, where, address[0], tls))
        else:
            kernel = set_timeouts(sock, ClientSettings.recv_timeout)
            if authkey is not None:
                _refuse_tls_master(sock, where)
            conn = SafeConnection(sock.detach()) if kernel else SocketConnection(sock)
    except (BlockingIOError, TimeoutError) as exc:
        sock.close()
        raise EOFError(f"no answer to the handshake from the master at {where} "
                       f"within {ClientSettings.recv_timeout} s") from exc
    except BaseException:
        sock.close()  # a no-op once the TLS socket has taken the descriptor over
        raise
    try:
        if authkey is not None:
            mpc.answer_challenge(conn, authkey)
            mpc.deliver_challenge(conn, authkey)
    except (BlockingIOError, TimeoutError) as exc:
        conn.close()
        raise EOFError(f"no answer to the handshake within {ClientSettings.recv_timeout} s") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _refuse_tls_master(sock: socket.socket, where: str) -> None:
    """A plaintext client's look at the master's first bytes, left unread for the handshake:
    a TLS master's preface is a clear error now rather than a garbled challenge."""
    want = 4 + len(tls_.PREFACE_TAG)
    deadline = time.monotonic() + ClientSettings.recv_timeout
    while True:
        first = sock.recv(want, socket.MSG_PEEK)
        if len(first) >= want or not first or time.monotonic() > deadline:
            break
        time.sleep(0.001)  # the rest of a split first segment is on its way
    if tls_.answered_with_preface(first):
        raise tls_.TLSError(f"the master at {where} serves its queues over TLS: connect with {tls_.CLIENT_OPTIONS}")


# Private to multiprocessing: a BaseManager takes no listener or client of its own, only the name
# of a serializer, which it looks up in this table (the one way in, since Python 3.3).
managers.listener_client[SERIALIZER] = (SafeListener, safe_client)  # type: ignore[attr-defined]
_tls_serializers: dict[str, tuple] = {}


def serializer_for(server: tls_.ServerTLS | None = None, client: tls_.ClientTLS | None = None) -> str:
    """The name under which multiprocessing finds our listener and client for these TLS
    settings: the manager takes no options for them, only a serializer's name."""
    if server is None and client is None:
        return SERIALIZER
    for name, (s, c) in _tls_serializers.items():
        if s is server and c is client:
            return name
    name = f"{SERIALIZER}+tls{len(_tls_serializers) + 1}"
    listener = type("TLSListener", (SafeListener,), {"tls": server.context if server else None})
    managers.listener_client[name] = (listener, functools.partial(safe_client, tls=client))  # type: ignore[attr-defined]
    _tls_serializers[name] = (server, client)  # kept alive: the name is found by identity
    return name


def format_address(address: tuple[str, int]) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
