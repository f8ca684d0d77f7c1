"""Kernel-kept socket timeouts (the manager's connections and plain-HTTP downloads use them)."""

import socket

import pytest

from crawler.net.sockopts import kernel_timeouts_work, set_kernel_timeouts, timeout_seconds, timeout_value


@pytest.mark.parametrize("seconds", [1e-9, 0.3, 2.5])
def test_a_kernel_timeout_is_never_zero_which_would_mean_none(seconds):
    if not kernel_timeouts_work():
        pytest.skip("kernel timeouts are off here (CRAWLER_DISABLE=kernel-timeouts, or the platform)")
    with socket.socket() as sock:
        assert set_kernel_timeouts(sock, seconds)
        got = timeout_seconds(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, len(timeout_value(1.0))))
        assert got > 0 and got >= min(seconds, 2.5) * 0.99
