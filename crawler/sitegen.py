"""A deterministic site on disk with its ground truth: for the demo, the tests and the benchmark.

    python -m crawler.sitegen OUT_DIR [--pages N --images N --depth N --min-bytes N --max-bytes N --seed N]

Pages form a tree (fan-out 6, so 200 pages are 3 links deep) under folders several levels
deep; images are referenced in every way the crawler must handle (img src, srcset, picture,
data-src lazy loading, a href, og:image, inline style), shared across pages, with traps: a
broken image, a broken page link, a non-image named .jpg, a data: URL, mailto: and
javascript: links. `truth.json` lists every reachable image with its sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import posixpath
import random
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .imagegen import bmp, gif, image_of_size

FANOUT = 6
STYLES = ("img", "srcset", "picture", "data-src", "a-href", "style", "data-srcset", "og")


@dataclass
class SiteSpec:
    pages: int = 12
    images: int = 30
    depth: int = 3
    min_image_bytes: int = 2_000
    max_image_bytes: int = 30_000
    seed: int = 1


def _page_path(i: int, depth: int) -> str:
    if i == 0:
        return "index.html"
    chain = []
    node = i
    while node:
        chain.append(node)
        node = (node - 1) // FANOUT
    folders = [f"sec-{n}" for n in reversed(chain)][:depth]
    return "/".join(folders + [f"page-{i}.html"])


def _image_path(i: int, kind: str, depth: int, rng: random.Random) -> str:
    ext = {"jpeg": "jpg", "png": "png", "gif": "gif", "bmp": "bmp"}[kind]
    levels = [f"set-{i % 5}", f"group-{i % 3}", f"deep-{i % 2}", "more"][: max(0, (i % (depth + 1)))]
    name = f"photo-{i:04d}.{ext}"
    if i == 3:
        name = f"my photo {i}.{ext}"          # a space: percent-encoded in the pages
    elif i == 5:
        name = f"café-{i}.{ext}"              # non-ASCII: UTF-8 percent-encoded in the pages
    return "/".join(["img", *levels, name])


def _href(from_page: str, target: str, style: int) -> str:
    """A reference to target, relative (with ../) or root-relative, percent-encoded."""
    encoded = quote(target, safe="/")
    if style % 3 == 0:
        return "/" + encoded
    rel = posixpath.relpath(target, posixpath.dirname(from_page) or ".")
    return quote(rel, safe="/.")


def generate_site(root: Path, spec: SiteSpec) -> dict:
    """Write the site under root; return the ground truth (also written to root/truth.json)."""
    rng = random.Random(spec.seed)
    root.mkdir(parents=True, exist_ok=True)
    kinds = ["jpeg", "png", "gif"]
    images: list[tuple[str, bytes]] = []
    for i in range(spec.images):
        kind = "bmp" if i == 7 else kinds[i % 3]
        size = rng.randint(spec.min_image_bytes, spec.max_image_bytes)
        data = bmp(24, 16, spec.seed + i) if kind == "bmp" else image_of_size(kind, size, spec.seed * 100_003 + i)
        images.append((_image_path(i, kind, spec.depth, rng), data))
    placeholder = ("img/placeholder.gif", gif(4, 4, spec.seed))
    pages = [_page_path(i, spec.depth) for i in range(spec.pages)]

    # Every image goes on one page in one style, and about a third also appear on a second page.
    refs: dict[int, list[tuple[str, int]]] = {p: [] for p in range(spec.pages)}
    for i in range(len(images)):
        refs[i % spec.pages].append(("main", i))
        if i % 3 == 0:
            refs[rng.randrange(spec.pages)].append(("shared", i))

    for p, path in enumerate(pages):
        body = _page_html(p, path, pages, images, refs[p], placeholder[0], spec)
        _write(root / path, body.encode("utf-8"))
    for path, data in [*images, placeholder]:
        _write(root / path, data)
    _write(root / "img" / "fake.jpg", b"<!DOCTYPE html><html><body>Not an image</body></html>\n")

    truth = {
        "start": "index.html",
        "images": {path: hashlib.sha256(data).hexdigest() for path, data in sorted([*images, placeholder])},
        "broken": ["img/missing-1.png"],
        "not_images": ["img/fake.jpg"],
        "pages": pages,
    }
    (root / "truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return truth


def _page_html(p: int, path: str, pages: list[str], images: list, refs: list, placeholder: str,
               spec: SiteSpec) -> str:
    head = [f"<title>Page {p}</title>"]
    body = [f"<h1>Page {p}</h1>"]
    children = [c for c in range(FANOUT * p + 1, FANOUT * p + FANOUT + 1) if c < len(pages)]
    links = children + ([0] if p else []) + ([(p + 1) % len(pages)] if len(pages) > 1 else [])
    body.append("<nav>" + " ".join(f'<a href="{_href(path, pages[c], c)}">page {c}</a>' for c in links) + "</nav>")
    og_done = False
    for n, (role, i) in enumerate(refs):
        target = images[i][0]
        href = _href(path, target, i + n)
        style = STYLES[(i + (1 if role == "shared" else 0)) % len(STYLES)]
        if style == "og" and og_done:
            style = "img"
        if style == "img":
            body.append(f'<img src="{href}" alt="image {i}">')
        elif style == "srcset":
            body.append(f'<img src="{_href(path, placeholder, 1)}" srcset="{_href(path, placeholder, 2)} 1x, {href} 2x">')
        elif style == "picture":
            body.append(f'<picture><source srcset="{href} 800w" media="(min-width: 600px)">'
                        f'<img src="{_href(path, placeholder, 0)}" alt=""></picture>')
        elif style == "data-src":
            body.append(f'<img class="lazy" src="{_href(path, placeholder, 1)}" data-src="{href}">')
        elif style == "data-srcset":
            body.append(f'<img class="lazy" src="{_href(path, placeholder, 1)}" data-srcset="{href} 1x">')
        elif style == "a-href":
            body.append(f'<a href="{href}">full size</a>')
        elif style == "style":
            body.append(f'<div class="hero" style="background-image: url(\'{href}\')"></div>')
        elif style == "og":
            head.append(f'<meta property="og:image" content="{href}">')
            og_done = True
    if p == 0:
        body += [f'<img src="{_href(path, "img/missing-1.png", 1)}" alt="broken">',
                 f'<a href="{_href(path, "nowhere/missing.html", 1)}">a broken link</a>',
                 f'<img src="{_href(path, "img/fake.jpg", 1)}" alt="not an image">',
                 '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="inline">',
                 '<a href="mailto:owner@example.invalid">mail</a> <a href="javascript:void(0)">js</a>']
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">" + "".join(head) + "</head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m crawler.sitegen", description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    d = SiteSpec()
    ap.add_argument("--pages", type=int, default=d.pages)
    ap.add_argument("--images", type=int, default=d.images)
    ap.add_argument("--depth", type=int, default=d.depth)
    ap.add_argument("--min-bytes", type=int, default=d.min_image_bytes)
    ap.add_argument("--max-bytes", type=int, default=d.max_image_bytes)
    ap.add_argument("--seed", type=int, default=d.seed)
    a = ap.parse_args(argv)
    truth = generate_site(a.out, SiteSpec(a.pages, a.images, a.depth, a.min_bytes, a.max_bytes, a.seed))
    total = sum((a.out / p).stat().st_size for p in truth["images"])
    print(f"wrote {len(truth['pages'])} pages and {len(truth['images'])} images ({total / 1e6:.1f} MB) to {a.out}")


if __name__ == "__main__":
    main()
