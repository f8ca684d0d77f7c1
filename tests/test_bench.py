"""The benchmark harness (bench/): a quick smoke run end to end, the delay server, the
frontier memory probe. Needs only loopback."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(120)
def test_quick_benchmark_runs_and_ours_stores_every_image(tmp_path):
    out = tmp_path / "latest.json"
    p = _run([str(BENCH / "run.py"), "--quick", "--rounds", "1", "--scenario", "loopback", "--json", str(out)], 110)
    text = p.stdout + p.stderr
    assert p.returncode == 0, text
    assert "== loopback:" in p.stdout
    assert "server: nginx" in p.stdout or "server: python threaded server" in p.stdout  # says which server
    for tool in ("ours", "classic"):
        assert any(line.strip().startswith(tool + " ") for line in p.stdout.splitlines()), p.stdout
    assert (any(line.strip().startswith("wget ") for line in p.stdout.splitlines())
            or "wget: missing" in p.stdout), p.stdout
    assert "ours vs classic:" in p.stdout

    results = json.loads(out.read_text())
    scen = results["scenarios"]["loopback"]
    ours = scen["summary"]["ours"]
    assert ours["correct"]["min"] == ours["total"] == results["site"]["images"] > 0
    run = scen["runs"]["ours"][0]
    assert run["traps"]["ok"], run["traps"]
    assert run["cpu_s"] > 0 and run["peak_rss_mb"] > 0 and run["cpu_check_ok"]


@pytest.mark.timeout(120)
def test_frontier_memory_prints_its_line():
    p = _run([str(BENCH / "frontier_memory.py"), "--count", "20000"], 110)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "frontier: 20,000 image URLs, RSS " in p.stdout
    assert " MB, " in p.stdout


@pytest.mark.timeout(120)
def test_delay_check_reports_the_servers_rate_per_connection_count():
    p = _run([str(BENCH / "delay_check.py"), "--quick", "--requests", "4", "--concurrency", "1,4"], 110)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = [line for line in p.stdout.splitlines() if "connection(s): median" in line]
    assert len(lines) == 2 and lines[1].startswith("4 connection(s)") and "(nominal 80/s)" in lines[1]
    median_ms = float(lines[0].split("median ")[1].split(" ms")[0])
    assert 49.0 <= median_ms < 100.0  # held 50 ms, and not much more


@pytest.mark.timeout(60)
def test_delay_server_keeps_alive_delays_and_404s(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # also for the server's spawned process
    import servers
    (tmp_path / "index.html").write_text("<p>hi</p>")
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 100)
    server = servers.start_delay(tmp_path, 0.05)
    try:
        host, port = server.base_url.split("//")[1].rstrip("/").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        for path, status, ctype in (("/index.html", 200, "text/html"), ("/img/a%20b.png", 200, "image/png"),
                                    ("/missing.jpg", 404, "text/plain"), ("/../etc/passwd", 404, "text/plain")):
            t0 = time.monotonic()
            conn.request("GET", path)  # the same connection each time: keep-alive
            r = conn.getresponse()
            body = r.read()
            assert time.monotonic() - t0 >= 0.045
            assert r.status == status, path
            assert r.getheader("Content-Type").startswith(ctype)
            assert int(r.getheader("Content-Length")) == len(body)
        conn.close()
    finally:
        server.stop()


@pytest.mark.timeout(60)
def test_delay_server_with_jitter_holds_each_answer_a_random_time_in_its_range(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import servers
    (tmp_path / "index.html").write_text("<p>hi</p>")
    server = servers.start_delay(tmp_path, 0.05, jitter=0.04)
    try:
        host, port = server.base_url.split("//")[1].rstrip("/").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        held = []
        for _ in range(30):
            t0 = time.monotonic()
            conn.request("GET", "/index.html")
            conn.getresponse().read()
            held.append(time.monotonic() - t0)
        conn.close()
    finally:
        server.stop()
    assert "10 to 90 ms" in server.kind
    assert min(held) >= 0.0095 and max(held) < 0.2
    assert max(held) - min(held) > 0.03  # spread over the range, not one fixed delay


def test_delay_timeline_summarises_answer_times(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import delay_timeline
    started = 100.0
    sent = [100.3, 100.35] + [101 + i / 150 for i in range(150)] + [102 + i / 140 for i in range(140)] \
        + [103 + i / 152 for i in range(152)] + [104.2]
    r = delay_timeline.timeline(sent, started, wall=4.4)
    assert r["answers"] == len(sent) and sum(r["per_second"]) == len(sent)
    assert r["per_second"] == [2, 150, 140, 152, 1]
    assert r["first"] == pytest.approx(0.3) and r["last"] == pytest.approx(4.2)
    assert r["after_last"] == pytest.approx(0.2) and r["steady"] == 150  # the full seconds 1-3 only


@pytest.mark.timeout(120)
def test_delay_timeline_runs_our_crawl_against_the_logging_server():
    p = _run([str(BENCH / "delay_timeline.py"), "--quick"], 110)
    assert p.returncode == 0, p.stdout + p.stderr
    line = next(line for line in p.stdout.splitlines() if line.startswith("run 1:"))
    answers = int(line.split(" answers")[0].rsplit(" ", 1)[1])
    assert answers > 100 and "exit 0" in line  # every image of the quick site, and its pages
    first = float(line.split("first at ")[1].split(" s")[0])
    last = float(line.split("last at ")[1].split(" s")[0])
    assert 0 < first < last


def test_the_delay_servers_log_gives_requests_and_the_most_in_flight_within_a_run(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import servers
    held = [(0.5, 0.9),                                   # before the run: its start-up check
            (1.0, 1.05), (1.0, 1.06), (1.01, 1.07),     # three at once
            (1.05, 1.10), (1.06, 1.11),                  # one ends as another starts: not together
            (1.2, 1.25), (3.0, 3.05)]                    # the last one after the run
    assert servers.load_between(held, 1.0, 2.0) == {"requests": 6, "peak_in_flight": 3}
