"""Kernel-kept socket timeouts (the manager's connections use them)."""

import socket
import struct

import pytest

from crawler.sockopts import set_kernel_timeouts


@pytest.mark.parametrize("seconds", [1e-9, 0.3, 2.5])
def test_a_kernel_timeout_is_never_zero_which_would_mean_none(seconds):
    with socket.socket() as sock:
        set_kernel_timeouts(sock, seconds)
        sec, usec = struct.unpack("ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16))
        assert sec * 1_000_000 + usec >= min(seconds * 1e6, 2.5e6) * 0.99 and (sec, usec) != (0, 0)
