"""The BaseManager that serves the task and result queues, and how workers reach it.

Server side, `get_task_queue` is a TaskBoard: a queue whose items are *leased* to a worker
until a result acknowledges them (`crawler.lease`), and `get_result_queue` is a ResultInbox.
Both live in the master process, so the master reads them directly, without a proxy.

Every connection, server and client, is ours (crawler.link.connection): TCP_NODELAY, socket
timeouts, a restricted unpickler, and TLS when the master has a certificate (crawler.link.tls).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable
from multiprocessing import managers
from typing import Any

from ..config import STATE_DIRNAME
from ..errors import ConnectError
from .authkey import KEY_NAME
from .connection import (  # noqa: F401
    SERIALIZER,
    SERVER_IDLE_TIMEOUT,
    ClientSettings,
    ForbiddenPickle,
    SafeConnection,
    SafeListener,
    SocketConnection,
    format_address,
    safe_client,
    safe_loads,
    serializer_for,
)
from .tls import ClientTLS, ServerTLS

log = logging.getLogger(__name__)

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

    # made by register() below, at run time
    get_task_queue: Callable[[], Any]
    get_result_queue: Callable[[], Any]


CrawlManager.register("get_task_queue", callable=_get_task_queue, exposed=TASK_QUEUE_METHODS)
CrawlManager.register("get_result_queue", callable=_get_result_queue, exposed=RESULT_QUEUE_METHODS)


class Served:
    """A running manager server in this process."""

    def __init__(self, server: managers.Server):
        self.server = server

    @property
    def address(self) -> tuple[str, int]:
        return self.server.address  # type: ignore[return-value]  # a TCP listener's: (host, port)

    def stop(self) -> None:
        """Stop accepting and end the serving loop; open connections end with the process."""
        # private: a manager's Server has no stop(); closing its listener ends serve_forever's accept loop
        self.server.listener.close()  # type: ignore[attr-defined]
        stop_event = getattr(self.server, "stop_event", None)
        if stop_event is not None:
            stop_event.set()


def _serve_forever(server: managers.Server) -> None:
    try:
        server.serve_forever()
    except SystemExit:  # serve_forever always ends in sys.exit(0) (gh-90180)
        pass


def serve(task_queue, result_queue, address: tuple[str, int], authkey: bytes,
          tls: ServerTLS | None = None) -> Served:
    """Serve the two queues on address (port 0: the OS picks) in a background thread; over
    TLS when `tls` is given."""
    _served["tasks"] = task_queue
    _served["results"] = result_queue
    manager = CrawlManager(address=address, authkey=authkey, serializer=serializer_for(server=tls))
    server = manager.get_server()
    thread = threading.Thread(target=_serve_forever, args=(server,), name="manager-server", daemon=True)
    thread.start()
    return Served(server)


class MasterLink:
    """A worker's connection to the master. Use it from one thread only.

    Proxies are cached per thread per address by multiprocessing, and a new manager in the
    same thread reuses a dead cached socket. `reset()` drops that state so the next
    `connect()` opens fresh connections.
    """

    def __init__(self, address: tuple[str, int], authkey: bytes, tls: ClientTLS | None = None):
        self.address = address
        self.authkey = authkey
        self.tls = tls
        # proxies: the exposed methods of the board's queues (queues.TASK_QUEUE_METHODS, ...)
        self.tasks: Any = None
        self.results: Any = None

    def connect(self) -> None:
        """Connect and fetch proxies; ConnectError for a wrong key (TLSError, one of them, for
        a TLS mismatch or a certificate that does not verify), OSError/EOFError if unreachable."""
        self.reset()
        manager = CrawlManager(address=self.address, authkey=self.authkey, serializer=serializer_for(client=self.tls))
        try:
            manager.connect()
            self.tasks = manager.get_task_queue()
            self.results = manager.get_result_queue()
        except multiprocessing.AuthenticationError as exc:
            self.reset()
            raise ConnectError(f"the master at {format_address(self.address)} refused our authkey "
                               f"({exc}); use the key from the master's {{out}}/{STATE_DIRNAME}/{KEY_NAME}") from None
        except BaseException:
            self.reset()
            raise

    def reset(self) -> None:
        # private attributes of BaseProxy: multiprocessing has no public way to drop the
        # connections it caches per thread and address (see the class docstring)
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

