"""Control: what every thread of a worker shares about its end. The stop request (a signal, or
a fault), the wake-up of the link thread, and the exit code with its one-line error."""

from __future__ import annotations

import logging
import threading

from ..config import EXIT_INTERRUPTED, EXIT_WORKER_FAULT
from .rounds import IDLE_WAIT

log = logging.getLogger(__name__)


class Control:
    def __init__(self) -> None:
        self.stopping = threading.Event()  # take no more tasks (SIGTERM, or a fault of its own)
        self.activity = threading.Event()  # something for the link thread: a result, a stop
        self.exit_code = 0
        self.error: str | None = None
        self._lock = threading.Lock()

    def request_stop(self) -> None:
        """Finish what is in flight, give back what was not started, deliver results, exit."""
        self.stopping.set()
        self.activity.set()

    def fail(self, code: int, message: str) -> None:
        """The link failed for good (no master, a refused key, TLS): exit with `code`."""
        self.exit_code, self.error = code, message
        log.error("%s", message)

    def fail_locally(self, what: str) -> None:
        """Stop on a fault of this worker's own: hand every task back, exit EXIT_WORKER_FAULT."""
        with self._lock:
            first = self.error is None
            if first:
                self.exit_code, self.error = EXIT_WORKER_FAULT, what
        if first:
            log.error("%s; stopping: this worker's tasks go back to the master, for another worker", what)
        self.request_stop()

    def interrupted(self) -> None:
        """Stopped on request before the crawl ended; a fault of its own keeps its code."""
        if not self.exit_code:
            self.exit_code = EXIT_INTERRUPTED

    @property
    def local_fault(self) -> bool:
        return bool(self.error) and self.exit_code == EXIT_WORKER_FAULT

    def wait_activity(self, seconds: float = IDLE_WAIT) -> None:
        self.activity.wait(seconds)
        self.activity.clear()

    def sleep(self, seconds: float) -> None:
        self.stopping.wait(seconds)  # a stop request cuts it short


def why(exc: BaseException) -> str:
    """An exception in one line: its type, and its text when it has one."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
