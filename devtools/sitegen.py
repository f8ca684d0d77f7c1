"""A deterministic static site on disk with its ground truth: for the demo, the tests, the benchmark.

    python -m devtools.sitegen OUT_DIR [--pages N --images N --depth N --min-bytes N --max-bytes N --seed N]

Layout: `index.html`; section pages `section-S/index.html`; content pages up to `depth` folders
deep (`section-2/topic-1/part-0/page-9.html`). The index links every section, every section
its pages, every page its section, the next page of its section (a cycle), the index and one
other page, so every page is reachable from the index. Links are relative with `../`,
root-relative (`/x/y`) and same-folder, in rotation.

Images (JPEG mostly, PNG, GIF, one BMP; `spec.images` of them plus `img/placeholder.gif`)
live under `img/` up to `depth` folders deep, some next to their page, one with a space and
one with a non-ASCII letter in its name (percent-encoded in the pages, decoded on disk). Their
sizes are spread evenly on a log scale between min_image_bytes and max_image_bytes (stratified,
so a site of n images covers the range evenly). Each is referenced in one of: `<img src>`,
`<img srcset>` as the 2x candidate (referenced nowhere else), `<picture><source srcset>`, a
lazy `<img src=placeholder data-src>` or `data-srcset`, `<a href>` to the image,
`<meta property="og:image">`, an inline `style="background-image:url(...)"`; some are also
shown on a second page, and a logo is on every page.

Traps: broken image links (404), a broken page link, a non-image named .jpg, a `data:` URL
image, `mailto:`, `javascript:` and fragment links.

`truth.json` (also the return value): start page, every reachable image with its sha256 (paths
relative to the root, decoded, forward slashes), the broken image paths, the non-images, the
pages, and the broken page links. The same spec gives byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import math
import posixpath
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .imagegen import bmp, gif, image_of_size

__all__ = ["SiteSpec", "generate_site", "main"]

ROLES = ("img", "srcset-2x", "picture", "lazy", "a-href", "lazy-srcset", "style", "og")
_KIND_EXT = {"jpeg": "jpg", "png": "png", "gif": "gif", "bmp": "bmp"}
_MIME = {"jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "bmp": "image/bmp"}
_IMG_FOLDERS = ("photos", "2024", "summer", "large", "gallery", "archive", "misc", "raw")
_PAGE_FOLDERS = ("topic", "part", "deep", "more", "extra", "inner", "nested")
_NAMES = ("cat", "dog", "tree", "sky", "boat", "road", "lake", "hill", "bird", "city", "leaf", "rock")
_DATA_URL = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
_FAKE = b"<!DOCTYPE html>\n<html><head><title>Not an image</title></head><body>Not an image.</body></html>\n"

PLACEHOLDER = "img/placeholder.gif"
FAKE_IMAGE = "img/fake.jpg"


@dataclass
class SiteSpec:
    pages: int = 12
    images: int = 30
    depth: int = 3            # folders deep
    min_image_bytes: int = 2_000
    max_image_bytes: int = 30_000
    seed: int = 1


@dataclass
class _Image:
    index: int
    path: str
    kind: str
    size: int
    role: str
    home: int


# --- layout ------------------------------------------------------------------------------

def _page_paths(spec: SiteSpec) -> tuple[list[str], int]:
    """Page paths (index first, then sections, then content pages) and the section count."""
    paths = ["index.html"]
    rest = spec.pages - 1
    if rest <= 0:
        return paths, 0
    sections = min(rest, max(1, round(math.sqrt(rest))))
    paths += [f"section-{s}/index.html" for s in range(1, sections + 1)]
    for j in range(rest - sections):
        section = j % sections + 1
        folders_deep = spec.depth - (j // sections) % spec.depth  # the deepest first
        folders = [f"section-{section}"]
        folders += [f"{_PAGE_FOLDERS[(k - 1) % len(_PAGE_FOLDERS)]}-{(j // sections + k) % 2}"
                    for k in range(1, folders_deep)]
        paths.append("/".join(folders + [f"page-{len(paths)}.html"]))
    return paths, sections


def _page_links(p: int, paths: list[str], sections: int, rng: random.Random) -> list[int]:
    """Indices of the pages page p links to."""
    n = len(paths)
    if n == 1:
        return []
    if p == 0:
        deepest = max(range(n), key=lambda i: (paths[i].count("/"), -i))
        return list(range(1, sections + 1)) + ([deepest] if deepest > sections else [])
    if p <= sections:
        members = [i for i in range(sections + 1, n) if (i - sections - 1) % sections == p - 1]
        return [0] + members + [p % sections + 1]
    section = (p - sections - 1) % sections + 1
    members = [i for i in range(sections + 1, n) if (i - sections - 1) % sections == section - 1]
    nxt = members[(members.index(p) + 1) % len(members)]
    other = rng.randrange(n)
    return [section, 0] + ([nxt] if nxt != p else []) + ([other] if other not in (p, section, 0, nxt) else [])


def _href(from_page: str, target: str, style: int) -> str:
    """A URL for target (a path relative to the root) from from_page, percent-encoded.

    style 0: root-relative (/x/y); 1: relative (with ../ where needed); 2: relative, with ./
    when the target is in the same folder or below.
    """
    if style % 3 == 0:
        return "/" + quote(target, safe="/")
    rel = posixpath.relpath(target, posixpath.dirname(from_page) or ".")
    if style % 3 == 2 and not rel.startswith("../"):
        rel = "./" + rel
    return quote(rel, safe="/")


def _plan_images(spec: SiteSpec, paths: list[str], rng: random.Random) -> list[_Image]:
    n = spec.images
    lo, hi = spec.min_image_bytes, spec.max_image_bytes
    order = list(range(n))
    rng.shuffle(order)
    images = []
    og_pages: set[int] = set()
    for i in range(n):
        # stratified log-uniform sizes: one in each of n equal slices of log(size)
        u = (order[i] + rng.random()) / n
        size = round(lo * (hi / lo) ** u)
        kind = "bmp" if i == 3 else rng.choices(("jpeg", "png", "gif"), (45, 30, 25))[0]
        home = i % len(paths)
        role = ROLES[(i + spec.seed) % len(ROLES)]
        if i in (0, 1, 2, 3):  # the logo, the space, the non-ASCII name and the BMP: plain <img>
            role = "img"
        if role == "og":
            if home in og_pages:
                role = "img"
            og_pages.add(home)
        ext = _KIND_EXT[kind]
        if kind == "jpeg" and i % 10 == 9:
            ext = "jpeg"
        name = f"{_NAMES[i % len(_NAMES)]}-{i:04d}.{ext}"
        if i == 0:
            name = f"logo.{ext}"
        elif i == 1:
            name = f"summer photo {i}.{ext}"       # a space: %20 in the pages
        elif i == 2:
            name = f"café-{i}.{ext}"              # non-ASCII: caf%C3%A9 in the pages
        if i > 3 and i % 7 == 5:                  # next to its page: a same-folder reference
            folder = posixpath.dirname(paths[home])
        else:
            levels = i % (spec.depth + 1)
            folder = "/".join(["img"] + [f"{_IMG_FOLDERS[(i + k) % len(_IMG_FOLDERS)]}" for k in range(levels)])
        path = f"{folder}/{name}" if folder else name
        images.append(_Image(i, path, kind, size, role, home))
    return images


def _image_bytes(img: _Image, spec: SiteSpec) -> bytes:
    seed = spec.seed * 1_000_003 + img.index
    if img.kind == "bmp":
        side = max(4, int(math.sqrt(max(1, img.size - 54) / 3)))
        return bmp(side, max(4, (img.size - 54) // ((3 * side + 3) & ~3)), seed)
    return image_of_size(img.kind, img.size, seed)


# --- pages -------------------------------------------------------------------------------

class _Page:
    def __init__(self, index: int, path: str):
        self.index = index
        self.path = path
        self.head: list[str] = []
        self.nav: list[str] = []
        self.body: list[str] = []
        self.count = index  # rotates the URL styles

    def url(self, target: str) -> str:
        self.count += 1
        return html.escape(_href(self.path, target, self.count), quote=True)

    def render(self) -> bytes:
        title = "Home" if self.index == 0 else f"Page {self.index}"
        return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                f"<title>{title}</title>\n" + "".join(h + "\n" for h in self.head) + "</head>\n<body>\n"
                + f"<h1 id=\"top\">{title}</h1>\n<nav>\n" + "".join(a + "\n" for a in self.nav) + "</nav>\n"
                + "<main>\n" + "".join(b + "\n" for b in self.body) + "</main>\n</body>\n</html>\n"
                ).encode("utf-8")


def _reference(page: _Page, img: _Image, role: str, common: list[str], i: int) -> None:
    u = page.url(img.path)
    alt = f"image {img.index}"
    if role == "img":
        page.body.append(f'<img src="{u}" alt="{alt}">')
    elif role == "srcset-2x":
        one_x = page.url(common[i % len(common)] if common else PLACEHOLDER)
        page.body.append(f'<img src="{one_x}" srcset="{one_x} 1x, {u} 2x" alt="{alt}">')
    elif role == "picture":
        fallback = page.url(common[i % len(common)] if common else PLACEHOLDER)
        page.body.append(f'<picture><source srcset="{u}" type="{_MIME[img.kind]}" media="(min-width: 800px)">'
                         f'<img src="{fallback}" alt="{alt}"></picture>')
    elif role == "lazy":
        page.body.append(f'<img class="lazy" src="{page.url(PLACEHOLDER)}" data-src="{u}" alt="{alt}">')
    elif role == "lazy-srcset":
        width = 320 + 80 * (img.index % 8)
        page.body.append(f'<img class="lazy" src="{page.url(PLACEHOLDER)}" data-srcset="{u} {width}w" '
                         f'sizes="50vw" alt="{alt}">')
    elif role == "a-href":
        page.body.append(f'<p><a href="{u}">{alt}, full size</a></p>')
    elif role == "style":
        if img.index % 3 == 0:
            page.body.append(f'<div class="hero" style="background-image:url(\'{u}\')"></div>')
        elif img.index % 3 == 1:
            page.body.append(f"<div class=\"hero\" style='background: #222 url(\"{u}\") no-repeat'></div>")
        else:
            page.body.append(f'<div class="hero" style="background-image: url({u})"></div>')
    elif role == "og":
        page.head.append(f'<meta property="og:image" content="{u}">')
    else:
        raise AssertionError(role)


def generate_site(root: Path, spec: SiteSpec) -> dict:
    """Write the site under root (best empty or absent); return the ground truth, also
    written to root/truth.json."""
    if spec.pages < 1 or spec.images < 0 or spec.depth < 1:
        raise ValueError(f"bad site spec {spec}")
    if not 1 <= spec.min_image_bytes <= spec.max_image_bytes:
        raise ValueError(f"bad image sizes {spec.min_image_bytes}..{spec.max_image_bytes}")
    root = Path(root)
    rng = random.Random(f"site-{spec.seed}")
    paths, sections = _page_paths(spec)
    images = _plan_images(spec, paths, rng)
    pages = [_Page(p, path) for p, path in enumerate(paths)]
    n = len(pages)
    second = n // 2 + 1  # how far away a shared image's second page is

    common = [img.path for img in images if img.role == "img"][:3]
    logo = images[0].path if images else PLACEHOLDER
    for page in pages:
        page.body.append(f'<header><img src="{page.url(logo)}" alt="logo" width="64" height="64"></header>')
        for target in _page_links(page.index, paths, sections, rng):
            label = "Home" if target == 0 else f"Page {target}"
            page.nav.append(f'<a href="{page.url(paths[target])}">{label}</a>')
        if page.index > 0:
            page.nav.append('<a href="#top">Top</a>')
    for i, img in enumerate(images):
        _reference(pages[img.home], img, img.role, common, i)
        # every fourth image (never a 2x-only one) is shown on a second page too
        other = (img.home + second) % n
        if i % 4 == 2 and img.role != "srcset-2x" and other != img.home:
            _reference(pages[other], img, "img", common, i)

    broken = ["img/missing-1.png"]
    broken_pages = ["section-1/gone.html" if sections else "gone.html"]
    index = pages[0]
    index.body += [
        f'<img src="{index.url(PLACEHOLDER)}" alt="" class="spacer">',
        f'<img src="{index.url(broken[0])}" alt="a broken image">',
        f'<img src="{index.url(FAKE_IMAGE)}" alt="not an image">',
        f'<img src="{_DATA_URL}" alt="an inline image">',
        f'<p><a href="{index.url(broken_pages[0])}">a page that is gone</a></p>',
        '<p><a href="mailto:owner@example.invalid">mail us</a> '
        '<a href="javascript:void(0)">a script link</a></p>',
    ]
    if n > 1:
        broken.append("img/gallery/missing-2.jpg")
        last = pages[-1]
        last.body.append(f'<img class="lazy" src="{last.url(PLACEHOLDER)}" data-src="{last.url(broken[1])}" '
                         'alt="a broken lazy image">')

    root.mkdir(parents=True, exist_ok=True)
    for page in pages:
        _write(root / page.path, page.render())
    shas = {}
    for img in images:
        data = _image_bytes(img, spec)
        _write(root / img.path, data)
        shas[img.path] = hashlib.sha256(data).hexdigest()
    placeholder = gif(8, 8, spec.seed)
    _write(root / PLACEHOLDER, placeholder)
    shas[PLACEHOLDER] = hashlib.sha256(placeholder).hexdigest()
    _write(root / FAKE_IMAGE, _FAKE)

    truth = {
        "start": "index.html",
        "images": dict(sorted(shas.items())),
        "broken": broken,
        "not_images": [FAKE_IMAGE],
        "pages": paths,
        "broken_pages": broken_pages,
    }
    _write(root / "truth.json", (json.dumps(truth, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    return truth


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def main(argv: list[str] | None = None) -> int:
    d = SiteSpec()
    ap = argparse.ArgumentParser(prog="python -m devtools.sitegen",
                                 description="Write a deterministic test site and its truth.json.")
    ap.add_argument("out", type=Path, help="output folder (best empty or absent)")
    ap.add_argument("--pages", type=int, default=d.pages)
    ap.add_argument("--images", type=int, default=d.images)
    ap.add_argument("--depth", type=int, default=d.depth, help="folders deep")
    ap.add_argument("--min-bytes", type=int, default=d.min_image_bytes)
    ap.add_argument("--max-bytes", type=int, default=d.max_image_bytes)
    ap.add_argument("--seed", type=int, default=d.seed)
    a = ap.parse_args(argv)
    started = time.monotonic()
    try:
        truth = generate_site(a.out, SiteSpec(a.pages, a.images, a.depth, a.min_bytes, a.max_bytes, a.seed))
    except ValueError as exc:
        ap.error(str(exc))
    total = sum((a.out / p).stat().st_size for p in truth["images"])
    print(f"wrote {len(truth['pages'])} pages and {len(truth['images'])} images ({total / 1e6:.1f} MB), "
          f"{len(truth['broken'])} broken image links and {len(truth['not_images'])} non-image "
          f"to {a.out} in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
