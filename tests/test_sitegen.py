"""The stdlib image encoders and the deterministic test site (with its committed demo copy)."""

import hashlib
import io
import json
import math
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image

from crawler.page.extract import extract
from crawler.rules.urls import normalize_url
from devtools import imagegen
from devtools.sitegen import SiteSpec, generate_site

DEMO = Path(__file__).resolve().parent.parent / "crawler" / "cli" / "demosite"
BASE = "http://site.test/"


def decode(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def mean_abs_error(a: bytes, b: bytes) -> float:
    assert len(a) == len(b)
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


# --- images ----------------------------------------------------------------------------------

@pytest.mark.parametrize("make, fmt, size", [
    (lambda: imagegen.png(40, 30, 1), "PNG", (40, 30)),
    (lambda: imagegen.png(33, 17, 2, noise=0.4), "PNG", (33, 17)),
    (lambda: imagegen.png(9, 9, 2, noise=1.0), "PNG", (9, 9)),
    (lambda: imagegen.gif(40, 30, 2), "GIF", (40, 30)),
    (lambda: imagegen.gif(301, 7, 3), "GIF", (301, 7)),  # several clear codes per row
    (lambda: imagegen.bmp(41, 30, 3), "BMP", (41, 30)),   # rows padded to 4 bytes
    (lambda: imagegen.jpeg(40, 32, 4), "JPEG", (40, 32)),
    (lambda: imagegen.jpeg(37, 21, 4, quality=95, noise=0.8), "JPEG", (37, 21)),  # partial blocks
    (lambda: imagegen.jpeg(1, 1, 5, quality=10), "JPEG", (1, 1)),
])
def test_generated_images_decode_with_the_asked_size_and_format(make, fmt, size):
    im = decode(make())
    assert (im.format, im.size) == (fmt, size)


@pytest.mark.parametrize("maker", [imagegen.png, imagegen.bmp])
def test_lossless_formats_hold_the_exact_pattern(maker):
    im = decode(maker(70, 45, 8)).convert("RGB")
    assert im.tobytes() == imagegen.pattern_rgb(70, 45, 8)


def test_gif_is_the_pattern_posterised_to_its_palette():
    im = decode(imagegen.gif(64, 64, 6)).convert("RGB")
    assert mean_abs_error(im.tobytes(), imagegen.pattern_rgb(64, 64, 6)) < 16


@pytest.mark.parametrize("quality, limit", [(50, 5), (75, 4), (95, 2)])
def test_jpeg_decodes_to_the_pattern(quality, limit):
    """A real forward DCT: the decoded pixels are close to the pattern, closer as quality rises."""
    for seed in (1, 2):
        im = decode(imagegen.jpeg(100, 70, seed, quality=quality)).convert("RGB")
        assert im.mode == "RGB"
        assert mean_abs_error(im.tobytes(), imagegen.pattern_rgb(100, 70, seed)) < limit


def test_jpeg_noise_and_quality_steer_the_size():
    sizes = [len(imagegen.jpeg(64, 64, 3, quality=q, noise=n)) for q, n in ((50, 0), (90, 0), (90, 0.5), (90, 1))]
    assert sizes == sorted(sizes) and sizes[-1] > 3 * sizes[0]
    assert len(imagegen.png(64, 64, 3, noise=0.5)) > 3 * len(imagegen.png(64, 64, 3))


def test_images_are_deterministic_in_their_seed():
    for make in (imagegen.png, imagegen.gif, imagegen.bmp, imagegen.jpeg):
        assert make(30, 20, 4) == make(30, 20, 4) != make(30, 20, 5)
    assert imagegen.jpeg(30, 20, 4, noise=0.5) == imagegen.jpeg(30, 20, 4, noise=0.5)
    assert imagegen.image_of_size("jpeg", 9_000, 3) == imagegen.image_of_size("jpeg", 9_000, 3)


@pytest.mark.parametrize("kind, fmt", [("jpeg", "JPEG"), ("png", "PNG"), ("gif", "GIF")])
@pytest.mark.parametrize("target", [2_000, 20_000, 44_000, 200_000])
def test_image_of_size_lands_near_the_target(kind, fmt, target):
    data = imagegen.image_of_size(kind, target, 5)
    assert 0.75 * target <= len(data) <= 1.25 * target
    assert decode(data).format == fmt


def test_image_of_size_refuses_an_unknown_kind():
    with pytest.raises(ValueError):
        imagegen.image_of_size("tiff", 5_000, 1)


# --- the site --------------------------------------------------------------------------------

def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def extractions(root: Path, truth: dict) -> dict[str, object]:
    return {page: extract((root / page).read_bytes(), BASE + page) for page in truth["pages"]}


def url_of(rel: str) -> str:
    return BASE + quote(rel, safe="/-._~")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    return root, generate_site(root, SiteSpec(pages=14, images=48, depth=4, seed=4))


def test_same_spec_gives_byte_identical_sites(site, tmp_path):
    root, truth = site
    again = generate_site(tmp_path, SiteSpec(pages=14, images=48, depth=4, seed=4))
    assert again == truth
    assert files_of(tmp_path) == files_of(root)
    other = generate_site(tmp_path / "other", SiteSpec(pages=14, images=48, depth=4, seed=5))
    assert other["images"] != truth["images"]


def test_truth_matches_the_files(site):
    root, truth = site
    assert truth == json.loads((root / "truth.json").read_text(encoding="utf-8"))
    assert truth["start"] == "index.html" and truth["pages"][0] == "index.html"
    assert len(truth["images"]) == 48 + 1  # and the placeholder
    formats = Counter()
    for rel, sha in truth["images"].items():
        data = (root / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha
        formats[decode(data).format] += 1
    assert formats["BMP"] == 1 and min(formats["JPEG"], formats["PNG"], formats["GIF"]) >= 5
    for rel in truth["broken"] + truth["broken_pages"]:
        assert not (root / rel).exists()
    assert truth["not_images"] == ["img/fake.jpg"]
    assert (root / "img/fake.jpg").read_bytes().startswith(b"<!DOCTYPE html>")
    assert {p.relative_to(root).as_posix() for p in root.rglob("*.html")} == set(truth["pages"])


def test_sizes_spread_over_the_asked_range(tmp_path):
    spec = SiteSpec(pages=3, images=24, min_image_bytes=3_000, max_image_bytes=24_000, seed=9)
    truth = generate_site(tmp_path, spec)
    sizes = sorted((tmp_path / rel).stat().st_size for rel in truth["images"] if "placeholder" not in rel)
    assert 0.75 * 3_000 <= sizes[0] and sizes[-1] <= 1.25 * 24_000
    # stratified on a log scale: each third of log(max/min) holds about a third of the images
    thirds = Counter(min(2, max(0, int(3 * math.log(s / 3_000, 8)))) for s in sizes)
    assert all(5 <= thirds[k] <= 11 for k in range(3)), thirds


def test_every_page_is_reachable_and_links_use_every_url_style(site):
    root, truth = site
    ex = extractions(root, truth)
    seen, todo = {"index.html"}, ["index.html"]
    while todo:
        for link in ex[todo.pop()].links:
            rel = link[len(BASE):]
            if rel in ex and rel not in seen:
                seen.add(rel)
                todo.append(rel)
    assert seen == set(truth["pages"])
    assert max(p.count("/") for p in truth["pages"]) == 4  # folders deep
    hrefs = "".join((root / p).read_text(encoding="utf-8") for p in truth["pages"])
    assert 'href="/' in hrefs and 'href="../' in hrefs and 'href="./' in hrefs
    broken_page = url_of(truth["broken_pages"][0])
    assert any(broken_page in e.links for e in ex.values())


def test_every_truth_image_is_referenced_in_every_style(site):
    root, truth = site
    found: dict[str, set[str]] = {}
    for e in extractions(root, truth).values():
        for ref in e.images:
            found.setdefault(ref.url, set()).add(ref.source)
    expected = {url_of(rel) for rel in truth["images"]}
    traps = {url_of(rel) for rel in truth["broken"] + truth["not_images"]}
    assert set(found) == expected | traps  # and the data: URL is not among them
    assert {"img", "srcset", "picture", "data-src", "a-href", "style", "og:image"} <= set().union(*found.values())
    assert any("%20" in u for u in expected) and any("caf%C3%A9" in u for u in expected)
    assert max(rel.count("/") for rel in truth["images"]) >= 4


def test_srcset_2x_candidates_are_referenced_nowhere_else_and_images_are_shared(site):
    root, truth = site
    per_page = {page: {ref.url for ref in e.images} for page, e in extractions(root, truth).items()}
    pages_of = Counter(url for refs in per_page.values() for url in refs)
    two_x = 0
    for page in truth["pages"]:
        text = (root / page).read_text(encoding="utf-8")
        for href in re.findall(r'srcset="[^"]*, ([^" ]+) 2x"', text):
            two_x += 1
            assert pages_of[normalize_url(href, BASE + page)] == 1 and text.count(href) == 1, href
    assert two_x >= 3
    assert sum(1 for n in pages_of.values() if n >= 2) >= 5  # shared images
    assert pages_of[url_of("img/placeholder.gif")] >= 3


def test_traps_are_in_the_index(site):
    root, truth = site
    index = (root / "index.html").read_text(encoding="utf-8")
    for needle in ('src="data:image/', 'href="mailto:', 'href="javascript:', "missing-1.png", "fake.jpg",
                   "gone.html"):
        assert needle in index
    lazy = "".join((root / p).read_text(encoding="utf-8") for p in truth["pages"])
    assert re.search(r'<img[^>]*src="[^"]*placeholder\.gif"[^>]*data-src="', lazy)
    assert "data-srcset=" in lazy and "og:image" in lazy and "background-image:url('" in lazy
    assert re.search(r"<picture><source srcset=\"[^\"]+\" type=\"image/(jpeg|png|gif)\"", lazy)


def test_tiny_specs_work(tmp_path):
    truth = generate_site(tmp_path / "one", SiteSpec(pages=1, images=0, depth=1))
    assert truth["pages"] == ["index.html"] and list(truth["images"]) == ["img/placeholder.gif"]
    truth = generate_site(tmp_path / "two", SiteSpec(pages=2, images=5, depth=1, min_image_bytes=3_000,
                                                     max_image_bytes=3_000))
    assert len(truth["pages"]) == 2 and len(truth["images"]) == 6
    with pytest.raises(ValueError):
        generate_site(tmp_path / "bad", SiteSpec(min_image_bytes=5_000, max_image_bytes=4_000))


# --- the committed demo ----------------------------------------------------------------------

def test_the_bundled_demo_matches_a_fresh_generation(tmp_path):
    truth = generate_site(tmp_path, SiteSpec())
    assert json.loads((DEMO / "truth.json").read_text(encoding="utf-8")) == truth
    assert files_of(DEMO) == files_of(tmp_path), \
        "regenerate: rm -r crawler/cli/demosite; python -m devtools.sitegen crawler/cli/demosite"
    assert sum(len(b) for b in files_of(DEMO).values()) < 600_000


def test_cli_writes_a_site_and_prints_a_summary(tmp_path):
    out = subprocess.run([sys.executable, "-m", "devtools.sitegen", str(tmp_path / "s"), "--pages", "3",
                          "--images", "4", "--depth", "2", "--max-bytes", "4000", "--seed", "2"],
                         capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("\n") == 1 and "3 pages" in out.stdout and "5 images" in out.stdout
    truth = json.loads((tmp_path / "s" / "truth.json").read_text(encoding="utf-8"))
    assert truth == generate_site(tmp_path / "again", SiteSpec(3, 4, 2, 2_000, 4_000, 2))
