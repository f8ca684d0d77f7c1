"""What differs between platforms: socket timeout values, the capability probes, stop
signals, "address in use", whether a process lives. The paths other platforms take run on
Linux here and in test_integration (portable), test_storage (checked-paths) and
test_manager (python-timeouts)."""

import errno
import os
import signal
import socket
import struct
import subprocess
import sys

import pytest

from crawler import portable
from crawler.net import sockopts

from .procs import output


@pytest.mark.parametrize("seconds, windows, expected", [
    (20.0, True, struct.pack("<L", 20_000)),  # Windows: a DWORD of milliseconds, not a timeval
    (2.5, True, struct.pack("<L", 2_500)),
    (1e-9, True, struct.pack("<L", 1)),       # never 0, which means no timeout
    (20.0, False, struct.pack("@ll", 20, 0)),
    (2.5, False, struct.pack("@ll", 2, 500_000)),
    (1e-9, False, struct.pack("@ll", 0, 1)),
])
def test_socket_timeout_values_are_the_platforms_own(seconds, windows, expected):
    assert sockopts.timeout_value(seconds, windows=windows) == expected
    floor = 1e-6 if not windows else 1e-3
    assert sockopts.timeout_seconds(expected, windows=windows) == pytest.approx(max(seconds, floor))


@pytest.fixture
def fresh_probe():
    sockopts.kernel_timeouts_work.cache_clear()
    yield
    sockopts.kernel_timeouts_work.cache_clear()


def test_the_kernel_timeout_probe_takes_the_right_encoding_and_refuses_a_wrong_one(fresh_probe, monkeypatch):
    assert sockopts.kernel_timeouts_work()  # Linux takes a timeval
    sockopts.kernel_timeouts_work.cache_clear()
    # Windows' encoding on Linux: the kernel refuses it, so Python's timeouts are used instead
    # of a wrong one (as a timeval would be on Windows: 20 s read as 20 ms)
    real_value, real_seconds = sockopts.timeout_value, sockopts.timeout_seconds
    monkeypatch.setattr(sockopts, "timeout_value", lambda s: real_value(s, windows=True))
    monkeypatch.setattr(sockopts, "timeout_seconds", lambda v: real_seconds(v, windows=True))
    assert not sockopts.kernel_timeouts_work()
    # and one the kernel takes but reads back otherwise (a unit mistake: 1.5 s set as 1,500 s)
    sockopts.kernel_timeouts_work.cache_clear()
    monkeypatch.setattr(sockopts, "timeout_value", lambda s: real_value(s * 1000, windows=False))
    monkeypatch.setattr(sockopts, "timeout_seconds", lambda v: real_seconds(v, windows=False))
    assert not sockopts.kernel_timeouts_work()
    with socket.socket() as sock:
        assert sockopts.set_timeouts(sock, 2.0) is False
        assert sock.gettimeout() == 2.0
        assert sockopts.timeout_seconds(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)) == 0


def test_set_timeouts_uses_the_kernel_where_it_can(fresh_probe):
    with socket.socket() as sock:
        sock.settimeout(5)
        assert sockopts.set_timeouts(sock, 2.0) is True
        assert sock.gettimeout() is None  # blocking: the kernel keeps the time
        got = sockopts.timeout_seconds(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16))
        assert got == pytest.approx(2.0, abs=0.01)


def test_the_fast_paths_switch_off_by_name():
    assert portable._parse_disabled("fork, Dir_FD,kernel-timeouts") == (
        frozenset({"fork", "dir-fd", "kernel-timeouts"}), frozenset())
    assert portable._parse_disabled("openat2,bogus") == (frozenset({"openat2"}), frozenset({"bogus"}))
    assert portable._parse_disabled("") == (frozenset(), frozenset())


def test_ctrl_break_stops_cleanly_like_sigterm(monkeypatch):
    """Windows has SIGBREAK (Ctrl-Break) and no SIGTERM from other processes: the clean stop
    listens to it. Here SIGUSR1 stands in for it."""
    from crawler.cli import launch
    monkeypatch.setattr(signal, "SIGBREAK", signal.SIGUSR1, raising=False)
    assert portable.stop_signals() == [signal.SIGINT, signal.SIGTERM, signal.SIGUSR1]
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)}
    stopped = []
    try:
        launch.install_stop_handlers(lambda: stopped.append(True), hard_exit_code=130)
        os.kill(os.getpid(), signal.SIGUSR1)
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    assert stopped == [True]


def test_address_in_use_is_recognised_by_errno_not_by_linux_number():
    with socket.create_server(("127.0.0.1", 0)) as held:
        with socket.socket() as other, pytest.raises(OSError) as info:
            other.bind(held.getsockname())
    assert portable.is_address_in_use(info.value)
    windows = OSError(10048, "Only one usage of each socket address")  # as Winsock reports it
    windows.winerror = 10048
    assert portable.is_address_in_use(windows)
    assert not portable.is_address_in_use(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))


def test_a_master_on_a_port_in_use_says_so_in_one_line(tmp_path, procs):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("http://127.0.0.1:9/\n")
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        p = procs.start("master", str(seeds), "--listen", f"127.0.0.1:{port}", "--out", str(tmp_path / "out"))
        log = output(p, 30)
    assert p.returncode == 2 and "cannot listen" in log and "Traceback" not in log, log


def test_a_process_is_alive_until_it_has_exited():
    assert portable.process_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not portable.process_alive(child.pid)
