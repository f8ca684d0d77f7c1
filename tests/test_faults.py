"""Fault injection with real processes: nothing is lost, nothing is recorded twice.

Each test asserts that every reachable image is in the manifest exactly once as ok, that its
file is byte-identical to the source, and that no partial file remains; and that the fault
really landed mid-crawl (some results recorded, not all).
"""

import os
import re
import signal
import time

import pytest

from devtools.sitegen import SiteSpec, generate_site

from .procs import check_complete, free_port, manifest_lines, output, read_until, serve_slow, wait_for

pytestmark = pytest.mark.timeout(150)

KEY = {"CRAWLER_AUTHKEY": "fault-test-key-0123456789abcdef"}


@pytest.fixture(scope="module")
def slow_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("slowsite")
    truth = generate_site(root, SiteSpec(pages=8, images=100, depth=2, max_image_bytes=8_000, seed=3))
    server, base_url = serve_slow(root, delay=0.15)
    yield root, truth, base_url
    server.shutdown()
    server.server_close()


def start_master(procs, tmp_path, base_url, truth, port, *extra):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(base_url + truth["start"] + "\n")
    return procs.start("master", str(seeds), "--listen", f"127.0.0.1:{port}", "--out", str(tmp_path / "out"),
                       "--timeout", "5", "--lease-seconds", "3", *extra, env=KEY)


def start_worker(procs, tmp_path, port, name, *extra):
    return procs.start("worker", "--connect", f"127.0.0.1:{port}", "--out", str(tmp_path / "out"),
                       "--threads", "2", "--name", name, "--reconnect-timeout", "30", *extra, env=KEY)


def mid_crawl(out, total):
    n = wait_for(lambda: manifest_lines(out) >= 6 and manifest_lines(out), 60, "the first results")
    assert n < total, "the crawl finished before the fault: the test tested nothing"


def test_sigkill_of_one_worker_loses_nothing(slow_site, tmp_path, procs):
    root, truth, base_url = slow_site
    port = free_port()
    master = start_master(procs, tmp_path, base_url, truth, port)
    w1 = start_worker(procs, tmp_path, port, "w1")
    w2 = start_worker(procs, tmp_path, port, "w2")
    mid_crawl(tmp_path / "out", len(truth["images"]))
    os.killpg(w1.pid, signal.SIGKILL)
    log = output(master, 120)
    assert master.returncode == 0, log
    wlog = output(w2, 20)
    assert w2.returncode == 0, wlog
    recs = check_complete(tmp_path / "out", root, truth, base_url)
    # the killed worker held leases: they expired and w2 got those tasks again
    expired = {int(i) for i in re.findall(r"lease of task (\d+) expired at worker w1", log)}
    assert expired, log
    again = [r for r in recs if r["leases"] > 1]
    assert again and all(r["worker"] == "w2" for r in again), again


def test_sigkill_of_the_master_then_the_same_command_resumes(slow_site, tmp_path, procs):
    root, truth, base_url = slow_site
    port = free_port()
    master = start_master(procs, tmp_path, base_url, truth, port)
    workers = [start_worker(procs, tmp_path, port, f"w{i}") for i in (1, 2)]
    out = tmp_path / "out"
    mid_crawl(out, len(truth["images"]))
    os.killpg(master.pid, signal.SIGKILL)
    master.wait()
    before = manifest_lines(out)
    master2 = start_master(procs, tmp_path, base_url, truth, port)
    log = output(master2, 120)
    assert master2.returncode == 0, log
    assert "resuming the crawl" in log
    restored = int(re.search(r"images recorded, (\d+) to download", log).group(1))
    assert restored > 0, "no task was open at the kill: the test tested nothing of the journal"
    for w in workers:
        wlog = output(w, 30)
        assert w.returncode == 0, wlog
        assert "reconnected to master" in wlog
    recs = check_complete(out, root, truth, base_url)
    assert len(recs) > before
    # the tasks the journal handed back still know how their image was found
    assert [r["url"] for r in recs if not r["source"]] == []
    # started once more, a finished crawl says so and exits 0
    master3 = start_master(procs, tmp_path, base_url, truth, port)
    log3 = output(master3, 30)
    assert master3.returncode == 0 and "already finished" in log3


def test_a_frozen_worker_has_its_task_re_leased_and_its_late_result_recorded_once(slow_site, tmp_path, procs):
    root, truth, base_url = slow_site
    port = free_port()
    master = start_master(procs, tmp_path, base_url, truth, port)
    w1 = start_worker(procs, tmp_path, port, "w1")
    w2 = start_worker(procs, tmp_path, port, "w2")
    out = tmp_path / "out"
    mid_crawl(out, len(truth["images"]))
    os.killpg(w1.pid, signal.SIGSTOP)
    log = read_until(master, "expired at worker w1", 30)  # its 3 s lease is over
    assert manifest_lines(out) < len(truth["images"]), \
        "the crawl ended while w1 was frozen: its late results were never tested"
    os.killpg(w1.pid, signal.SIGCONT)
    log += output(master, 120)
    assert master.returncode == 0, log
    assert "ignored a late second result" in log, log
    for w in (w1, w2):
        output(w, 30)
        assert w.returncode == 0
    check_complete(out, root, truth, base_url)


