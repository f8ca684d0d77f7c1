"""A fault stays where it happens: a dead origin, a full disk or a sick worker costs only its
own share of the crawl. Real servers, real processes; the full-disk tests mount small tmpfs
filesystems and need root."""

from __future__ import annotations

import hashlib
import socket
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from crawler.cli.demo import serve_directory
from crawler.config import EXIT_STATE_UNWRITABLE, EXIT_WORKER_FAULT
from devtools.sitegen import SiteSpec, generate_site

from .procs import check_complete, output, records

pytestmark = pytest.mark.timeout(150)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    truth = generate_site(root, SiteSpec(pages=20, images=150, depth=3, max_image_bytes=8_000, seed=15))
    server, base_url = serve_directory(root)
    yield root, truth, base_url
    server.shutdown()
    server.server_close()


@pytest.fixture
def refusing():
    """Ports bound and never listening: every connection to them is refused, for as long as the test runs."""
    held = []

    def port(host: str = "127.0.0.1") -> int:
        s = socket.socket()
        s.bind((host, 0))
        held.append(s)
        return s.getsockname()[1]

    yield port
    for s in held:
        s.close()


def timed_run(procs, tmp_path: Path, name: str, seed: str, *flags: str) -> tuple[float, str, Path]:
    seeds = tmp_path / f"{name}.txt"
    seeds.write_text(seed + "\n")
    out = tmp_path / name
    started = time.monotonic()
    p = procs.start("run", str(seeds), "--workers", "2", "--out", str(out), "--timeout", "5", *flags)
    log = output(p, 120)
    assert p.returncode == 0, log
    return time.monotonic() - started, log, out


def test_a_dead_origin_on_the_same_host_and_a_dead_image_host_cost_only_their_own_share(
        site, tmp_path, procs, refusing):
    root, truth, base_url = site
    dead_page = f"http://127.0.0.1:{refusing()}/retired/index.html"  # the site's own host name, another port
    dead_image = f"http://127.0.0.2:{refusing('127.0.0.2')}/cdn/gone.jpg"
    index = root / truth["start"]
    original = index.read_text()
    # first in the page, so that every other page of the host comes after it
    index.write_text(original.replace("<body>", f'<body><a href="{dead_page}">old</a><img src="{dead_image}">', 1))
    try:
        start = base_url + truth["start"]
        excluded, _, _ = timed_run(procs, tmp_path, "excluded", start, "--allow-private",
                                   "--exclude", "/retired/", "--exclude", "/cdn/gone")
        with_dead, log, out = timed_run(procs, tmp_path, "dead", start, "--allow-private")
    finally:
        index.write_text(original)
    assert with_dead <= 1.5 * excluded + 3, (with_dead, excluded)
    check_complete(out, root, truth, base_url)
    recs = {r["url"]: r for r in records(out)}
    assert recs[dead_image]["reason"] == "unreachable" and "refused" in recs[dead_image]["error"], recs[dead_image]
    assert "unreachable 1" in log  # the dead page, counted among the failed pages


KEY = {"CRAWLER_AUTHKEY": "fault-isolation-key-0123456789abcdef"}


