"""End to end: a generated site on a real local HTTP server, real master and worker processes."""

import json
import os
import re
import shutil
import time
from urllib.parse import quote

import pytest

from crawler.cli.demo import serve_directory
from crawler.store import manifest
from devtools.sitegen import SiteSpec, generate_site

from .procs import Procs, check_complete, manifest_lines, output, pids_alive, records, serve_slow, wait_for

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    truth = generate_site(root, SiteSpec(pages=15, images=40, depth=3, max_image_bytes=20_000, seed=7))
    server, base_url = serve_directory(root)
    yield root, truth, base_url
    server.shutdown()
    server.server_close()


def seed_file(tmp_path, *lines):
    f = tmp_path / "seeds.txt"
    f.write_text("\n".join(lines) + "\n")
    return f


def check_failures(recs, truth, base_url):
    by_url = {r["url"]: r for r in recs}
    for rel in truth["broken"]:
        rec = by_url[base_url + quote(rel, safe="/-._~")]
        assert not rec["ok"] and rec["status"] == 404 and rec["reason"] == "http-status"
    for rel in truth["not_images"]:
        rec = by_url[base_url + quote(rel, safe="/-._~")]
        assert not rec["ok"] and rec["reason"] == "not-an-image"


@pytest.mark.parametrize("how", ["forked", "portable", "tls"])
def test_run_with_two_workers_stores_every_image_and_records_every_failure(how, site, tmp_path, procs, request):
    """forked: Linux's fast paths. portable: the paths of macOS and Windows, on Linux: workers
    started without fork, storage without directory descriptors, socket timeouts kept by
    Python. tls: the manager link over TLS, the local workers pinning the master's certificate."""
    root, truth, _ = site
    env: dict[str, str] = {}
    # Both workers must do work: a site slow enough that the first does not take every image
    # before the second is there (workers started as new interpreters join later than forked
    # ones; on a fast loopback site even a forked one can find the crawl done), and 4 threads,
    # half of --per-host's 8: the tasks the first worker leases ahead of its threads leave the
    # slots to the second's free threads (master/board/waiting.py), so that both do work.
    server, base_url = serve_slow(root, delay=0.05)
    request.addfinalizer(lambda: (server.shutdown(), server.server_close()))
    extra = ["--threads", "4"]
    if how == "portable":
        env = {"CRAWLER_DISABLE": "fork,dir-fd,openat2,kernel-timeouts"}
    elif how == "tls":
        files = request.getfixturevalue("tls_files")
        extra += ["--tls-cert", str(files.cert), "--tls-key", str(files.key)]
    out = tmp_path / "out"
    seeds = seed_file(tmp_path, "# the site", "", base_url + truth["start"])
    p = procs.start("run", str(seeds), "--workers", "2", "--out", str(out), *extra, env=env)
    log = output(p, 90)
    assert p.returncode == 0, log
    assert ("started as" in log and "(not forked)" in log) == (how == "portable"), log
    assert log.count("over TLS (certificate pinned)") == (2 if how == "tls" else 0), log
    recs = check_complete(out, root, truth, base_url)
    check_failures(recs, truth, base_url)
    assert len({r["worker"] for r in recs if r["ok"]}) == 2, "both workers should have done work\n" + log
    assert "images:" in log and f"{len(truth['images'])} ok" in log
    assert pids_alive(recs) == []
    assert f"gallery: {out / 'index.html'}" in log and (out / "index.html").is_file()  # the master's report


@pytest.fixture(scope="module")
def finished(site, tmp_path_factory):
    """A finished crawl of the site: its seed file and output folder (copy before changing it)."""
    root, truth, base_url = site
    tmp = tmp_path_factory.mktemp("finished")
    seeds = seed_file(tmp, base_url + truth["start"])
    procs = Procs()
    try:
        p = procs.start("run", str(seeds), "--workers", "2", "--out", str(tmp / "out"))
        log = output(p, 90)
        assert p.returncode == 0, log
    finally:
        procs.cleanup()
    return seeds, tmp / "out"


