"""What differs between Linux, macOS and Windows, decided in one place, by capability where
one can be tested.

The fast paths (fork, directory descriptors, openat2, socket timeouts kept by the kernel) are
used where the platform has them; elsewhere a checked fallback keeps the same guarantees.
`CRAWLER_DISABLE` (read once, when this module is imported) switches fast paths off, so that
the suite runs on Linux the code other platforms take:

    CRAWLER_DISABLE=fork,dir-fd,openat2,kernel-timeouts python -m pytest ...
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import sys

log = logging.getLogger(__name__)

DISABLE_ENV = "CRAWLER_DISABLE"
FAST_PATHS = ("fork", "dir-fd", "openat2", "kernel-timeouts")
"""fork: `crawler run` forks its local workers; dir-fd: storage walks folders by descriptor
(O_NOFOLLOW at each step); openat2: storage opens a folder path in one call (Linux 5.6+);
kernel-timeouts: the manager's sockets time out in the kernel (SO_RCVTIMEO/SO_SNDTIMEO)."""


def _parse_disabled(text: str) -> tuple[frozenset[str], frozenset[str]]:
    names = {part.strip().lower().replace("_", "-") for part in text.split(",") if part.strip()}
    return frozenset(names & set(FAST_PATHS)), frozenset(names - set(FAST_PATHS))


DISABLED, UNKNOWN_DISABLED = _parse_disabled(os.environ.get(DISABLE_ENV, ""))


def enabled(fast_path: str) -> bool:
    """May this fast path be used (the platform's own test comes on top)?"""
    assert fast_path in FAST_PATHS, fast_path
    return fast_path not in DISABLED


def fork_is_safe() -> bool:
    """Can this process fork a worker that goes on running Python (no exec)?

    Not on Windows (no fork) nor on macOS, where a forked child of a process that has loaded
    the system's frameworks may crash (multiprocessing spawns there by default since 3.8).
    Not when a thread runs (the child could inherit a lock another thread held): the caller
    checks that, as it is true only at a given moment.
    """
    return enabled("fork") and hasattr(os, "fork") and sys.platform != "darwin"


def stop_signals() -> list[signal.Signals]:
    """The signals that ask for a clean stop: Ctrl-C, SIGTERM, and Ctrl-Break on Windows
    (where no other process can deliver SIGTERM; a console's Ctrl-Break is the way)."""
    sigs = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGBREAK"):
        sigs.append(signal.SIGBREAK)
    return sigs


WSAEADDRINUSE = 10048  # Winsock's own number; the errno module has it on Windows only


def is_address_in_use(exc: BaseException) -> bool:
    """A bind() that failed because another socket holds the address: EADDRINUSE (98 on
    Linux, 48 on macOS), or Winsock's WSAEADDRINUSE on Windows."""
    return isinstance(exc, OSError) and (exc.errno in (errno.EADDRINUSE, WSAEADDRINUSE)
                                         or getattr(exc, "winerror", None) == WSAEADDRINUSE)


def hostname() -> str:
    """This host's name (os.uname() does not exist on Windows)."""
    return socket.gethostname() or "localhost"


def process_alive(pid: int) -> bool:
    """Is process `pid` (on this host) still running?"""
    if pid == os.getpid():
        return True
    if os.name == "nt":
        return _windows_process_alive(pid)
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except OSError:
        return False
    return True


def _windows_process_alive(pid: int) -> bool:  # pragma: no cover - Windows only
    # Never os.kill(pid, 0) here: on Windows signal 0 is CTRL_C_EVENT, sent to a console group.
    import ctypes
    from ctypes import wintypes

    # typeshed declares these for Windows only: the ignores are for mypy run elsewhere
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = [wintypes.DWORD, wintypes.BOOL, wintypes.DWORD]
    kernel32.GetExitCodeProcess.argtypes = [wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD)]
    kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
    process_query_limited_information, still_active, access_denied = 0x1000, 259, 5
    handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
    if not handle:
        # exists, but not ours to look at
        return ctypes.get_last_error() == access_denied  # type: ignore[attr-defined,unused-ignore]
    try:
        code = wintypes.DWORD()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == still_active
    finally:
        kernel32.CloseHandle(handle)