@pytest.fixture
def tmpfs(tmp_path):
    """mount(size) -> a folder on a tmpfs of that size (root only); remount(folder, size) grows it."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = []

    def mount(name: str, size: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
        mounted.append(folder)
        return folder

    def remount(folder: Path, size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)

    mount.remount = remount
    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_worker_with_a_full_disk_hands_its_tasks_to_a_worker_with_room(tmp_path, procs, tmpfs):
    from .procs import free_port, serve_slow

    root = tmp_path / "site"
    truth = generate_site(root, SiteSpec(pages=8, images=120, depth=2, max_image_bytes=60_000, seed=16))
    server, base_url = serve_slow(root, delay=0.03)  # slow enough that both workers get tasks
    try:
        small = tmpfs("small", "4m")
        # a disk mostly full already: 256 kB left, which a handful of the site's images (up to
        # 60 kB each) fill, so the fault comes mid-crawl even when the other worker, on a loaded
        # machine, takes most of the tasks (with 1 MB left the full worker sometimes finished clean)
        (small / "ballast").write_bytes(bytes((4 << 20) - (256 << 10)))
        roomy = tmp_path / "roomy"
        port = free_port()
        seeds = tmp_path / "seeds.txt"
        seeds.write_text(base_url + truth["start"] + "\n")
        master = procs.start("master", str(seeds), "--listen", f"127.0.0.1:{port}", "--out", str(tmp_path / "out"),
                             "--timeout", "5", env=KEY)
        worker = ("worker", "--connect", f"127.0.0.1:{port}", "--threads", "4", "--reconnect-timeout", "30")
        full = procs.start(*worker, "--out", str(small), "--name", "full", env=KEY)
        room = procs.start(*worker, "--out", str(roomy), "--name", "room", env=KEY)
        log = output(master, 120)
        full_log, room_log = output(full, 30), output(room, 30)
    finally:
        server.shutdown()
        server.server_close()
    assert master.returncode == 0, log
    assert full.returncode == EXIT_WORKER_FAULT, full_log
    assert f"no space left in {small}: " in full_log and "bytes free" in full_log and "Traceback" not in full_log
    assert room.returncode == 0, room_log
    assert "worker full stopped: no space left in" in log
    recs = records(tmp_path / "out")
    assert len(recs) == len({r["url"] for r in recs}), "an image recorded twice"
    stored = {r["url"]: r for r in recs if r["ok"]}
    assert len(stored) == len(truth["images"]), [r for r in recs if not r["ok"]][:3]
    assert any(r["worker"] == "full" for r in stored.values()), "the full worker stored nothing: no fault mid-crawl"
    for rel, sha in truth["images"].items():
        rec = stored[base_url + quote(rel, safe="/-._~")]
        folder = small if rec["worker"] == "full" else roomy
        assert hashlib.sha256((folder / rec["path"]).read_bytes()).hexdigest() == sha, rec


def test_a_worker_whose_downloads_keep_failing_with_internal_errors_stops_and_hands_back(tmp_path, monkeypatch):
    import threading

    from crawler import worker as worker_mod
    from crawler.config import WorkerConfig
    from crawler.link.manager import serve
    from crawler.master.board import ResultInbox, Task, TaskBoard
    from crawler.worker import imagedownload

    key = KEY["CRAWLER_AUTHKEY"].encode()
    board = TaskBoard(60)
    board.results = inbox = ResultInbox(on_arrival=board.arrived)
    board.add_many([Task(i, f"http://h.example/{i}.jpg", None) for i in range(1, 101)])
    served = serve(board, inbox, ("127.0.0.1", 0), key)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug, or a sick interpreter")

    monkeypatch.setattr(imagedownload, "_download_once", broken)
    w = worker_mod.Worker(WorkerConfig(served.address, out=tmp_path, threads=4, name="w1"), key)
    done = threading.Event()
    threading.Thread(target=lambda: (w.run(), done.set()), daemon=True).start()
    try:
        assert done.wait(30), "the worker kept going"
    finally:
        served.stop()
    assert w.exit_code == EXIT_WORKER_FAULT and "in a row failed with internal errors" in w.error
    recorded = inbox.drain()
    pending, leased = board.counts()
    assert worker_mod.MAX_INTERNAL_STREAK <= len(recorded) <= worker_mod.MAX_INTERNAL_STREAK + 4 + 8
    assert leased == 0 and pending == 100 - len(recorded)  # everything else handed back, not drained
    assert "internal errors" in board.faults()["w1"]


@pytest.fixture
def small_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("small_site")
    truth = generate_site(root, SiteSpec(pages=8, images=120, depth=2, max_image_bytes=60_000, seed=16))
    server, base_url = serve_directory(root)
    yield root, truth, base_url
    server.shutdown()
    server.server_close()


def test_run_into_a_full_disk_stops_without_a_traceback_and_resumes_once_there_is_room(small_site, tmp_path,
                                                                                       procs, tmpfs):
    root, truth, base_url = small_site
    out = tmpfs("out", "1m")  # about half of the site's 2 MB
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(base_url + truth["start"] + "\n")
    cmd = ("run", str(seeds), "--workers", "2", "--out", str(out), "--timeout", "5")
    first = procs.start(*cmd, env=KEY)
    log = output(first, 120)
    assert first.returncode != 0 and "Traceback" not in log, log
    assert "no space left in" in log or "No space left on device" in log, log
    stored = [f for f in out.rglob("*") if f.suffix in (".jpg", ".png", ".gif", ".bmp")]
    assert stored and sum(r["ok"] for r in records(out)) < len(truth["images"]), "full at once, or never: " + log
    assert not [r for r in records(out) if not r["ok"] and r["reason"] in ("storage", "internal")]
    tmpfs.remount(out, "200m")
    again = procs.start(*cmd, env=KEY)
    log2 = output(again, 120)
    assert again.returncode == 0 and "resuming the crawl" in log2, log2
    check_complete(out, root, truth, base_url)


def test_a_master_whose_disk_fills_stops_with_its_own_exit_code_and_the_same_command_resumes(
        small_site, tmp_path, procs, tmpfs):
    from .procs import free_port

    root, truth, base_url = small_site
    out = tmpfs("state", "4m")
    port = free_port()
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(base_url + truth["start"] + "\n")
    master_cmd = ("master", str(seeds), "--listen", f"127.0.0.1:{port}", "--out", str(out), "--timeout", "5")
    worker_cmd = ("worker", "--connect", f"127.0.0.1:{port}", "--out", str(tmp_path / "images"),
                  "--reconnect-timeout", "30")
    master = procs.start(*master_cmd, env=KEY)
    from .procs import wait_for
    wait_for(lambda: (out / "manifest.jsonl").exists(), 20, "the master to start")
    free = _fill(out, leave=16 << 10)  # the journal and the manifest have 16 kB left
    worker = procs.start(*worker_cmd, env=KEY)
    log = output(master, 120)
    assert master.returncode == EXIT_STATE_UNWRITABLE, log
    assert "Traceback" not in log and f"cannot write {out}/" in log and "resumes once the disk has room" in log, log
    assert free > 0
    output(worker, 30)
    tmpfs.remount(out, "200m")
    master2 = procs.start(*master_cmd, env=KEY)
    worker2 = procs.start(*worker_cmd, env=KEY)
    log2 = output(master2, 120)
    assert master2.returncode == 0 and "resuming the crawl" in log2, log2
    output(worker2, 30)
    recs = records(out)
    assert len(recs) == len({r["url"] for r in recs}), "an image recorded twice"
    stored = {r["url"]: r for r in recs if r["ok"]}
    for rel, sha in truth["images"].items():
        rec = stored[base_url + quote(rel, safe="/-._~")]
        assert hashlib.sha256((tmp_path / "images" / rec["path"]).read_bytes()).hexdigest() == sha, rec


def _fill(folder: Path, leave: int) -> int:
    """Take all but `leave` bytes of the filesystem folder is on; return what was free before."""
    import os
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    (folder / "ballast").write_bytes(bytes(max(0, free - leave)))
    return free


def test_http_and_https_urls_sharing_a_path_never_overwrite_each_others_bytes(tmp_path, procs):
    """http://h/a.png and https://h/a.png share the plain path h/a.png (naming.py's decision);
    when their bytes differ, the second one is stored under its hashed name."""
    import os
    import ssl
    import threading
    from functools import partial

    from crawler.cli.demo import QuietHandler, StaticServer
    from devtools import imagegen

    trustme = pytest.importorskip("trustme")
    address = "127.0.15.80"
    sites = {"http": tmp_path / "plain", "https": tmp_path / "tls"}
    for name, root in sites.items():
        root.mkdir()
        (root / "a.png").write_bytes(imagegen.png(8, 8, 1 if name == "http" else 2))
    (sites["http"] / "index.html").write_text(f'<img src="/a.png"><img src="https://{address}/a.png">')
    servers, serving = [], []
    try:
        for name, port in (("http", 80), ("https", 443)):
            try:
                servers.append(StaticServer((address, port), partial(QuietHandler, directory=str(sites[name]))))
            except OSError as exc:
                pytest.skip(f"cannot listen on {address}:{port} (default ports need root): {exc.strerror}")
        ca = trustme.CA()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(address).configure_cert(ctx)
        servers[1].socket = ctx.wrap_socket(servers[1].socket, server_side=True)
        for s in servers:
            threading.Thread(target=s.serve_forever, daemon=True).start()
            serving.append(s)
        bundle = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        seeds = tmp_path / "seeds.txt"
        seeds.write_text(f"http://{address}/index.html\n")
        out = tmp_path / "out"
        p = procs.start("run", str(seeds), "--workers", "2", "--out", str(out), "--timeout", "5",
                        "--ca-bundle", str(bundle), env=KEY)
        log = output(p, 60)
    finally:
        for s in servers:
            if s in serving:
                s.shutdown()
            s.server_close()
    assert p.returncode == 0, log
    recs = {r["url"]: r for r in records(out)}
    http, https = recs[f"http://{address}/a.png"], recs[f"https://{address}/a.png"]
    assert http["ok"] and https["ok"], (http, https)
    assert http["path"] != https["path"] and f"{address}/a.png" in (http["path"], https["path"])
    for rec, root in ((http, sites["http"]), (https, sites["https"])):
        assert (out / rec["path"]).read_bytes() == (root / "a.png").read_bytes(), rec
    assert not [n for n in os.listdir(out / address) if n.endswith(".crawler-part")]


def test_a_local_worker_that_connects_after_a_short_crawl_ended_is_told_to_stop(tmp_path):
    """The slow end: a worker of `crawler run` still on its way when a short crawl ends found the
    master gone and retried, while `crawler run` waited 10 s for it and 5 s more after SIGTERM."""
    import threading

    from crawler.config import CrawlConfig, WorkerConfig
    from crawler.master import Master
    from crawler.worker import Worker

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<p>no images here</p>")
    server, base_url = serve_directory(tmp_path / "site")
    key = KEY["CRAWLER_AUTHKEY"].encode()
    late_done = threading.Event()
    master = Master(CrawlConfig(seeds=(base_url + "index.html",), out=tmp_path / "out"), key, ("127.0.0.1", 0),
                    workers_pending=lambda: not late_done.is_set())
    finished = threading.Event()
    threading.Thread(target=lambda: (master.run(), finished.set()), daemon=True).start()
    try:
        from .procs import wait_for
        wait_for(lambda: master.served and master.board.status()["finished"], 20, "the crawl to end")
        late = Worker(WorkerConfig(master.served.address, out=tmp_path / "w", name="late"), key, reconnect_timeout=3)
        started = time.monotonic()
        code = late.run()
        late_done.set()
        assert finished.wait(10)
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0 and late.error is None, late.error
    assert time.monotonic() - started < 2


def test_a_worker_stopped_while_its_master_is_unreachable_exits_at_once(tmp_path, procs, refusing):
    import signal

    port = refusing()
    w = procs.start("worker", "--connect", f"127.0.0.1:{port}", "--out", str(tmp_path), "--reconnect-timeout", "60",
                    env=KEY)
    line = w.stdout.readline().decode()
    assert "unreachable" in line, line
    stopped = time.monotonic()
    w.send_signal(signal.SIGTERM)
    log = line + output(w, 30)
    assert w.returncode == 130 and time.monotonic() - stopped < 3, log
    assert "stopping without the master" in log and "Traceback" not in log
