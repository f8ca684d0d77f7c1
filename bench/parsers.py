"""Which BeautifulSoup tree builder extraction should use: the shape table and the time.

    python bench/parsers.py [--pages 40] [--rounds 3] [--real DIR]

For each builder: how many rows of the shape table (tests/shapes.py, with --srcset all and
largest) its tree gets right, and the CPU milliseconds per page of parsing plus extraction
(crawler.page.extract.extract_tree) on --pages generated pages (bench/pagegen.py: 90 kB, 850
elements, 100 links, 47 images each), the builders interleaved page by page, median over
pages and rounds. `--real DIR` also times every *.html in DIR and counts the pages whose
links or images differ from html5lib's tree (the standard's, built slowly).

Builders: lxml.etree alone (the tree the extraction walked before, without bs4: the floor),
bs4 with lxml, html.parser and html5lib (`pip install html5lib`; skipped if missing), and
ours (crawler.page.htmltree). The numbers go to bench/README.md.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bs4 import BeautifulSoup  # noqa: E402
from pagegen import realistic_page  # noqa: E402

from crawler.page import charset, htmltree  # noqa: E402
from crawler.page.extract import extract_tree  # noqa: E402
from crawler.rules.urls import normalize_url  # noqa: E402
from tests.shapes import SHAPES  # noqa: E402

PAGE = "http://site.example/dir/page.html"


def _lxml_alone(text: str):
    import lxml.etree
    parser = lxml.etree.HTMLParser(collect_ids=False, remove_comments=True, remove_pis=True)
    root = lxml.etree.fromstring(text.encode("utf-8", "replace"), parser)
    for el in root.iter():  # the old walk read every element's attributes
        el.keys()
    return None


def builders() -> dict:
    kw = {"multi_valued_attributes": None}
    out = {
        "lxml.etree alone": _lxml_alone,
        "bs4 + lxml": lambda t: BeautifulSoup(t, "lxml", **kw),
        "bs4 + html.parser": lambda t: BeautifulSoup(t, "html.parser", on_duplicate_attribute="ignore", **kw),
    }
    try:
        import html5lib  # noqa: F401
        out["bs4 + html5lib"] = lambda t: BeautifulSoup(t, "html5lib", **kw)
    except ImportError:
        print("html5lib is not installed (pip install html5lib): skipping it")
    out["ours (htmltree)"] = lambda t: htmltree.parse(t)[0]
    return out


def shape_rows(build) -> tuple[int, int]:
    """(rows right with --srcset all, rows right with --srcset largest)."""
    ok_all = ok_largest = 0
    for row in SHAPES:
        res = [normalize_url(u, PAGE) for u in row.must]
        got = [i.url for i in extract_tree(build(row.html), PAGE).images]
        bad = [normalize_url(u, PAGE) for u in row.must_not]
        ok_all += all(u in got for u in res) and not any(u in got for u in bad)
        want = [normalize_url(u, PAGE) for u in (row.largest if row.largest is not None else row.must)]
        ok_largest += [i.url for i in extract_tree(build(row.html), PAGE, srcset="largest").images] == want
    return ok_all, ok_largest


def time_pages(builds: dict, texts: list[str], rounds: int) -> dict[str, list[float]]:
    """CPU seconds per page (parse + extract), builders interleaved page by page."""
    times: dict[str, list[float]] = {name: [] for name in builds}
    gc.freeze()
    for _ in range(rounds):
        for text in texts:
            for name, build in builds.items():
                t0 = time.process_time()
                tree = build(text)
                if tree is not None:
                    extract_tree(tree, PAGE)
                times[name].append(time.process_time() - t0)
                del tree
                gc.collect()
    return times


def differing(builds: dict, texts: list[str]) -> dict[str, int]:
    """Pages whose links or images differ from those of html5lib's tree."""
    ref_build = builds.get("bs4 + html5lib")
    if ref_build is None:
        return {}
    refs = []
    for text in texts:
        r = extract_tree(ref_build(text), PAGE)
        refs.append((set(r.links), {i.url for i in r.images}))
    out = {}
    for name, build in builds.items():
        if name in ("lxml.etree alone", "bs4 + html5lib"):
            continue
        n = 0
        for text, (links, images) in zip(texts, refs, strict=True):
            e = extract_tree(build(text), PAGE)
            n += (set(e.links), {i.url for i in e.images}) != (links, images)
        out[name] = n
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=40, help="generated pages to time (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=3, help="times each page is parsed by each builder")
    ap.add_argument("--real", type=Path, default=None, metavar="DIR", help="also time the *.html pages in DIR")
    a = ap.parse_args(argv)
    builds = builders()
    texts = [realistic_page(i, pages=a.pages) for i in range(a.pages)]
    real = [charset.decode_html(p.read_bytes()) for p in sorted(a.real.glob("*.html"))] if a.real else []
    gen_times = time_pages(builds, texts, a.rounds)
    real_times = time_pages(builds, real, 1) if real else {}
    diffs = differing(builds, real) if real else {}
    n = len(SHAPES)
    real_pages = f"; real pages: {len(real)} of median {statistics.median(map(len, real)):,.0f} chars" if real else ""
    print(f"shape table: {n} rows; generated pages: {len(texts)} of median {statistics.median(map(len, texts)):,.0f} "
          f"chars" + real_pages)
    head = f"{'builder':<20} {'rows (all)':>10} {'rows (largest)':>14} {'ms/page generated':>18}"
    if real:
        head += f" {'ms/page real':>13} {'real pages differing':>21}"
    print(head)
    for name, build in builds.items():
        rows = shape_rows(build) if name != "lxml.etree alone" else None
        line = (f"{name:<20} {rows[0] if rows else '-':>10} {rows[1] if rows else '-':>14} "
                f"{statistics.median(gen_times[name]) * 1e3:>18.2f}")
        if real:
            line += f" {statistics.median(real_times[name]) * 1e3:>13.2f} {diffs.get(name, '-'):>21}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
