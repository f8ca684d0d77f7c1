"""Where our crawler's CPU goes: one `crawler run` on the benchmark site, CPU per process.

    python bench/split.py [--runs 3] [--threads N] [--quick] [--profile DIR [--rate 250]]

Serves the cached benchmark site (bench/run.py generates it) with nginx, runs
`crawler run --workers 2` --runs times and prints, per run, the wall time and the CPU
milliseconds per image of the master and of each worker (psutil's last reading of each
process, sampled every 20 ms: it misses at most the last 20 ms of each). With --profile DIR,
py-spy records each process (`--gil`: only the thread holding the GIL, so samples are CPU) into DIR/<role>.txt as
collapsed stacks, and the top of each profile is printed.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run as bench_run  # noqa: E402  (bench/run.py)
import servers  # noqa: E402


def role_of(cmdline: list[str], is_root: bool) -> str | None:
    """The `crawler run` process itself is the master; a crawler process below it is a worker
    (forked, with the master's command line, or spawned as `crawler worker`)."""
    if "crawler" not in cmdline:
        return None
    return "master" if is_root else "worker"


def one_run(start_url: str, work: Path, threads: int | None, profile: Path | None, workers: int = 2,
            repo: Path = bench_run.REPO, rate: int = 250) -> dict:
    out = work / "out"
    cmd = bench_run.command("ours", start_url, out, work, workers) + (["--threads", str(threads)] if threads else [])
    cpu: dict[int, tuple[str, float]] = {}
    spies: list[subprocess.Popen] = []
    stop = threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = psutil.Process(proc.pid)

    def sample() -> None:
        while not stop.is_set():
            for p in bench_run._tree(root):
                try:
                    with p.oneshot():
                        role = role_of(p.cmdline(), p.pid == root.pid)
                        t = p.cpu_times()
                except psutil.Error:
                    continue
                if role is None:
                    continue
                if profile is not None and p.pid not in cpu and shutil.which("py-spy"):
                    n = sum(1 for r, _ in cpu.values() if r == role)
                    spies.append(subprocess.Popen(
                        ["py-spy", "record", "--pid", str(p.pid), "--format", "raw", "--rate", str(rate), "--gil",
                         "--output", str(profile / f"{role}{n}.txt")],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                cpu[p.pid] = (role, t.user + t.system)
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait(600)
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    for s in spies:
        s.wait(30)
    images = sum(1 for _ in open(out / "manifest.jsonl", encoding="utf-8"))
    by_role: dict[str, list[float]] = collections.defaultdict(list)
    for role, seconds in cpu.values():
        by_role[role].append(seconds)
    shutil.rmtree(out, ignore_errors=True)
    return {"exit": code, "wall": wall, "images": images, "roles": dict(by_role)}


def top_of_profile(path: Path, n: int = 15) -> list[str]:
    """The functions with the most samples anywhere on the stack (inclusive), from collapsed stacks."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text("utf-8", "replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        c = int(count)
        total += c
        for frame in set(stack.split(";")):
            inclusive[frame] += c
    return [f"{100 * c / total:5.1f}%  {frame[:150]}" for frame, c in inclusive.most_common(n)] if total else []


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, help="--threads for the crawler (default: the crawler's own)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repo", type=Path, action="append",
                    help="run the crawler of this checkout (python -m crawler from there); given twice or more, "
                         "the checkouts take turns run by run, for an A/B comparison in one command")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--profile", type=Path)
    ap.add_argument("--rate", type=int, default=250,
                    help="py-spy samples per second with --profile (default: %(default)s)")
    args = ap.parse_args()
    root, truth = bench_run.ensure_site(bench_run.QUICK_SPEC if args.quick else bench_run.FULL_SPEC)
    binary = servers.find_nginx()
    server = servers.start_nginx(root, binary) if binary else servers.start_python(root)
    print(f"server: {server.kind} {server.base_url}")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    repos = [r.resolve() for r in args.repo] if args.repo else [bench_run.REPO]
    for repo in repos:
        print(bench_run.byte_compile(repo))
    rows: dict[Path, list] = {r: [] for r in repos}
    try:
        for i in range(args.runs):
            for repo in repos:
                with tempfile.TemporaryDirectory(prefix="split-", dir=bench_run.default_out_root()) as tmp:
                    r = one_run(server.base_url + truth["start"], Path(tmp), args.threads,
                                args.profile if i == 0 and args.profile else None, args.workers, repo,
                                args.rate)
                n = r["images"]
                master = sum(r["roles"].get("master", []))
                workers = r["roles"].get("worker", [])
                total = master + sum(workers)
                rows[repo].append((r["wall"], total * 1000 / n, master * 1000 / n, sum(workers) * 1000 / n))
                label = f" [{repo}]" if len(repos) > 1 else ""
                print(f"run {i + 1}{label}: exit {r['exit']}, {n} manifest lines, {r['wall']:.2f} s wall, "
                      f"{n / r['wall']:.0f} images/s; CPU ms/image: total {total * 1000 / n:.2f}, "
                      f"master {master * 1000 / n:.2f}, workers "
                      + " + ".join(f"{w * 1000 / n:.2f}" for w in workers), flush=True)
    finally:
        server.stop()
    for repo, runs in rows.items():
        if len(runs) > 1:
            med = [statistics.median(col) for col in zip(*runs, strict=True)]
            label = f" [{repo}]" if len(repos) > 1 else ""
            print(f"median{label}: {med[0]:.2f} s wall; CPU ms/image total {med[1]:.2f}, master {med[2]:.2f}, "
                  f"workers {med[3]:.2f}")
    if args.profile:
        for f in sorted(args.profile.glob("*.txt")):
            print(f"\n== {f.name} (inclusive share of samples)")
            print("\n".join(top_of_profile(f)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