@pytest.mark.parametrize("how", ["forked", "spawned"])
def test_run_again_on_a_finished_crawl_exits_at_once_and_its_workers_too(how, finished, tmp_path, procs):
    seeds, done = finished
    out = tmp_path / "out"
    shutil.copytree(done, out)
    env = {"CRAWLER_DISABLE": "fork"} if how == "spawned" else {}
    again = procs.start("run", str(seeds), "--workers", "2", "--out", str(out), env=env)
    started = time.monotonic()
    log = output(again, 30)
    assert again.returncode == 0 and "already finished" in log, log
    assert time.monotonic() - started < 10
    # the workers, started before the master looked at its journal, were told there is no
    # master to join and exited: nothing of the session is left (and nothing was reparented)
    with pytest.raises(ProcessLookupError):
        os.killpg(again.pid, 0)


def test_fresh_starts_a_finished_crawl_over_and_keeps_the_previous_manifest(finished, site, tmp_path, procs):
    root, truth, base_url = site
    seeds, done = finished
    out = tmp_path / "out"
    shutil.copytree(done, out)
    before = (out / "manifest.jsonl").read_bytes()
    p = procs.start("run", str(seeds), "--workers", "1", "--out", str(out), "--fresh")
    log = output(p, 60)
    assert p.returncode == 0 and "already finished" not in log, log
    kept = re.search(r"kept the previous manifest as (manifest\.[\d-]+\.jsonl)", log)
    assert kept and (out / kept.group(1)).read_bytes() == before, log
    recs = check_complete(out, root, truth, base_url)  # every image fetched again, once
    # by this run's worker, not carried over from the first run's
    old_workers = {r["worker"] for r in manifest.read(out / kept.group(1))}
    assert {r["worker"] for r in recs}.isdisjoint(old_workers), log


def test_run_whose_workers_are_all_killed_stops_with_a_message_instead_of_waiting(site, tmp_path, procs):
    import signal

    import psutil

    root, truth, _ = site
    server, base_url = serve_slow(root, delay=0.2)  # slow: the crawl is still going when they die
    try:
        out = tmp_path / "out"
        seeds = seed_file(tmp_path, base_url + truth["start"])
        p = procs.start("run", str(seeds), "--workers", "2", "--out", str(out))
        deadline = time.monotonic() + 20
        children = []
        while time.monotonic() < deadline and len(children) < 2:
            children = psutil.Process(p.pid).children()
            time.sleep(0.05)
        assert len(children) == 2, "crawler run should have two worker processes"
        wait_for(lambda: manifest_lines(out) >= 2, 30, "the workers' first results")
        for child in children:
            os.kill(child.pid, signal.SIGKILL)
        log = output(p, 30)
        assert p.returncode == 1, log
        assert "all 2 local workers exited (exit codes -9, -9) before the crawl finished" in log
        assert manifest_lines(out) < len(truth["images"]), "the crawl had finished: the test tested nothing"
    finally:
        server.shutdown()
        server.server_close()


def test_master_and_separate_workers_finish_and_all_exit_by_themselves(site, tmp_path, procs, request):
    root, truth, _ = site
    # slow enough that one worker alone would need 4 s for the images, so both join in time;
    # two threads each, so neither can hold all of the site's 8 slots (it leases twice its threads)
    server, base_url = serve_slow(root, delay=0.2)
    request.addfinalizer(lambda: (server.shutdown(), server.server_close()))
    out = tmp_path / "out"
    seeds = seed_file(tmp_path, base_url + truth["start"])
    master = procs.start("master", str(seeds), "--listen", "127.0.0.1:0", "--out", str(out))
    # the master prints its address: read lines until the port shows up
    port = None
    lines = []
    deadline = time.monotonic() + 20
    while port is None and time.monotonic() < deadline:
        line = master.stdout.readline().decode()
        lines.append(line)
        if "master listening on" in line:
            port = int(line.rsplit(":", 1)[1])
    assert port, "".join(lines)
    key = (out / ".crawler" / "authkey").read_text().strip()
    assert key not in "".join(lines)
    w_out = tmp_path / "w"
    workers = [procs.start("worker", "--connect", f"127.0.0.1:{port}", "--out", str(w_out),
                           "--threads", "2", "--name", f"w{i}", env={"CRAWLER_AUTHKEY": key}) for i in (1, 2)]
    rest = output(master, 90)
    assert master.returncode == 0, "".join(lines) + rest
    recs = records(out)
    for name, w in zip(("w1", "w2"), workers, strict=True):
        log = output(w, 20)
        assert w.returncode == 0, log
        assert "connected to master" in log
        # both did work, and what each says it stored is what the manifest holds of it
        stored = sum(1 for r in recs if r["ok"] and r["worker"] == name)
        assert stored > 0 and f"worker {name} done: {stored} stored" in log, (stored, log)
    # images are under the workers' --out; the manifest is under the master's
    assert {r["worker"] for r in recs} == {"w1", "w2"}
    for rec in recs:
        if rec["ok"]:
            assert (w_out / rec["path"]).is_file()
    assert sum(r["ok"] for r in recs) == len(truth["images"])


