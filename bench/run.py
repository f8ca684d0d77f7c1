"""The end-to-end benchmark: our crawler against the classic BaseManager crawler and wget,
on the same generated site, on loopback and behind a 50 ms delay.

    python bench/run.py [--rounds 3] [--scenario loopback|delay50|jitter50|both|all] [--quick]

Generates a deterministic site once (cached in bench/.site/, keyed by its spec), serves it
(loopback: nginx if installed, else the project's threaded Python server; delay50: the
asyncio server of bench/servers.py holding every response 50 ms; jitter50: the same server
holding each response a random 10 to 90 ms, 50 on average), runs each tool --rounds
times, interleaved, each into a fresh folder, and measures wall time, CPU seconds of the
whole process tree (getrusage of reaped children), peak RSS of the process tree (psutil,
every 50 ms) and the images stored byte-identical to the site's truth. Prints a table per
scenario and writes bench/results/latest.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from urllib.parse import quote, urlparse

import psutil

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

import servers  # noqa: E402  (bench/servers.py)
import traps  # noqa: E402  (bench/traps.py)

from crawler import config as crawler_config  # noqa: E402
from devtools.sitegen import SiteSpec, generate_site  # noqa: E402

FULL_SPEC = SiteSpec(pages=200, images=2000, depth=4, min_image_bytes=2000, max_image_bytes=200_000, seed=1)
QUICK_SPEC = SiteSpec(pages=20, images=100, depth=4, min_image_bytes=2000, max_image_bytes=200_000, seed=1)
WORKERS = 2
DELAY = 0.05
JITTER = {"delay50": 0.0, "jitter50": 0.04}  # the delay scenarios: each response held DELAY ± this
TOOLS = ("ours", "classic", "wget")
BASELINE: dict[str, Path] = {}  # --baseline DIR: the tool "base" is ours as checked out in DIR
EXTRA_TOOLS = ("ours-tls",)  # on request (--tools ours,ours-tls): ours with the manager link over TLS
OURS = ("ours", "ours-tls", "base")  # our crawler, in its variants: checked the same way
SAMPLE_SECONDS = 0.05
MB = 1e6


# --- the site ------------------------------------------------------------------------------

def site_key(spec: SiteSpec) -> str:
    return (f"pages{spec.pages}-images{spec.images}-depth{spec.depth}-min{spec.min_image_bytes}"
            f"-max{spec.max_image_bytes}-seed{spec.seed}")


def ensure_site(spec: SiteSpec) -> tuple[Path, dict]:
    """The cached site for spec (generated on first use) and its truth."""
    root = BENCH / ".site" / site_key(spec)
    truth_file = root / "truth.json"
    if not truth_file.is_file():
        tmp = root.with_name(root.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        started = time.monotonic()
        print(f"generating the site {site_key(spec)} (once; cached in {root.parent}) ...", flush=True)
        generate_site(tmp, spec)
        shutil.rmtree(root, ignore_errors=True)
        os.rename(tmp, root)  # complete or absent: truth.json is written last
        print(f"  done in {time.monotonic() - started:.1f} s", flush=True)
    return root, json.loads(truth_file.read_text("utf-8"))


# --- measuring a command -------------------------------------------------------------------

def _tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc] + proc.children(recursive=True)
    except psutil.Error:
        return []


def measure(cmd: list[str], *, cwd: Path, log: Path, timeout: float) -> dict:
    """Run cmd; wall seconds, CPU seconds of the reaped process tree, peak tree RSS, exit code.

    CPU comes from getrusage(RUSAGE_CHILDREN) before and after: it counts every descendant
    that was waited for (each process's own children are folded into it when it reaps them).
    `cpu_sampled` is psutil's last reading of each process seen in the tree: a lower bound
    (it misses the last <= 50 ms of each process) that checks the getrusage figure.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = {"rss": 0, "procs": 0}
    cpu_seen: dict[tuple[int, float], float] = {}
    stop = threading.Event()
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        popen = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            root = psutil.Process(popen.pid)
        except psutil.Error:
            root = None

        def sample() -> None:
            while root is not None:
                rss = 0
                procs = _tree(root)
                for p in procs:
                    try:
                        with p.oneshot():
                            rss += p.memory_info().rss
                            t = p.cpu_times()
                            cpu_seen[(p.pid, p.create_time())] = t.user + t.system
                    except psutil.Error:
                        pass
                if rss > peak["rss"]:
                    peak["rss"], peak["procs"] = rss, len(procs)
                if stop.wait(SAMPLE_SECONDS):
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            code = popen.wait(timeout)
        except subprocess.TimeoutExpired:
            for p in reversed(_tree(root) if root else []):
                try:
                    p.kill()
                except psutil.Error:
                    pass
            popen.wait()
            code = "timeout"
        wall = time.perf_counter() - t0
        stop.set()
        sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "cpu_sampled_s": sum(cpu_seen.values()), "procs_seen": len(cpu_seen),
            "peak_rss_mb": peak["rss"] / MB, "peak_procs": peak["procs"], "exit": code}


