"""How many downloads a worker runs at once: the estimator's arithmetic, the gate's
threads, and a whole crawl against a slow server, which must keep every thread busy."""

import random
import threading
import time

import pytest

from crawler.rules import concurrency
from crawler.rules.concurrency import WINDOW, DownloadGate, LimitEstimator
from devtools import imagegen

from .procs import Recorder, output, records, serve_recorded, wait_for

MS = 0.001


def feed(est: LimitEstimator, n: int, host: str, wait: float, cpu: float) -> int:
    limit = est.limit
    for _ in range(n):
        limit = est.observe(host, wait + cpu, cpu)
    return limit


def test_before_any_download_every_thread_may_run():
    assert LimitEstimator(8).limit == 8


def test_a_distant_server_keeps_every_thread():
    # 50 ms of network per download against 0.5 ms of CPU: 100 downloads could overlap
    assert feed(LimitEstimator(8), 200, "far", 50 * MS, 0.5 * MS) == 8


def test_a_server_that_answers_at_once_leaves_two():
    # what loopback to nginx measured: 0.45 ms of CPU, under 0.1 ms of network
    assert feed(LimitEstimator(8), 200, "near", 0.05 * MS, 0.45 * MS) == 2


def test_the_limit_is_one_more_than_the_downloads_that_fit_in_one_wait():
    # each wait is 3 downloads' CPU long: 1 on the CPU and 3 waiting keep both busy
    assert feed(LimitEstimator(8), 200, "lan", 1.5 * MS, 0.5 * MS) == 4


def test_jitter_does_not_lower_the_limit_only_the_smallest_wait_counts():
    est, rnd = LimitEstimator(8), random.Random(1)
    for _ in range(500):
        cpu = 0.5 * MS
        est.observe("jittery", rnd.uniform(20 * MS, 400 * MS) + cpu, cpu)
    assert est.limit == 8


def test_queueing_in_the_process_does_not_count_as_network():
    # with 8 threads sharing one GIL, most downloads wait ~3 ms for it; a few do not wait at all
    est, rnd = LimitEstimator(8), random.Random(2)
    for i in range(300):
        wait = 0.02 * MS if i % 10 == 0 else rnd.uniform(1 * MS, 5 * MS)
        est.observe("near", wait + 0.45 * MS, 0.45 * MS)
    assert est.limit == 2


def test_a_host_that_became_slow_is_seen_within_two_windows():
    est = LimitEstimator(8)
    feed(est, 200, "h", 0.01 * MS, 0.5 * MS)
    assert est.limit == 2
    assert feed(est, 2 * WINDOW + 150, "h", 50 * MS, 0.5 * MS) == 8


def test_each_host_is_judged_by_its_own_smallest_wait():
    est = LimitEstimator(16)
    # half the downloads from a host 0.01 ms away, half from one 4.5 ms away: the mean of the
    # two minima (about 2.25 ms) over 0.5 ms of CPU gives 1 + ceil(4.5)
    for _ in range(300):
        est.observe("near", 0.51 * MS, 0.5 * MS)
        est.observe("far", 5.0 * MS, 0.5 * MS)
    assert est.limit == 6


def test_the_limit_stays_between_two_and_threads():
    assert feed(LimitEstimator(1), 100, "h", 0, 1 * MS) == 1
    assert feed(LimitEstimator(3), 100, "h", 0, 1 * MS) == 2
    assert feed(LimitEstimator(3), 100, "h", 1.0, 1 * MS) == 3


def test_hosts_past_the_bound_are_forgotten_oldest_first(monkeypatch):
    monkeypatch.setattr(concurrency, "MAX_HOSTS", 3)
    est = LimitEstimator(8)
    for h in "abcd":
        est.observe(h, 1 * MS, 0.5 * MS)
    assert list(est._minima) == ["b", "c", "d"]


def test_the_gate_holds_threads_past_the_limit_until_it_grows():
    gate = DownloadGate(4)
    for _ in range(100):  # a near server: the limit falls to 2
        gate.enter()
        assert gate.keep(("near", 0.45 * MS, 0.45 * MS))
        gate.leave()
    assert gate.limit == 2
    inside, peak, arrived, rounds, lock = 0, 0, 0, 0, threading.Lock()
    stop = threading.Event()

    def loop():
        nonlocal inside, peak, arrived, rounds
        with lock:
            arrived += 1
        gate.enter()
        while not stop.is_set():
            with lock:
                inside += 1
                rounds += 1
                peak = max(peak, inside)
            time.sleep(0.002)
            with lock:
                inside -= 1
            # far now: every download says the network dominates
            if not gate.keep(("far", 0.05, 0.0005) if grow.is_set() else None):
                gate.enter()
        gate.leave()

    grow = threading.Event()
    threads = [threading.Thread(target=loop, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        # all four at the gate, then many rounds of the two inside: time enough for a third to get in
        wait_for(lambda: arrived == 4, 10, "four threads at the gate")
        after = rounds
        wait_for(lambda: rounds >= after + 40, 10, "40 rounds inside the gate")
        assert peak == 2  # two run; two sleep at the gate
        grow.set()
        wait_for(lambda: peak == 4, 10, "the grown limit to let all four in")
    finally:
        stop.set()
        grow.set()  # a thread asleep at the gate gets in, sees stop, and leaves
    for t in threads:
        t.join(5)
    assert peak == 4 and gate.limit == 4
    assert not any(t.is_alive() for t in threads)


def test_a_thread_over_a_fallen_limit_gives_its_slot_up():
    gate = DownloadGate(3)
    for _ in range(3):
        gate.enter()
    kept = [gate.keep(("near", 0.01 * MS, 1 * MS)) for _ in range(3)]
    # the first report drops the limit to 2 (floor): the thread reporting gives its slot up
    assert kept == [False, True, True] and gate.limit == 2


@pytest.mark.timeout(90)
def test_a_slow_server_gets_every_thread_of_a_worker(tmp_path, procs):
    root = tmp_path / "site"
    (root / "img").mkdir(parents=True)
    n = 30
    (root / "index.html").write_text("".join(f'<img src="/img/{i}.png">' for i in range(n)))
    for i in range(n):
        (root / "img" / f"{i}.png").write_bytes(imagegen.png(8, 8, i))
    rec = Recorder()
    server, base = serve_recorded(root, rec, delay=0.1)
    try:
        seeds = tmp_path / "seeds.txt"
        seeds.write_text(base + "index.html\n")
        out = tmp_path / "out"
        p = procs.start("run", str(seeds), "--workers", "1", "--threads", "5", "--out", str(out), "--timeout", "5")
        log = output(p, 80)
    finally:
        server.shutdown()
        server.server_close()
    assert p.returncode == 0, log
    assert sum(r["ok"] for r in records(out)) == n
    assert rec.peak["127.0.0.1"] == 5, rec.peak
    assert "5 downloads at once (--threads 5)" in log, log
