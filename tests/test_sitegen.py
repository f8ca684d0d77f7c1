import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from crawler import imagegen
from crawler.extract import extract
from crawler.sitegen import SiteSpec, generate_site

DEMO = Path(__file__).resolve().parent.parent / "seeds" / "demo"


@pytest.mark.parametrize("make, fmt", [
    (lambda: imagegen.png(40, 30, 1, noise=0.3), "PNG"),
    (lambda: imagegen.gif(40, 30, 2), "GIF"),
    (lambda: imagegen.bmp(41, 30, 3), "BMP"),
    (lambda: imagegen.jpeg(40, 32, 4), "JPEG"),
    (lambda: imagegen.jpeg(40, 32, 4, texture=30), "JPEG"),
])
def test_generated_images_decode_with_the_asked_size(make, fmt):
    im = Image.open(io.BytesIO(make()))
    im.load()
    assert im.format == fmt and im.size in ((40, 30), (41, 30), (40, 32))


def test_jpeg_without_texture_shows_its_block_pattern():
    im = Image.open(io.BytesIO(imagegen.jpeg(32, 32, 9)))
    for bx, by in ((0, 0), (1, 2), (3, 3)):
        expected = imagegen._pattern(bx * 8, by * 8, 9)[(bx + by) % 3]
        block = [im.getpixel((bx * 8 + x, by * 8 + y)) for x in range(8) for y in range(8)]
        assert abs(sum(block) / 64 - expected) <= 2


@pytest.mark.parametrize("kind", ["jpeg", "png", "gif"])
@pytest.mark.parametrize("target", [2_000, 20_000, 44_000, 200_000])
def test_image_of_size_lands_near_the_target(kind, target):
    data = imagegen.image_of_size(kind, target, 5)
    assert 0.75 * target <= len(data) <= 1.25 * target
    Image.open(io.BytesIO(data)).load()


def test_site_is_deterministic_and_its_truth_matches_its_files(tmp_path):
    spec = SiteSpec(pages=10, images=25, seed=4)
    t1 = generate_site(tmp_path / "a", spec)
    t2 = generate_site(tmp_path / "b", spec)
    assert t1 == t2
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    for rel, sha in t1["images"].items():
        assert hashlib.sha256((tmp_path / "a" / rel).read_bytes()).hexdigest() == sha
        Image.open(tmp_path / "a" / rel).load()
    assert not (tmp_path / "a" / t1["broken"][0]).exists()
    assert (tmp_path / "a" / t1["not_images"][0]).read_bytes().startswith(b"<!DOCTYPE html>")


def test_every_truth_image_is_referenced_from_some_page_in_every_style(tmp_path):
    truth = generate_site(tmp_path, SiteSpec(pages=10, images=40, seed=2))
    base = "http://site.example/"
    found, sources = set(), set()
    for page in truth["pages"]:
        ex = extract((tmp_path / page).read_bytes(), base + page)
        found |= {i.url for i in ex.images}
        sources |= {i.source for i in ex.images}
    from urllib.parse import quote
    assert {base + quote(rel) for rel in truth["images"]} <= found
    assert {"img", "srcset", "picture", "data-src", "a-href", "style", "og:image"} <= sources


def test_the_bundled_demo_matches_a_fresh_generation(tmp_path):
    truth = generate_site(tmp_path, SiteSpec())
    assert json.loads((DEMO / "truth.json").read_text()) == truth
    for page in truth["pages"]:
        assert (DEMO / page).read_bytes() == (tmp_path / page).read_bytes()


def test_demo_has_the_traps_the_readme_promises():
    index = (DEMO / "index.html").read_text()
    assert re.search(r'src="[^"]*missing-1\.png"', index) and "data:image" in index and "mailto:" in index
    assert "javascript:" in index and "fake.jpg" in index
    pages = "".join((DEMO / p).read_text() for p in json.loads((DEMO / "truth.json").read_text())["pages"])
    assert "srcset=" in pages and "data-src=" in pages and "%20" in pages and "%C3%A9" in pages