# --- finding what each tool stored ---------------------------------------------------------

def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _wget_escape(rel: str) -> str:
    """wget's --restrict-file-names=unix: bytes 0-31 and 128-159 become %XX, the rest stays."""
    out = []
    for b in rel.encode("utf-8"):
        out.append(f"%{b:02X}" if b < 32 or 128 <= b < 160 else chr(b))
    return "".join(out).encode("latin-1").decode("utf-8", "surrogateescape")


def stored_files(tool: str, out: Path, base_url: str, truth: dict) -> dict[str, Path | None]:
    """truth relpath -> the file the tool's layout says it is stored in (None: not recorded)."""
    urls = {rel: base_url + quote(rel) for rel in truth["images"]}
    if tool in OURS:
        recs = {}
        manifest = out / "manifest.jsonl"
        if manifest.is_file():
            for line in manifest.read_text("utf-8").splitlines():
                if line.strip():
                    rec = json.loads(line)
                    recs[rec["url"]] = rec
        found = {}
        for rel, url in urls.items():
            rec = recs.get(url)
            found[rel] = out / rec["path"] if rec and rec.get("ok") and rec.get("path") else None
        return found
    if tool == "classic":
        # classic names a file sha1(URL) + the URL path's extension, the URL being
        # urljoin(page, src): resolved, percent-encoding kept as in the HTML, which is how
        # the site writes it (quote(relpath), upper-case escapes), so the same as ours.
        return {rel: out / (hashlib.sha1(url.encode()).hexdigest() + os.path.splitext(urlparse(url).path)[1])
                for rel, url in urls.items()}
    if tool == "wget":
        host = urlparse(base_url).netloc  # wget mirrors into OUT/host:port/path, decoded
        found = {}
        for rel in truth["images"]:
            p = out / host / rel
            if not p.exists():
                alt = out / host / _wget_escape(rel)
                p = alt if alt.exists() else p
            found[rel] = p
        return found
    raise ValueError(tool)


def evaluate(tool: str, out: Path, base_url: str, truth: dict, sizes: dict[str, int],
             trap: traps.Traps | None = None) -> dict:
    found = stored_files(tool, out, base_url, truth)
    correct, wrong, missing, nbytes = 0, [], [], 0
    for rel, sha in truth["images"].items():
        path = found.get(rel)
        got = _sha256(path) if path is not None else None
        if got == sha:
            correct += 1
            nbytes += sizes[rel]
        elif got is None:
            missing.append(rel)
        else:
            wrong.append(rel)
    # the same bytes stored under a name the layout above does not predict: a bookkeeping
    # problem of this harness (or the tool), not a missed image
    elsewhere = 0
    if missing:
        want = {truth["images"][rel] for rel in missing}
        for p in out.rglob("*"):
            if p.is_file() and p.stat().st_size and _sha256(p) in want:
                elsewhere += 1
    result = {"correct": correct, "total": len(truth["images"]), "bytes": nbytes, "wrong": len(wrong),
              "missing": len(missing), "missing_sample": sorted(missing)[:8], "stored_elsewhere": elsewhere}
    if tool in OURS:
        result["traps"] = check_traps(out, base_url, truth, trap)
    return result


