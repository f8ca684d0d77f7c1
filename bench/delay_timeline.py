"""Where the 50 ms scenario's time goes: our crawl against a delay server that logs each answer.

    python bench/delay_timeline.py [--runs 1] [--quick] [--repo DIR]

Runs `crawler run --workers 2` (as bench/run.py does) against the delay server of
bench/servers.py, which here also notes the moment it sends each answer, and prints per run:
the wall time, when the first and the last answer went out (from the command's start), how
long the command took after the last one, the answers in each second of the crawl, and the
steady rate (the median of the full seconds between the first and the last). Set against
`bench/delay_check.py` (what the server allows a client with no overhead), this separates
start-up, ramp-up, steady state and shutdown.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run as bench_run  # noqa: E402
import servers  # noqa: E402


def timeline(sent: list[float], started: float, wall: float) -> dict:
    """The summary of one run, from the answers' send times (monotonic) and the command's start.
    Answers sent before the start (the server's own check that it is up) are left out."""
    rel = sorted(t - started for t in sent if t >= started)
    per_second = [0] * (int(rel[-1]) + 1)
    for t in rel:
        per_second[int(t)] += 1
    full = per_second[int(rel[0]) + 1:int(rel[-1])]  # seconds wholly inside the crawl
    return {"answers": len(rel), "first": rel[0], "last": rel[-1], "after_last": wall - rel[-1],
            "wall": wall, "per_second": per_second, "steady": statistics.median(full) if full else None}


def one_run(root: Path, start_path: str, repo: Path, work: Path) -> dict:
    log_path = work / "answers.json"
    server = servers.start_delay(root, bench_run.DELAY, log_path=log_path)
    try:
        cmd = bench_run.command("ours", server.base_url + start_path, work / "out", work)
        started = time.monotonic()
        code = subprocess.run(cmd, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        wall = time.monotonic() - started
        time.sleep(0.5)  # the server's last dump
    finally:
        server.stop()
    result = timeline([sent for _, sent in servers.read_log(log_path)], started, wall)
    result["exit"] = code
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="the small site of bench/run.py --quick")
    ap.add_argument("--repo", type=Path, default=bench_run.REPO, help="the checkout whose crawler runs")
    args = ap.parse_args()
    root, truth = bench_run.ensure_site(bench_run.QUICK_SPEC if args.quick else bench_run.FULL_SPEC)
    print(bench_run.byte_compile(args.repo.resolve()))
    failed = False
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="timeline-", dir=bench_run.default_out_root()) as tmp:
            r = one_run(root, truth["start"], args.repo.resolve(), Path(tmp))
        failed |= r["exit"] != 0
        steady = f"{r['steady']:.0f}/s" if r["steady"] is not None else "n/a (under 3 s)"
        print(f"run {i + 1}: exit {r['exit']}, {r['wall']:.2f} s wall, {r['answers']} answers; first at "
              f"{r['first']:.3f} s, last at {r['last']:.3f} s, exit {r['after_last']:.3f} s after it; steady {steady}")
        print(f"  answers per second: {r['per_second']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