def test_a_frozen_master_hangs_no_worker_and_loses_no_result(slow_site, tmp_path, procs):
    root, truth, base_url = slow_site
    port = free_port()
    master = start_master(procs, tmp_path, base_url, truth, port)
    workers = [start_worker(procs, tmp_path, port, f"w{i}", "--socket-timeout", "5") for i in (1, 2)]
    out = tmp_path / "out"
    mid_crawl(out, len(truth["images"]))
    os.killpg(master.pid, signal.SIGSTOP)
    # each worker finds its call unanswered after its 5 s socket timeout, and says so
    lost = [read_until(w, "lost the master", 30) for w in workers]
    os.killpg(master.pid, signal.SIGCONT)
    log = output(master, 120)
    assert master.returncode == 0, log
    for w, wlog in zip(workers, lost, strict=True):
        wlog += output(w, 30)
        assert w.returncode == 0, wlog
        assert "reconnected to master" in wlog
    check_complete(out, root, truth, base_url)


def test_garbage_from_a_client_holding_the_key_is_dropped_and_the_crawl_completes(slow_site, tmp_path, procs):
    from multiprocessing.managers import BaseManager

    root, truth, base_url = slow_site
    port = free_port()
    master = start_master(procs, tmp_path, base_url, truth, port)
    out = tmp_path / "out"

    class Hostile(BaseManager):
        pass

    Hostile.register("get_task_queue")
    Hostile.register("get_result_queue")
    m = Hostile(address=("127.0.0.1", port), authkey=KEY["CRAWLER_AUTHKEY"].encode())
    wait_for(lambda: _try_connect(m), 20, "the master to listen")
    tasks, results = m.get_task_queue(), m.get_result_queue()
    stolen = []  # leased, then answered with lies
    deadline = time.monotonic() + 20
    while len(stolen) < 3 and time.monotonic() < deadline:  # as soon as the seed page's images are queued
        stolen += tasks.get_many("hostile", 3 - len(stolen), 1.0)
    assert len(stolen) == 3
    tasks.put("garbage")
    tasks.put({"v": 1, "kind": "task", "id": 1, "url": "http://127.0.0.1:1/x.jpg"})
    results.put("garbage")
    results.put_many([None, 1, {"kind": "result"}, [1, 2, 3]])
    for t in stolen:
        results.put({"v": 1, "kind": "result", "id": t["id"], "url": t["url"], "final_url": None, "ok": True,
                     "path": "../../etc/passwd", "bytes": 1, "sha256": "0" * 64, "content_type": None,
                     "status": 200, "error": None, "reason": None, "worker": "hostile", "elapsed": 0.1})
        results.put({"v": 1, "kind": "result", "id": t["id"], "url": t["url"], "ok": "yes"})
    results.put("x" * 100_000)
    w = start_worker(procs, tmp_path, port, "w1", "--threads", "6")
    log = output(master, 120)
    assert master.returncode == 0, log
    assert log.count("dropped an item a client put on the task queue") == 2, log  # garbage, forged task
    assert log.count("dropped a result with an unsafe path") == len(stolen) == 3, log
    assert "dropped an invalid result" in log
    output(w, 30)
    recs = check_complete(out, root, truth, base_url)
    # nothing of the lies was recorded: the stolen tasks were done again by w1, the forged one never
    assert all(r["worker"] == "w1" for r in recs)
    assert {t["url"] for t in stolen} <= {r["url"] for r in recs if r["ok"]}
    assert "http://127.0.0.1:1/x.jpg" not in {r["url"] for r in recs}


def test_ctrl_c_on_the_master_stops_cleanly_and_the_same_command_resumes(slow_site, tmp_path, procs):
    root, truth, base_url = slow_site
    port = free_port()
    master = start_master(procs, tmp_path, base_url, truth, port)
    workers = [start_worker(procs, tmp_path, port, f"w{i}") for i in (1, 2)]
    out = tmp_path / "out"
    mid_crawl(out, len(truth["images"]))
    master.send_signal(signal.SIGINT)
    log = output(master, 30)
    assert master.returncode == 130, log
    assert "stopping cleanly" in log and "no more tasks handed out" in log
    for w in workers:  # told by the master, the workers exit by themselves
        wlog = output(w, 30)
        assert w.returncode == 0, wlog
    stopped_at = manifest_lines(out)
    assert stopped_at < len(truth["images"])
    master2 = start_master(procs, tmp_path, base_url, truth, port)
    workers = [start_worker(procs, tmp_path, port, f"w{i}") for i in (3, 4)]
    log2 = output(master2, 120)
    assert master2.returncode == 0 and "resuming the crawl" in log2, log2
    for w in workers:
        output(w, 30)
    recs = check_complete(out, root, truth, base_url)
    assert not any(r["worker"] in ("w3", "w4") for r in recs[:stopped_at])