def check_traps(out: Path, base_url: str, truth: dict, trap: traps.Traps | None = None) -> dict:
    recs = {}
    manifest = out / "manifest.jsonl"
    if manifest.is_file():
        for line in manifest.read_text("utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                recs[rec["url"]] = rec
    problems = []
    for rel in truth["broken"]:
        rec = recs.get(base_url + quote(rel))
        if rec is None:
            problems.append(f"broken {rel}: not in the manifest")
        elif rec.get("ok") or rec.get("status") != 404:
            problems.append(f"broken {rel}: ok={rec.get('ok')} status={rec.get('status')}")
    for rel in truth["not_images"]:
        rec = recs.get(base_url + quote(rel))
        if rec is None:
            problems.append(f"not-image {rel}: not in the manifest")
        elif rec.get("ok") or rec.get("reason") != "not-an-image":
            problems.append(f"not-image {rel}: ok={rec.get('ok')} reason={rec.get('reason')}")
    if trap is not None:
        problems += trap.check(recs, out)
    return {"ok": not problems, "problems": problems}


# --- running the tools ---------------------------------------------------------------------

def command(tool: str, start_url: str, out: Path, work: Path, workers: int = WORKERS) -> list[str]:
    if tool in OURS:  # base runs from its own checkout (cwd), so `-m crawler` is its code
        seeds = work / "seeds.txt"
        seeds.write_text(start_url + "\n")
        tls = tls_arguments(work.parent) if tool == "ours-tls" else []
        # --allow-private: the traps' refusing image host is another loopback address
        return [sys.executable, "-m", "crawler", "run", str(seeds), "--workers", str(workers), "--out", str(out),
                "--fresh", "--max-depth", "10", "--allow-private", "-q", *tls]
    if tool == "classic":
        return [sys.executable, str(BENCH / "classic.py"), start_url, str(out), "--workers", str(workers)]
    if tool == "wget":
        return [shutil.which("wget") or "wget", "-r", "-l", "inf", "-np", "-nv", "-e", "robots=off",
                "-A", "jpg,jpeg,png,gif,bmp", "-P", str(out), start_url]
    raise ValueError(tool)


def tls_arguments(folder: Path) -> list[str]:
    """--tls-cert/--tls-key for 127.0.0.1, made once per benchmark run (trustme: the test extra)."""
    cert, key = folder / "tls-cert.pem", folder / "tls-key.pem"
    if not cert.exists():
        import trustme
        issued = trustme.CA().issue_cert("127.0.0.1")
        issued.cert_chain_pems[0].write_to_path(str(cert))
        issued.private_key_pem.write_to_path(str(key))
        key.chmod(0o600)
    return ["--tls-cert", str(cert), "--tls-key", str(key)]


def run_one(tool: str, server: servers.Server, root: Path, truth: dict, sizes: dict[str, int], work: Path,
            timeout: float, keep: bool, answers_log: Path | None = None) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix=f"{tool}-", dir=work))
    out = run_dir / "out"
    with traps.Traps(root, urlparse(server.base_url).hostname) as trap:  # the start page links them
        cmd = command(tool, server.base_url + traps.PAGE, out, run_dir)
        started = time.monotonic()
        m = measure(cmd, cwd=BASELINE.get(tool, REPO), log=run_dir / "log.txt", timeout=timeout)
        if answers_log is not None:
            m.update(server_side(answers_log, started, time.monotonic(), m["wall_s"]))
        ev = evaluate(tool, out, server.base_url, truth, sizes, trap)
    m.update(ev)
    # wget exits 8 when some URL answered 4xx/5xx and 4 when some could not be reached, which
    # the site's broken links and traps do on purpose
    m["exit_ok"] = m["exit"] == 0 or (tool == "wget" and m["exit"] in (4, 8))
    log_text = (run_dir / "log.txt").read_text("utf-8", "replace")
    if not m["exit_ok"] or tool != "wget":  # wget -nv logs every file: only kept when it failed
        m["log_tail"] = log_text[-2000:]
    c = m["correct"]
    m["images_per_s"] = c / m["wall_s"] if m["wall_s"] else 0.0
    m["mb_per_s"] = m["bytes"] / MB / m["wall_s"] if m["wall_s"] else 0.0
    m["cpu_ms_per_image"] = m["cpu_s"] * 1000 / c if c else float("inf")
    # getrusage must include the whole tree: it can only be below psutil's lower bound if
    # some descendant was never reaped (its CPU would then be missing)
    m["cpu_check_ok"] = m["cpu_s"] >= 0.9 * m["cpu_sampled_s"] - 0.05
    if not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        m["dir"] = str(run_dir)
    return m


def server_side(answers_log: Path, start: float, end: float, wall: float) -> dict:
    """What the delay server saw of one run: requests answered, the most in its hands at once,
    and the efficiency against what --per-host allows: requests x DELAY / per-host / wall
    (1.0: the per-host budget was busy all the time; with jitter DELAY is the mean hold)."""
    time.sleep(0.5)  # the server writes its log every 0.2 s
    try:
        held = servers.read_log(answers_log)
    except (OSError, ValueError):
        return {}
    load = servers.load_between(held, start, end)
    load["efficiency"] = load["requests"] * DELAY / crawler_config.DEFAULT_PER_HOST / wall if wall else 0.0
    return load


