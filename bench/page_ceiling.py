"""The master's ceiling in pages per second, and what parsing does to its other work.

    python bench/page_ceiling.py [--pages 300] [--rounds 3] [--configs 0,1,2] [--page-threads 4] [--baseline DIR]

Writes --pages realistic pages (bench/pagegen.py: 90 kB, 850 elements, 100 links, 47
images each; cached in bench/.site/) and an index linking them all, serves them from nginx
(or the Python server) in its own process, and runs `crawler master` on the index with
`--same-host-images` (the pages' images are on another host, so none is queued and no
worker is needed: pages are all the master does), `--per-host 16 --ignore-robots`, once per
--configs value of `--page-processes` (0: the page threads parse), interleaved, --rounds
times. Per run: pages per second (the pages over the master's own crawl time, from its
summary line), CPU milliseconds per page of the master's process tree, and the round trip of
a manager call (`status()`, every 20 ms, from this process) while the crawl runs: a worker
asking for tasks waits as long, so it shows whether parsing holds up handing out tasks.
Medians over rounds, min-max in brackets. `--baseline DIR` adds, interleaved, the master of
another checkout (say, `git worktree add /tmp/base COMMIT`) run without --page-processes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import servers  # noqa: E402
from pagegen import write_site  # noqa: E402
from run import byte_compile, measure  # noqa: E402

from crawler.link.manager import MasterLink  # noqa: E402

KEY = "page-ceiling-benchmark-key-0123456789"


def ensure_pages(count: int) -> Path:
    root = BENCH / ".site" / f"realistic-{count}"
    if (root / "index.html").is_file():
        return root
    tmp = root.with_name(root.name + f".tmp{os.getpid()}")
    names = write_site(tmp, count)
    links = "".join(f'<li><a href="{n}">{n}</a></li>' for n in names)
    (tmp / "index.html").write_text(f"<!DOCTYPE html><title>posts</title><ul>{links}</ul>", encoding="utf-8")
    if root.exists():
        shutil.rmtree(root)
    tmp.rename(root)
    return root


def probe(port: int, stop: threading.Event, rtts: list[float]) -> None:
    """status() round trips every 20 ms for as long as the master answers."""
    link = MasterLink(("127.0.0.1", port), KEY.encode())
    while not stop.is_set():
        try:
            if link.tasks is None:
                link.connect()
            t0 = time.perf_counter()
            link.tasks.status()
            rtts.append(time.perf_counter() - t0)
        except (OSError, EOFError):
            link.reset()
        stop.wait(0.02)
    link.reset()


def run_once(base_url: str, processes: int | None, threads: int, work: Path, repo: Path = BENCH.parent) -> dict:
    """One crawl; processes None: the baseline checkout in repo, without --page-processes."""
    out = work / f"out-{processes}"
    seeds = work / "seeds.txt"
    seeds.write_text(base_url + "index.html\n")
    log = work / f"master-{processes}.log"
    log.unlink(missing_ok=True)  # the master appends to its --log-file
    port = servers.free_port()
    cmd = [sys.executable, "-m", "crawler", "master", str(seeds), "--listen", f"127.0.0.1:{port}", "--out", str(out),
           "--fresh", "--same-host-images", "--ignore-robots", "--max-depth", "5", "--per-host", "16",
           "--page-threads", str(threads), "--log-file", str(log)]
    if processes is not None:
        cmd += ["--page-processes", str(processes)]
    os.environ["CRAWLER_AUTHKEY"] = KEY
    stop, rtts = threading.Event(), []
    prober = threading.Thread(target=probe, args=(port, stop, rtts), daemon=True)
    prober.start()
    m = measure(cmd, cwd=repo, log=work / "stdout.log", timeout=300)  # `-m crawler` imports from the cwd
    stop.set()
    prober.join()
    text = log.read_text()
    pages = int(re.search(r"pages: (\d+) fetched", text).group(1))
    seconds = float(re.search(r"\) in ([\d.]+) s,", text).group(1))
    shutil.rmtree(out, ignore_errors=True)
    cpu = max(m["cpu_s"], m["cpu_sampled_s"])  # the fork server is not reaped by the master: sampled
    return {"pages": pages, "pages_per_s": pages / seconds, "cpu_ms_per_page": cpu * 1e3 / pages,
            "rtt_ms_p50": statistics.median(rtts) * 1e3 if rtts else float("nan"),
            "rtt_ms_p95": statistics.quantiles(rtts, n=20)[-1] * 1e3 if len(rtts) > 1 else float("nan"),
            "rtt_ms_max": max(rtts) * 1e3 if rtts else float("nan"), "exit": m["exit"]}


def cell(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--configs", default="0,1,2", help="--page-processes values to compare (default: %(default)s)")
    ap.add_argument("--page-threads", type=int, default=4)
    ap.add_argument("--baseline", type=Path, default=None, metavar="DIR", help="also run the master of this checkout")
    a = ap.parse_args(argv)
    configs: list[int | None] = [int(c) for c in a.configs.split(",")]
    print(byte_compile(BENCH.parent))
    if a.baseline:
        print(byte_compile(a.baseline))
        configs.insert(0, None)
    root = ensure_pages(a.pages)
    nginx = servers.find_nginx(install=True)
    server = servers.start_nginx(root, nginx) if nginx else servers.start_python(root)
    print(f"{a.pages + 1} pages served by {server.kind}; --page-threads {a.page_threads}; {os.cpu_count()} cores")
    runs: dict[int | None, list[dict]] = {c: [] for c in configs}
    name = {c: f"baseline {a.baseline}" if c is None else f"--page-processes {c}" for c in configs}
    try:
        with tempfile.TemporaryDirectory(prefix="page-ceiling-") as tmp:
            for r in range(a.rounds):
                for c in configs:
                    repo = a.baseline if c is None else BENCH.parent
                    res = run_once(server.base_url, c, a.page_threads, Path(tmp), repo)
                    runs[c].append(res)
                    print(f"  round {r + 1}, {name[c]}: {res['pages']} pages, "
                          f"{res['pages_per_s']:.1f} pages/s, {res['cpu_ms_per_page']:.1f} ms CPU/page, "
                          f"status() {res['rtt_ms_p50']:.1f} ms p50, {res['rtt_ms_p95']:.1f} p95, "
                          f"{res['rtt_ms_max']:.0f} max (exit {res['exit']})", flush=True)
    finally:
        server.stop()
    width = max(len(n) for n in name.values())
    print(f"\n{'':<{width}} {'pages/s':>18} {'CPU ms/page':>18} {'status() p50 ms':>16} {'p95 ms':>16} "
          f"{'max ms':>14}")
    for c in configs:
        rs = runs[c]
        print(f"{name[c]:<{width}} {cell([x['pages_per_s'] for x in rs], '.1f'):>18} "
              f"{cell([x['cpu_ms_per_page'] for x in rs], '.1f'):>18} {cell([x['rtt_ms_p50'] for x in rs], '.1f'):>16} "
              f"{cell([x['rtt_ms_p95'] for x in rs], '.1f'):>16} {cell([x['rtt_ms_max'] for x in rs], '.0f'):>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
