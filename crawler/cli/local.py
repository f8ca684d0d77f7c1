"""The worker processes `crawler run` starts next to its master.

Where fork is safe (Linux and the BSDs), they are forked before the master starts any
thread, and wait on a pipe for the address the master listens on. A forked worker skips
the interpreter's start and the imports, a large share of a small crawl's CPU. Each runs
exactly the `crawler worker` command (same options, same code: the command line's main,
handed in), with its JSON log lines on a pipe that the master relays. On Windows (no fork),
on macOS (fork unsafe once system frameworks are loaded), when a thread is already running
(forking then could copy a lock some other thread holds) or with the `fork` fast path
switched off (portable.py), they are started as `python -m crawler worker --connect -`
instead, at the same moment, and read the address from their stdin: new interpreters that
import everything afresh, so nothing handed to the manager may be a lambda or a local
function (link/manager.py registers module-level functions).
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO

from .. import portable


class LocalWorker:
    """A forked worker, with the part of subprocess.Popen's interface run_local uses."""

    def __init__(self, pid: int, stderr, address_pipe: int):
        self.pid = pid
        self.stderr = stderr
        self.returncode: int | None = None
        self._address_pipe = address_pipe

    def start(self, address: str) -> None:
        """Tell the waiting worker where the master listens; it then connects."""
        self._send(address.encode())

    def cancel(self) -> None:
        """The master never came up: the waiting worker exits without a word."""
        self._send(b"")

    def _send(self, data: bytes) -> None:
        if self._address_pipe < 0:
            return
        try:
            if data:
                os.write(self._address_pipe, data)
        except OSError:
            pass
        finally:
            os.close(self._address_pipe)
            self._address_pipe = -1

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode
        deadline = time.monotonic() + timeout
        while (code := self.poll()) is None:
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(["crawler worker", str(self.pid)], timeout)
            time.sleep(0.02)
        return code

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def close_in_child(self) -> None:
        """In a later sibling: let go of this worker's pipe ends, which it inherited."""
        for fd in (self._address_pipe, self.stderr.fileno()):
            try:
                os.close(fd)
            except OSError:
                pass


def can_fork() -> bool:
    """Fork now? Where fork is safe at all (portable.fork_is_safe), and no thread runs."""
    return portable.fork_is_safe() and threading.active_count() == 1


class SpawnedWorker(subprocess.Popen):
    """`python -m crawler worker --connect -`, waiting on its stdin for the master's address,
    with the same start/cancel as a forked LocalWorker. Its stdin stays open while the master
    runs: closed, it tells a worker still starting (or still reaching out) that the master
    is done, so it does not wait out --reconnect-timeout for one that has gone."""

    stdin: IO[bytes]  # always a pipe (spawn_worker)

    def start(self, address: str) -> None:
        try:
            self.stdin.write((address + "\n").encode())
            self.stdin.flush()
        except (OSError, ValueError):  # it has exited already
            pass

    def cancel(self) -> None:
        """The master is done (or never listened): close the worker's stdin."""
        try:
            self.stdin.close()
        except OSError:
            pass


def address_from_stdin() -> tuple[str, threading.Event]:
    """A SpawnedWorker's side: the master's address, the first line of stdin (empty: there is
    none), and an event set once stdin closes (the master is done). Read from the descriptor:
    a thread blocked in sys.stdin's buffered reader would hold its lock at exit."""
    fd = sys.stdin.fileno()
    data = b""
    while b"\n" not in data:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    done = threading.Event()

    def watch() -> None:
        while os.read(fd, 4096):
            pass
        done.set()

    if b"\n" in data:
        threading.Thread(target=watch, name="master-done", daemon=True).start()
    else:
        done.set()
    return data.split(b"\n", 1)[0].decode(errors="replace").strip(), done


def spawn_worker(argv: Sequence[str], env: dict[str, str]) -> SpawnedWorker:
    """Start `python -m crawler WORKER-ARGV` (no fork of this process; argv has `--connect -`);
    its stderr is piped for the master to relay. It shares this console, so Ctrl-C (and on
    Windows Ctrl-Break) reaches it too and it stops cleanly by itself."""
    return SpawnedWorker([sys.executable, "-m", "crawler", *argv], env=dict(os.environ, **env),
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def fork_workers(n: int, worker_argv: Callable[[str], Sequence[str]], env: dict[str, str],
                 main: Callable[[list[str]], int]) -> list[LocalWorker]:
    """Fork n workers that wait for the master's address; each then runs
    main(worker_argv(address)), the command line's main with a `crawler worker` command.
    (Handed in by the caller: this module sits below the command line, not above it.)"""
    from .. import worker  # noqa: F401  (imported here, once, for every child)

    gc.freeze()  # what is imported by now lives for good: no collection looks at it again

    workers: list[LocalWorker] = []
    for _ in range(n):
        addr_r, addr_w = os.pipe()
        err_r, err_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                os.close(addr_w)
                os.close(err_r)
                for other in workers:  # a sibling's pipe ends are not ours to hold open
                    other.close_in_child()
                os.dup2(err_w, 2)
                os.close(err_w)
                devnull = os.open(os.devnull, os.O_RDWR)
                os.dup2(devnull, 0)
                os.dup2(devnull, 1)
                os.close(devnull)
                address = _read_all(addr_r).decode()
                os.close(addr_r)
                if not address:
                    code = 0
                else:
                    os.environ.update(env)
                    code = main(list(worker_argv(address)))
            except KeyboardInterrupt:
                code = 130
            except BaseException:  # pragma: no cover - the traceback goes to the master's log
                import traceback
                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        os.close(addr_r)
        os.close(err_w)
        workers.append(LocalWorker(pid, os.fdopen(err_r, "rb"), addr_w))
    return workers


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks)