# --- reporting -----------------------------------------------------------------------------

METRICS = (("images_per_s", "images/s", "{:.0f}"), ("mb_per_s", "MB/s", "{:.1f}"),
           ("cpu_ms_per_image", "CPU ms/img", "{:.2f}"), ("peak_rss_mb", "peak RSS MB", "{:.0f}"))


def summarize(runs: list[dict]) -> dict:
    s = {"rounds": len(runs)}
    for key in ("correct", "wall_s", "cpu_s", *[k for k, _, _ in METRICS]):
        vals = [r[key] for r in runs]
        s[key] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
    for key in ("requests", "peak_in_flight", "efficiency"):  # the delay scenarios' server side
        vals = [r[key] for r in runs if key in r]
        if vals:
            s[key] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
    s["total"] = runs[0]["total"]
    s["all_exit_ok"] = all(r["exit_ok"] for r in runs)
    s["cpu_check_ok"] = all(r["cpu_check_ok"] for r in runs)
    return s


def _cell(stat: dict, fmt: str) -> str:
    med, lo, hi = (fmt.format(stat[k]) for k in ("median", "min", "max"))
    return f"{med} ({lo}-{hi})"


def print_table(name: str, scen: dict) -> None:
    summ = scen["summary"]
    rows = [["tool", "images correct", *[label for _, label, _ in METRICS], "wall s"]]
    for tool, s in summ.items():
        c = s["correct"]
        correct = f"{c['median']:.0f}/{s['total']}" + ("" if c["min"] == c["max"] else f" ({c['min']}-{c['max']})")
        rows.append([tool, correct, *[_cell(s[k], fmt) for k, _, fmt in METRICS], _cell(s["wall_s"], "{:.1f}")])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(f"\n== {name}: {scen['server']}, {scen['rounds']} round(s), median (min-max) ==")
    for i, r in enumerate(rows):
        cells = enumerate(zip(r, widths, strict=True))
        print("  " + "  ".join(cell.ljust(w) if j < 2 else cell.rjust(w) for j, (cell, w) in cells))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))
    for tool in scen["skipped"]:
        print(f"  {tool}: missing, skipped")
    for peer, r in scen["ratios"].items():
        print(f"  ours vs {peer}: {r['images_per_s']:.2f}x the images/s, {r['cpu_per_image']:.2f}x the CPU per image"
              f" ({'less' if r['cpu_per_image'] < 1 else 'more'} CPU), {r['peak_rss']:.2f}x the peak RSS")
    for tool, s in summ.items():
        if "efficiency" in s:
            print(f"  {tool} at the server: {_cell(s['requests'], '{:.0f}')} requests, at most "
                  f"{s['peak_in_flight']['max']} in flight at once; requests x {DELAY * 1000:.0f} ms"
                  f"{' (mean)' if JITTER[name] else ''} / --per-host {crawler_config.DEFAULT_PER_HOST} / wall = "
                  f"{_cell({k: 100 * v for k, v in s['efficiency'].items()}, '{:.0f}')}%")
    if "ceiling" in scen:
        c = scen["ceiling"]
        print(f"  ceiling: {c['in_flight']} downloads in flight (min({WORKERS} workers x {c['threads']} threads, "
              f"--per-host {c['per_host']})) / {DELAY * 1000:.0f} ms{' (mean)' if JITTER[name] else ''} = "
              f"{c['images_per_s']:.0f} images/s; "
              f"ours reaches {c['ours_percent']:.0f}% of it")
    for note in scen["notes"]:
        print(f"  note: {note}")


def notes_for(tool: str, runs: list[dict]) -> list[str]:
    notes = []
    last = runs[-1]
    if last["missing"] or last["wrong"]:
        msg = (f"{tool} missed {last['missing']} and stored {last['wrong']} wrong of {last['total']} "
               f"(e.g. {', '.join(last['missing_sample'][:3])})")
        if last["stored_elsewhere"]:
            msg += f"; {last['stored_elsewhere']} of the missed ones' bytes are stored under another name"
        notes.append(msg)
    for r in runs:
        if not r["exit_ok"]:
            notes.append(f"{tool} exited with {r['exit']}: {r.get('log_tail', '')[-300:]!r}")
        if not r["cpu_check_ok"]:
            notes.append(f"{tool}: getrusage CPU {r['cpu_s']:.2f} s is below psutil's sampled "
                         f"{r['cpu_sampled_s']:.2f} s: some process was not reaped, its CPU is missing")
        if tool in OURS and not r["traps"]["ok"]:
            notes.append(f"{tool} traps: " + "; ".join(r["traps"]["problems"]))
    return sorted(set(notes), key=notes.index)


