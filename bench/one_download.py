"""CPU per image download in one thread, by HTTP layer, against nginx on the benchmark site.

    python bench/one_download.py [--count 500] [--rounds 3]

Downloads the first --count images of the cached benchmark site (bench/run.py generates
it) over one keep-alive connection, reading each body in 64 kB chunks, and prints the
median CPU milliseconds per image (user + system of this process) of:

  requests      requests.Session.get(stream=True), iter_content: what a requests user writes
  urllib3       urllib3.PoolManager.request(preload_content=False), stream: under requests
  http.client   http.client.HTTPConnection, bare: under urllib3
  ours: fetch   crawler.net.fetch.open_body: requests' HTTPAdapter with the SSRF guard in its
                connections, redirects, caps, decoding (crawler/net/transport.py)
  ours: worker  crawler.worker.download (fetch + type sniffing + sha256 + atomic file
                + content index + result record), into a tmpfs folder where there is one

So the rows say what each layer under our fetch costs, and what our path through requests
saves against the plain Session.get a requests user writes.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import resource
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote, urlsplit

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import run as bench_run  # noqa: E402
import servers  # noqa: E402

from crawler import config, worker  # noqa: E402
from crawler.net import fetch  # noqa: E402
from crawler.net.netguard import NetPolicy  # noqa: E402
from crawler.store import contentindex  # noqa: E402

CHUNK = 64 * 1024


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def layers(base: str, out: Path):
    host, port = urlsplit(base).hostname, urlsplit(base).port
    policy = NetPolicy(frozenset({host}))
    found = {}
    import requests
    import urllib3
    session = requests.Session()

    def with_requests(url):
        with session.get(url, stream=True, timeout=10) as r:
            for _ in r.iter_content(CHUNK):
                pass
    found["requests"] = with_requests
    pool = urllib3.PoolManager(maxsize=1)

    def with_urllib3(url):
        r = pool.request("GET", url, preload_content=False, redirect=False)
        for _ in r.stream(CHUNK):
            pass
        r.release_conn()
    found["urllib3"] = with_urllib3
    conn = http.client.HTTPConnection(host, port)

    def with_http_client(url):
        conn.request("GET", urlsplit(url).path)
        r = conn.getresponse()
        while r.read(CHUNK):
            pass
    found["http.client"] = with_http_client
    client = fetch.new_client("bench", policy)

    def with_fetch(url):
        with fetch.open_body(client, url, max_bytes=10**8, timeout=10) as body:
            for _ in body.rest():
                pass
    found["ours: fetch"] = with_fetch
    cfg = config.WorkerConfig(address=("127.0.0.1", 1), out=out, name="bench")
    ids = itertools.count(1)

    def with_worker(url):
        task = {"id": next(ids), "url": url, "max_bytes": 10**8, "timeout": 10, "retries": 0}
        result = worker.download(task, cfg, client)
        if not result["ok"]:
            raise RuntimeError(result["error"])
    found["ours: worker"] = with_worker
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    root, truth = bench_run.ensure_site(bench_run.FULL_SPEC)
    binary = servers.find_nginx()
    server = servers.start_nginx(root, binary) if binary else servers.start_python(root)
    urls = [server.base_url + quote(rel) for rel in sorted(truth["images"])[:args.count + 1]]
    work = Path(tempfile.mkdtemp(prefix="one-download-", dir=bench_run.default_out_root()))
    print(f"server: {server.kind}; {args.count} images, {args.rounds} rounds; files under {work}")
    results: dict[str, list[float]] = {}
    try:
        for _ in range(args.rounds):
            for name, fn in layers(server.base_url, work).items():
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir()
                contentindex._index_folders.clear()
                fn(urls[0])  # connect, warm up
                t = cpu()
                for url in urls[1:]:
                    fn(url)
                results.setdefault(name, []).append((cpu() - t) * 1000 / args.count)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    for name, values in results.items():
        print(f"  {name:14s} {statistics.median(values):.3f} ms CPU per image "
              f"(min {min(values):.3f}, max {max(values):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