def test_a_second_ctrl_c_stops_at_once_and_the_journal_still_resumes(slow_site, tmp_path, procs):
    root, truth, base_url = slow_site
    port = free_port()
    master = start_master(procs, tmp_path, base_url, truth, port)
    workers = [start_worker(procs, tmp_path, port, f"w{i}") for i in (1, 2)]
    out = tmp_path / "out"
    mid_crawl(out, len(truth["images"]))
    for w in workers:  # frozen with tasks in flight: a clean stop would wait 5 s for their results
        os.killpg(w.pid, signal.SIGSTOP)
    master.send_signal(signal.SIGINT)
    read_until(master, "waiting up to", 20)  # the clean stop is under way
    stopped = time.monotonic()
    master.send_signal(signal.SIGINT)
    log = output(master, 10)
    took = time.monotonic() - stopped
    for w in workers:
        os.killpg(w.pid, signal.SIGCONT)
    assert master.returncode == 130 and "stopping at once" in log, log
    assert took < 3, f"the second Ctrl-C took {took:.1f} s: no sooner than the clean stop's 5 s wait"
    master2 = start_master(procs, tmp_path, base_url, truth, port)
    # workers told to stop by the first Ctrl-C have exited; the others reconnect
    workers += [start_worker(procs, tmp_path, port, f"w{i}") for i in (3, 4)]
    log2 = output(master2, 120)
    assert master2.returncode == 0 and "resuming the crawl" in log2, log2
    for w in workers:
        output(w, 30)
    check_complete(out, root, truth, base_url)


def test_sigterm_on_a_worker_gives_back_its_tasks_and_exits_at_once(slow_site, tmp_path, procs):
    root, truth, base_url = slow_site
    port = free_port()
    # --per-host 16: the host never fills (2 + 4 leased by the workers, 4 pages), so w1 always
    # holds a task leased ahead of its one thread; a full host would leave that slot to w2's
    # free threads (master/board/waiting.py) and w1 might have nothing to give back when signalled
    master = start_master(procs, tmp_path, base_url, truth, port, "--lease-seconds", "60", "--per-host", "16")
    w1 = start_worker(procs, tmp_path, port, "w1", "--threads", "1", "-v")  # -v: its give-back line
    w2 = start_worker(procs, tmp_path, port, "w2")
    out = tmp_path / "out"
    mid_crawl(out, len(truth["images"]))
    stopped = time.monotonic()
    w1.send_signal(signal.SIGTERM)
    wlog = output(w1, 20)
    assert w1.returncode == 130, wlog
    # leased but not started: given back to the master, not left to expire
    given = re.search(r"gave back (\d+) task\(s\) not done", wlog)
    assert given and int(given.group(1)) > 0, wlog
    assert time.monotonic() - stopped < 5, wlog  # in-flight downloads finish, unstarted tasks go back
    log = output(master, 120)
    # with 60 s leases, finishing quickly proves the tasks came back by release, not by expiry
    assert master.returncode == 0 and "expired" not in log, log
    output(w2, 30)
    check_complete(out, root, truth, base_url)


def _try_connect(m):
    try:
        m.connect()
        return True
    except OSError:
        return False


def test_a_task_no_worker_answers_fails_as_lease_expired_after_max_attempts(tmp_path, procs):
    """A client that leases and never answers (a worker lost each time): after --max-attempts
    leases the task is recorded as failed, reason lease-expired, with its leases counted."""
    from multiprocessing.managers import BaseManager

    from .procs import records, write_file

    root = tmp_path / "site"
    write_file(root, "index.html", '<html><body><img src="/a.png"></body></html>')
    write_file(root, "a.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    server, base_url = serve_slow(root, delay=0)
    try:
        port = free_port()
        master = start_master(procs, tmp_path, base_url, {"start": "index.html"}, port,
                              "--lease-seconds", "1", "--max-attempts", "2")

        class Ghost(BaseManager):
            pass

        Ghost.register("get_task_queue")
        m = Ghost(address=("127.0.0.1", port), authkey=KEY["CRAWLER_AUTHKEY"].encode())
        wait_for(lambda: _try_connect(m), 20, "the master to listen")
        tasks = m.get_task_queue()
        leased = []
        while master.poll() is None:  # lease whatever is handed out, answer nothing
            try:
                got = tasks.get_many("ghost", 1, 0.5) or []  # None: told to stop
                leased += [t["url"] for t in got if isinstance(t, dict) and "url" in t]
            except (OSError, EOFError):
                break
        log = output(master, 30)
        assert master.returncode == 0, log
    finally:
        server.shutdown()
        server.server_close()
    assert leased == [base_url + "a.png"] * 2, leased
    (rec,) = records(tmp_path / "out")
    assert rec["url"] == base_url + "a.png" and not rec["ok"], rec
    assert rec["reason"] == "lease-expired" and rec["leases"] == 2, rec
    assert "no result after 2 lease(s)" in log and "last worker ghost" in log, log