def run_scenario(name: str, root: Path, truth: dict, sizes: dict[str, int], tools: list[str], rounds: int,
                 work: Path, timeout: float, keep: bool, allow_python: bool = True) -> dict:
    if name == "loopback":
        nginx = servers.find_nginx(install=True)
        if nginx:
            server = servers.start_nginx(root, nginx)
        elif allow_python:
            server = servers.start_python(root)
        else:
            raise SystemExit("nginx is not installed and --no-python-fallback was given")
    else:
        answers_log = work / f"{name}-answers.json"
        server = servers.start_delay(root, DELAY, jitter=JITTER[name], log_path=answers_log)
    print(f"\n[{name}] server: {server.kind} at {server.base_url}", flush=True)
    runs: dict[str, list[dict]] = {t: [] for t in tools}
    try:
        for rnd in range(1, rounds + 1):
            for tool in tools:
                r = run_one(tool, server, root, truth, sizes, work, timeout, keep,
                            None if name == "loopback" else answers_log)
                r["round"] = rnd
                runs[tool].append(r)
                print(f"  round {rnd} {tool:8s} {r['correct']:5d}/{r['total']} images  {r['wall_s']:7.2f} s wall  "
                      f"{r['cpu_s']:6.2f} s CPU  {r['peak_rss_mb']:6.0f} MB peak RSS  exit {r['exit']}", flush=True)
    finally:
        server.stop()
    summary = {t: summarize(runs[t]) for t in tools}
    scen = {"server": server.kind, "base_url": server.base_url, "rounds": rounds, "runs": runs,
            "summary": summary, "skipped": [t for t in TOOLS if t not in tools], "ratios": {}, "notes": []}
    if "ours" in tools:
        o = summary["ours"]
        for peer in tools:
            if peer == "ours":
                continue
            p = summary[peer]
            scen["ratios"][peer] = {
                "images_per_s": (o["images_per_s"]["median"] / p["images_per_s"]["median"]
                                 if p["images_per_s"]["median"] else float("inf")),
                "cpu_per_image": o["cpu_ms_per_image"]["median"] / p["cpu_ms_per_image"]["median"],
                "peak_rss": o["peak_rss_mb"]["median"] / p["peak_rss_mb"]["median"],
            }
        if name in JITTER:
            threads, per_host = crawler_config.DEFAULT_THREADS, crawler_config.DEFAULT_PER_HOST
            in_flight = min(WORKERS * threads, per_host)
            ceiling = in_flight / DELAY
            scen["ceiling"] = {"threads": threads, "per_host": per_host, "in_flight": in_flight,
                               "images_per_s": ceiling,
                               "ours_percent": 100 * o["images_per_s"]["median"] / ceiling}
    for t in tools:
        scen["notes"] += notes_for(t, runs[t])
    return scen


def git_state(repo: Path = REPO) -> dict:
    """The commit the crawler code is at (other work may change it between runs)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown",
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", "crawler"))}


def default_out_root() -> Path:
    """/dev/shm where it is a writable tmpfs, else the system's temporary folder."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and filesystem_of(shm) == "tmpfs":
        return shm
    return Path(tempfile.gettempdir())


