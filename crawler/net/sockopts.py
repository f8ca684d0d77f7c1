"""Socket timeouts kept by the kernel (SO_RCVTIMEO, SO_SNDTIMEO) on a blocking socket, where
the platform takes them; Python's own timeouts elsewhere.

Kernel timeouts are used where Python's will not do or cost more: the manager's plain
connections read the raw file descriptor (so `settimeout` has no effect there), and
plain-HTTP downloads avoid the poll Python makes before every recv and send on a socket with
a timeout (see transport). The option's value is a `struct timeval` on Linux, macOS and the BSDs
but a DWORD of milliseconds on Windows (a timeval there would turn 20 s into 20 ms), so the
encoding is checked once per process by reading the option back; where that fails (or the
`kernel-timeouts` fast path is switched off) callers use Python's timeouts instead.
"""

from __future__ import annotations

import os
import socket
import struct
from functools import lru_cache

from .. import portable

_WINDOWS = os.name == "nt"


def timeout_value(seconds: float, *, windows: bool = _WINDOWS) -> bytes:
    """SO_RCVTIMEO/SO_SNDTIMEO's value for `seconds`. Never zero: zero means no timeout."""
    if windows:
        return struct.pack("=L", min(max(1, round(seconds * 1000)), 0xFFFF_FFFF))
    micros = max(1, round(seconds * 1e6))
    return struct.pack("@ll", micros // 1_000_000, micros % 1_000_000)


def timeout_seconds(value: bytes, *, windows: bool = _WINDOWS) -> float:
    """The inverse of timeout_value, for what getsockopt gives back."""
    if windows:
        return struct.unpack("=L", value[:4])[0] / 1000
    sec, usec = struct.unpack("@ll", value[:struct.calcsize("@ll")])
    return sec + usec / 1e6


@lru_cache(maxsize=1)
def kernel_timeouts_work() -> bool:
    """Does this platform take our encoding of SO_RCVTIMEO? Probed once: set 1.5 s on a
    fresh socket and read it back (Linux rounds to its clock tick, so close is equal)."""
    if not portable.enabled("kernel-timeouts") or not hasattr(socket, "SO_RCVTIMEO"):
        return False
    want = 1.5
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            value = timeout_value(want)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
            got = timeout_seconds(s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, len(value)))
    except (OSError, struct.error):
        return False
    return abs(got - want) < 0.05


def set_kernel_timeouts(sock: socket.socket, seconds: float) -> bool:
    """Receive and send time out after `seconds`: a blocking call then fails (EAGAIN, or
    WSAETIMEDOUT on Windows). False, and nothing set, where the kernel cannot keep them."""
    if not kernel_timeouts_work():
        return False
    value = timeout_value(seconds)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
    return True


def clear_kernel_timeouts(sock: socket.socket) -> None:
    """No kernel timeout on receives and sends (a zero value means none on every platform)."""
    zero = bytes(len(timeout_value(1.0)))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, zero)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, zero)


def set_timeouts(sock: socket.socket, seconds: float) -> bool:
    """Time out receives and sends after `seconds`: in the kernel on a blocking socket (True),
    or, where the kernel cannot, with Python's own timeout (False: read the socket through
    its methods then, never through the raw descriptor)."""
    if kernel_timeouts_work():
        sock.settimeout(None)
        return set_kernel_timeouts(sock, seconds)
    sock.settimeout(seconds)
    return False
