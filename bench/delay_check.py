"""What the 50 ms scenario's server allows a client with no overhead at all.

    python bench/delay_check.py [--requests 40] [--concurrency 1,8] [--quick]

Starts the delay server of bench/servers.py on the cached benchmark site and fetches its
images with bare http.client clients, one keep-alive connection each, at each
concurrency: prints the median and 90th percentile time per answer and the answers per
second. With 8 connections that rate, not the nominal 8 / 50 ms = 160/s, is the most any
crawler can reach on this server; pages take their share of it too.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run as bench_run  # noqa: E402
import servers  # noqa: E402


def measure(base: str, paths: list[str], concurrency: int, per_client: int) -> tuple[list[float], float]:
    host, port = urlsplit(base).hostname, urlsplit(base).port
    times: list[float] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        for i in range(per_client):
            t = time.perf_counter()
            conn.request("GET", paths[(k * per_client + i) % len(paths)])
            conn.getresponse().read()
            with lock:
                times.append(time.perf_counter() - t)
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, len(times) / (time.perf_counter() - started)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=40, help="requests per connection (default: %(default)s)")
    ap.add_argument("--concurrency", default="1,8", help="connection counts to try (default: %(default)s)")
    ap.add_argument("--quick", action="store_true", help="the small site of bench/run.py --quick")
    args = ap.parse_args()
    root, truth = bench_run.ensure_site(bench_run.QUICK_SPEC if args.quick else bench_run.FULL_SPEC)
    paths = ["/" + quote(rel) for rel in sorted(truth["images"])]
    server = servers.start_delay(root, bench_run.DELAY)
    try:
        for n in (int(c) for c in args.concurrency.split(",") if c):
            times, rate = measure(server.base_url, paths, n, args.requests)
            times.sort()
            print(f"{n} connection(s): median {statistics.median(times) * 1000:.2f} ms, "
                  f"p90 {times[int(len(times) * 0.9)] * 1000:.2f} ms, {rate:.1f} answers/s "
                  f"(nominal {n / bench_run.DELAY:.0f}/s)")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