def filesystem_of(path: Path) -> str:
    """The type of the filesystem path is on, from /proc/mounts (longest mount point wins)."""
    try:
        mounts = [line.split()[:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "unknown"
    real = os.path.realpath(path)
    best = max((m for m in mounts if len(m) == 3 and (real == m[1] or real.startswith(m[1].rstrip("/") + "/"))),
               key=lambda m: len(m[1]), default=None)
    return best[2] if best else "unknown"


def byte_compile(repo: Path) -> str:
    """Compile the crawler package's bytecode once, before any timed run, and say why.

    Each tool should run as it does on a user's machine after its first run. The libraries
    classic and ours import were byte-compiled by pip when they were installed; the crawler
    itself is installed editable, so its bytecode is written on its first run, unless
    PYTHONDONTWRITEBYTECODE is set (it is on the project's VM), in which case every run of
    ours compiled about ten modules from source (about 40 ms of CPU per run, measured with
    /usr/bin/time on `import crawler.cli.commands, crawler.master, crawler.worker, crawler.cli.local`).
    """
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(repo / "crawler")], check=True,
                   stdout=subprocess.DEVNULL)
    env = " (PYTHONDONTWRITEBYTECODE is set here, so runs would not cache it themselves)" \
        if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""
    return f"byte-compiled {repo / 'crawler'} before timing, as a first run or pip would{env}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="runs of each tool per scenario (default: %(default)s)")
    ap.add_argument("--scenario", choices=("loopback", "delay50", "jitter50", "both", "all"), default="both",
                    help="both: loopback and delay50; all: the three (default: %(default)s)")
    ap.add_argument("--quick", action="store_true", help="a small site (20 pages, 100 images): a smoke run")
    ap.add_argument("--tools", default=",".join(TOOLS),
                    help=f"comma-separated subset of %(default)s, or {', '.join(EXTRA_TOOLS)} (our crawler over TLS)")
    ap.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                    help="also run ours as checked out in DIR (e.g. `git worktree add DIR main`), as the tool "
                         "'base', interleaved with the others: before and after a change in one run")
    ap.add_argument("--keep", action="store_true", help="keep each run's output folder (printed in the JSON)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds one run may take (default: 120 quick, 1200 full)")
    ap.add_argument("--json", type=Path, default=BENCH / "results" / "latest.json", help="where to write the results")
    ap.add_argument("--out-root", type=Path, default=None,
                    help="folder the tools write into (default: a RAM-backed tmpfs, /dev/shm, where there is one, "
                         "so that the disk's per-file costs do not swamp the tools' own; "
                         "give e.g. /tmp to include them)")
    a = ap.parse_args(argv)

    spec = QUICK_SPEC if a.quick else FULL_SPEC
    root, truth = ensure_site(spec)
    sizes = {rel: (root / rel).stat().st_size for rel in truth["images"]}
    total_mb = sum(sizes.values()) / MB
    print(f"site: {len(truth['pages'])} pages, {len(truth['images'])} images ({total_mb:.1f} MB), "
          f"{len(truth['broken'])} broken image links, {len(truth['not_images'])} non-image; {root}")

    tools = [t for t in a.tools.split(",") if t]
    if a.baseline is not None:
        BASELINE["base"] = a.baseline.resolve()
        tools.insert(tools.index("ours") + 1 if "ours" in tools else 0, "base")
        print(f"baseline 'base': {BASELINE['base']} at commit {git_state(BASELINE['base'])['commit']}")
    if "wget" in tools and not shutil.which("wget"):
        print("wget: missing (not on PATH), skipped")
        tools.remove("wget")
    groups = {"both": ["loopback", "delay50"], "all": ["loopback", "delay50", "jitter50"]}
    scenarios = groups.get(a.scenario, [a.scenario])
    timeout = a.timeout or (120.0 if a.quick else 1200.0)
    results = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": sys.version.split()[0],
               "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
               "site": {"spec": asdict(spec), "key": site_key(spec), "images": len(truth["images"]),
                        "megabytes": total_mb, "pages": len(truth["pages"])},
               "git": git_state(), "workers": WORKERS, "scenarios": {},
               "baseline": {str(p): git_state(p) for p in BASELINE.values()}}
    dirty = " + uncommitted changes" if results["git"]["dirty"] else ""
    print(f"crawler code: commit {results['git']['commit']}{dirty}")
    print(byte_compile(REPO))
    for extra in BASELINE.values():
        print(byte_compile(extra))
    out_root = a.out_root or default_out_root()
    work = Path(tempfile.mkdtemp(prefix="crawler-bench-", dir=out_root))
    results["out_root"] = {"path": str(out_root), "filesystem": filesystem_of(work)}
    print(f"output under {work} ({results['out_root']['filesystem']})")
    try:
        for name in scenarios:
            results["scenarios"][name] = run_scenario(name, root, truth, sizes, tools, a.rounds, work,
                                                      timeout, a.keep)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    for name, scen in results["scenarios"].items():
        print_table(name, scen)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"\nresults: {a.json}")
    bad = [f"{n}/{t}" for n, s in results["scenarios"].items() for t, v in s["summary"].items() if not v["all_exit_ok"]]
    if bad:
        print(f"some runs failed: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