def test_bad_seed_lines_are_reported_with_line_numbers_and_skipped(site, tmp_path, procs):
    root, truth, base_url = site
    out = tmp_path / "out"
    seeds = seed_file(tmp_path, "ftp://example.com/x", "not a url", base_url + truth["start"])
    p = procs.start("run", str(seeds), "--workers", "1", "--out", str(out), "--max-depth", "0")
    log = output(p, 60)
    assert p.returncode == 0, log
    assert "line 1" in log and "line 2" in log


def test_seed_file_without_a_usable_url_is_an_error(tmp_path, procs):
    seeds = seed_file(tmp_path, "# nothing", "mailto:a@b")
    p = procs.start("master", str(seeds), "--out", str(tmp_path / "out"))
    log = output(p, 20)
    assert p.returncode == 2 and "no usable seed URL" in log and "Traceback" not in log


def test_worker_with_a_wrong_key_says_so_in_one_line(site, tmp_path, procs):
    root, truth, base_url = site
    out = tmp_path / "out"
    seeds = seed_file(tmp_path, base_url + truth["start"])
    master = procs.start("master", str(seeds), "--listen", "127.0.0.1:0", "--out", str(out))
    line = ""
    while "master listening on" not in line:
        line = master.stdout.readline().decode()
        assert line, "master exited early"
    port = line.rsplit(":", 1)[1].strip()
    w = procs.start("worker", "--connect", f"127.0.0.1:{port}", "--out", str(tmp_path / "w"),
                    env={"CRAWLER_AUTHKEY": "x" * 32})
    log = output(w, 20)
    assert w.returncode == 5 and "refused our authkey" in log and "Traceback" not in log


def test_worker_gives_up_on_an_unreachable_master_with_one_line(tmp_path, procs):
    import socket
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    w = procs.start("worker", "--connect", f"127.0.0.1:{port}", "--out", str(tmp_path / "w"),
                    "--reconnect-timeout", "1", env={"CRAWLER_AUTHKEY": "x" * 32})
    log = output(w, 20)
    assert w.returncode == 4 and "could not reach the master" in log and "Traceback" not in log


def test_sigterm_stops_a_worker_at_once_while_its_master_is_unreachable(tmp_path, procs):
    import signal
    import socket
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    w = procs.start("worker", "--connect", f"127.0.0.1:{port}", "--out", str(tmp_path / "w"),
                    "--reconnect-timeout", "60", env={"CRAWLER_AUTHKEY": "x" * 32})
    line = w.stdout.readline().decode()
    assert "unreachable" in line, line
    stopped = time.monotonic()
    w.send_signal(signal.SIGTERM)
    log = output(w, 20)
    assert w.returncode == 130 and "stopping without the master" in log, log
    assert time.monotonic() - stopped < 5 and "Traceback" not in log


def test_demo_crawls_the_bundled_site_offline(tmp_path, procs):
    p = procs.start("demo", "--out", str(tmp_path / "demo"))
    log = output(p, 90)
    assert p.returncode == 0, log
    site = os.path.join(os.path.dirname(__file__), "..", "crawler", "cli", "demosite")
    truth = json.loads(open(os.path.join(site, "truth.json")).read())
    assert f"demo: {len(truth['images'])} of {len(truth['images'])} reachable images stored byte-identical" in log
