"""Socket timeouts kept by the kernel (SO_RCVTIMEO, SO_SNDTIMEO) on a blocking socket.

Used where Python's own socket timeout will not do: the manager's connections read the raw
file descriptor (so `settimeout` has no effect there).
"""

from __future__ import annotations

import socket
import struct


def set_kernel_timeouts(sock: socket.socket, seconds: float) -> None:
    """Receive and send time out after `seconds`: a blocking call then fails with EAGAIN."""
    micros = max(1, round(seconds * 1e6))  # a zero timeval would mean no timeout at all
    tv = struct.pack("ll", micros // 1_000_000, micros % 1_000_000)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
