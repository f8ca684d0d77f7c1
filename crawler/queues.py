"""The BaseManager that serves the task and result queues, and how workers reach it.

Server side, `get_task_queue` is a TaskBoard: a queue whose items are *leased* to a worker
until a result acknowledges them (`crawler.lease`), and `get_result_queue` is a ResultInbox.
Both live in the master process, so the master reads them directly, without a proxy.

The connection layer is registered as our own serializer, "crawler", so every connection
(server and client) gets three things the stock one lacks (see shared/BASEMANAGER.md):
- TCP_NODELAY on both ends: without it a message over 16 KiB stalls ~44 ms on Nagle;
- receive and send timeouts on the socket (SO_RCVTIMEO/SO_SNDTIMEO), so a frozen peer
  raises instead of blocking forever; the stock `settimeout` has no effect on it;
- a restricted unpickler: only builtins and the manager protocol's own few types are
  loaded, so a peer holding the key can send bad data, never code.
"""

from __future__ import annotations

import io
import logging
import pickle
import socket
import threading
from multiprocessing import connection as mpc
from multiprocessing import managers, reduction

from .errors import ConnectError
from .sockopts import set_kernel_timeouts

log = logging.getLogger(__name__)

SERIALIZER = "crawler"
SERVER_IDLE_TIMEOUT = 300.0
"""A server-side connection that says nothing for this long is closed (workers heartbeat)."""

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
    its table of reducers on every message (about 5% of a worker's CPU on loopback, py-spy),
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
        except BlockingIOError as exc:  # SO_RCVTIMEO expired: the peer is frozen or gone
            raise EOFError(f"no answer within the socket timeout ({exc})") from None
        return safe_loads(buf.getbuffer())


def _tune(sock: socket.socket, timeout: float) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    set_kernel_timeouts(sock, timeout)


class SafeListener(mpc.Listener):
    """The server's listener: tuned, restricted connections; close() stops accepting for good."""

    def __init__(self, address=None, family=None, backlog=16, authkey=None):
        super().__init__(address, family, backlog, authkey)
        self._closed = threading.Event()

    def accept(self):
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
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            _tune(sock, SERVER_IDLE_TIMEOUT)
        return SafeConnection(sock.detach())

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


def safe_client(address, family=None, authkey=None):
    """Like multiprocessing.connection.Client, with our socket tuning and restricted recv."""
    sock = socket.create_connection(address, timeout=ClientSettings.connect_timeout)
    try:
        sock.settimeout(None)  # back to blocking: the Connection reads the raw fd
        _tune(sock, ClientSettings.recv_timeout)
        conn = SafeConnection(sock.detach())
    finally:
        sock.close()
    try:
        if authkey is not None:
            mpc.answer_challenge(conn, authkey)
            mpc.deliver_challenge(conn, authkey)
    except BlockingIOError as exc:
        conn.close()
        raise EOFError(f"no answer to the handshake within {ClientSettings.recv_timeout} s") from exc
    except BaseException:
        conn.close()
        raise
    return conn


managers.listener_client[SERIALIZER] = (SafeListener, safe_client)

# The objects served by this process. Module-level accessors rather than lambdas, so the
# registration pickles under the spawn start method (macOS, Windows).
_served: dict[str, object] = {}


def _get_task_queue():
    return _served["tasks"]


def _get_result_queue():
    return _served["results"]


TASK_QUEUE_METHODS = ("get", "get_many", "exchange", "put", "qsize", "heartbeat", "release", "settings", "status",
                      "stopped")
RESULT_QUEUE_METHODS = ("put", "put_many", "qsize")


class CrawlManager(managers.BaseManager):
    """The manager both ends use: `get_task_queue()` and `get_result_queue()`."""


CrawlManager.register("get_task_queue", callable=_get_task_queue, exposed=TASK_QUEUE_METHODS)
CrawlManager.register("get_result_queue", callable=_get_result_queue, exposed=RESULT_QUEUE_METHODS)


class Served:
    """A running manager server in this process."""

    def __init__(self, server: managers.Server, thread: threading.Thread):
        self.server = server
        self.thread = thread

    @property
    def address(self) -> tuple[str, int]:
        return self.server.address

    def stop(self) -> None:
        """Stop accepting and end the serving loop; open connections end with the process."""
        self.server.listener.close()
        stop_event = getattr(self.server, "stop_event", None)
        if stop_event is not None:
            stop_event.set()


def _serve_forever(server: managers.Server) -> None:
    try:
        server.serve_forever()
    except SystemExit:  # serve_forever always ends in sys.exit(0) (gh-90180)
        pass


def serve(task_queue, result_queue, address: tuple[str, int], authkey: bytes) -> Served:
    """Serve the two queues on address (port 0: the OS picks) in a background thread."""
    _served["tasks"] = task_queue
    _served["results"] = result_queue
    manager = CrawlManager(address=address, authkey=authkey, serializer=SERIALIZER)
    server = manager.get_server()
    thread = threading.Thread(target=_serve_forever, args=(server,), name="manager-server", daemon=True)
    thread.start()
    return Served(server, thread)


class MasterLink:
    """A worker's connection to the master. Use it from one thread only.

    Proxies are cached per thread per address by multiprocessing, and a new manager in the
    same thread reuses a dead cached socket. `reset()` drops that state so the next
    `connect()` opens fresh connections.
    """

    def __init__(self, address: tuple[str, int], authkey: bytes):
        self.address = address
        self.authkey = authkey
        self.tasks = None
        self.results = None

    def connect(self) -> None:
        """Connect and fetch proxies; ConnectError for a wrong key, OSError/EOFError if unreachable."""
        self.reset()
        manager = CrawlManager(address=self.address, authkey=self.authkey, serializer=SERIALIZER)
        try:
            manager.connect()
            self.tasks = manager.get_task_queue()
            self.results = manager.get_result_queue()
        except mpc.AuthenticationError as exc:
            self.reset()
            raise ConnectError(f"the master at {format_address(self.address)} refused our authkey "
                               f"({exc}); use the key from the master's {{out}}/.crawler/authkey") from None
        except BaseException:
            self.reset()
            raise

    def reset(self) -> None:
        for proxy in (self.tasks, self.results):
            if proxy is None:
                continue
            close = getattr(proxy, "_close", None)
            if close is not None:
                close.cancel()  # else its decref may reach a new server and delete its objects
            conn = getattr(proxy._tls, "connection", None)
            if conn is not None:
                try:
                    conn.close()
                except OSError:
                    pass
                del proxy._tls.connection
        with managers.BaseProxy._mutex:
            managers.BaseProxy._address_to_local.pop(self.address, None)
        self.tasks = self.results = None


def format_address(address: tuple[str, int]) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
