"""Memory of the master's image frontier: feed N distinct image URLs to Master._add_image
without any network and report the RSS growth.

    python bench/frontier_memory.py [--count 1000000] [--limit-mb 500] [--trace 100000]

Builds a `crawler.master.Master` (not started: no server, no pages), gives its CrawlRecord
the journal (`OUT/.crawler/state.sqlite`) and calls `_add_image(url, page, source)` for URLs like
`http://img{i % 50}.example/a/b/{i}.jpg`, committing the journal every 0.5 s as the master's
loop does. Prints one line, `frontier: 1,000,000 image URLs, RSS +412 MB, 9.1 s`, and exits 1
if the growth is at least --limit-mb. Then (or always, with --trace N) it traces N URLs
with tracemalloc and prints which structures hold the memory, scaled to --count.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler.config import CrawlConfig  # noqa: E402
from crawler.master import Master  # noqa: E402
from crawler.store.journal import Journal  # noqa: E402

PAGE = "http://site.example/"
SOURCES = ("img", "srcset", "picture", "data-src")
"""How each image was found, as extraction names it. Each call gets a new string object, as
each result unpickled from a page-parsing process has: the master must intern them."""
MB = 1 << 20


def url_of(i: int) -> str:
    return f"http://img{i % 50}.example/a/b/{i}.jpg"


def make_master(tmp: Path) -> Master:
    cfg = CrawlConfig(seeds=("http://site.example/",), out=tmp, ignore_robots=True)
    m = Master(cfg, b"frontier-memory-benchmark-key-0123456789", ("127.0.0.1", 0))
    m.record.journal = Journal(tmp / ".crawler" / "state.sqlite")
    return m


def feed(m: Master, count: int) -> None:
    add, journal = m._add_image, m.record.journal
    for i in range(count):
        add(url_of(i), PAGE, "".join(SOURCES[i % 4]))
        if i % 1000 == 999:
            journal.maybe_commit()  # the master's loop commits every 0.5 s
    journal.commit()


def rss() -> int:
    gc.collect()
    return psutil.Process().memory_info().rss


def measure(count: int) -> tuple[int, float]:
    with tempfile.TemporaryDirectory(prefix="frontier-") as tmp:
        m = make_master(Path(tmp))
        before = rss()
        t0 = time.perf_counter()
        feed(m, count)
        took = time.perf_counter() - t0
        grown = rss() - before
        m.record.journal.close()
    return grown, took


def _owner(m: Master, sizes: dict[int, int]) -> list[tuple[str, int]]:
    """Bytes reachable from each of the master's big containers (deep, shared counted once per owner)."""
    import sys as _sys

    def deep(obj, seen):
        total, stack = 0, [obj]
        while stack:
            o = stack.pop()
            if id(o) in seen:
                continue
            seen.add(id(o))
            total += _sys.getsizeof(o)
            if isinstance(o, dict):
                stack.extend(o.keys())
                stack.extend(o.values())
            elif isinstance(o, (list, tuple, set, frozenset)) or type(o).__name__ in ("deque", "OrderedDict"):
                stack.extend(o.values() if hasattr(o, "values") and not isinstance(o, (list, tuple, set)) else o)
                if hasattr(o, "keys") and not isinstance(o, (list, tuple, set)):
                    stack.extend(o.keys())
        return total

    out, seen = [], set()
    candidates = {f"Master.{k}": v for k, v in vars(m).items()}
    for part in ("ledger", "frontier", "desk", "sitemaps", "jobs"):  # the master's parts (crawler/master/)
        candidates.update({f"{type(getattr(m, part)).__name__}.{k}": v for k, v in vars(getattr(m, part)).items()})
    candidates.update({f"TaskBoard.{k}": v for k, v in vars(m.board).items()})
    candidates.update({f"Journal.{k}": v for k, v in vars(m.record.journal).items()})
    for name, v in candidates.items():
        if isinstance(v, (dict, list, set, tuple)) or type(v).__name__ in ("deque", "OrderedDict", "defaultdict"):
            n = deep(v, seen)
            if n > 1 << 16:
                out.append((name, n))
    return sorted(out, key=lambda x: -x[1])


def trace(n: int, count: int) -> None:
    """Where the memory goes, from tracemalloc on n URLs, scaled to count."""
    scale = count / n
    with tempfile.TemporaryDirectory(prefix="frontier-trace-") as tmp:
        m = make_master(Path(tmp))
        tracemalloc.start(8)
        snap0 = tracemalloc.take_snapshot()
        feed(m, n)
        snap1 = tracemalloc.take_snapshot()
        tracemalloc.stop()
        stats = snap1.compare_to(snap0, "lineno")
        total = sum(s.size_diff for s in stats)
        print(f"tracemalloc on {n:,} URLs: {total / MB:.1f} MB of Python objects "
              f"(x{scale:.0f} = {total * scale / MB:.0f} MB for {count:,}); the largest allocation sites:")
        for s in stats[:8]:
            if s.size_diff <= 0:
                continue
            fr = s.traceback[0]
            print(f"  {s.size_diff * scale / MB:7.1f} MB  {s.count_diff:>9,} blocks  "
                  f"{Path(fr.filename).name}:{fr.lineno}")
        print("held by (deep size of each container, objects shared between them counted in the first):")
        for name, size in _owner(m, {})[:8]:
            print(f"  {size * scale / MB:7.1f} MB  {name}")
        m.record.journal.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1_000_000, help="distinct image URLs (default: %(default)s)")
    ap.add_argument("--limit-mb", type=float, default=500.0, help="fail at this RSS growth (default: %(default)s)")
    ap.add_argument("--trace", type=int, default=0, metavar="N",
                    help="also break the memory down with tracemalloc on N URLs "
                         "(default: only when over the limit, on 100,000)")
    a = ap.parse_args(argv)
    grown, took = measure(a.count)
    print(f"frontier: {a.count:,} image URLs, RSS {grown / MB:+,.0f} MB, {took:.1f} s "
          f"({grown / a.count:,.0f} bytes per URL)", flush=True)
    over = grown / MB >= a.limit_mb
    if over:
        print(f"over the {a.limit_mb:.0f} MB limit by {grown / MB - a.limit_mb:,.0f} MB")
    if a.trace or over:
        trace(a.trace or min(100_000, a.count), a.count)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
