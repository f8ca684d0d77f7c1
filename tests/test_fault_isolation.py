"""A fault stays where it happens: a dead origin, a full disk or a sick worker costs only its
own share of the crawl. Real servers, real processes; the full-disk tests mount small tmpfs
filesystems and need root."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from crawler.demo import serve_directory
from crawler.sitegen import SiteSpec, generate_site

from .procs import check_complete, output, records

pytestmark = pytest.mark.timeout(150)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    truth = generate_site(root, SiteSpec(pages=20, images=150, depth=3, max_image_bytes=8_000, seed=15))
    server, base_url = serve_directory(root)
    yield root, truth, base_url
    server.shutdown()
    server.server_close()


@pytest.fixture
def refusing():
    """Ports bound and never listening: every connection to them is refused, for as long as the test runs."""
    held = []

    def port(host: str = "127.0.0.1") -> int:
        s = socket.socket()
        s.bind((host, 0))
        held.append(s)
        return s.getsockname()[1]

    yield port
    for s in held:
        s.close()


def timed_run(procs, tmp_path: Path, name: str, seed: str, *flags: str) -> tuple[float, str, Path]:
    seeds = tmp_path / f"{name}.txt"
    seeds.write_text(seed + "\n")
    out = tmp_path / name
    started = time.monotonic()
    p = procs.start("run", str(seeds), "--workers", "2", "--out", str(out), "--timeout", "5", *flags)
    log = output(p, 120)
    assert p.returncode == 0, log
    return time.monotonic() - started, log, out


def test_a_dead_origin_on_the_same_host_and_a_dead_image_host_cost_only_their_own_share(
        site, tmp_path, procs, refusing):
    root, truth, base_url = site
    dead_page = f"http://127.0.0.1:{refusing()}/retired/index.html"  # the site's own host name, another port
    dead_image = f"http://127.0.0.2:{refusing('127.0.0.2')}/cdn/gone.jpg"
    index = root / truth["start"]
    original = index.read_text()
    # first in the page, so that every other page of the host comes after it
    index.write_text(original.replace("<body>", f'<body><a href="{dead_page}">old</a><img src="{dead_image}">', 1))
    try:
        start = base_url + truth["start"]
        excluded, _, _ = timed_run(procs, tmp_path, "excluded", start, "--allow-private",
                                   "--exclude", "/retired/", "--exclude", "/cdn/gone")
        with_dead, log, out = timed_run(procs, tmp_path, "dead", start, "--allow-private")
    finally:
        index.write_text(original)
    assert with_dead <= 1.5 * excluded + 3, (with_dead, excluded)
    check_complete(out, root, truth, base_url)
    recs = {r["url"]: r for r in records(out)}
    assert recs[dead_image]["reason"] == "unreachable" and "refused" in recs[dead_image]["error"], recs[dead_image]
    assert "unreachable 1" in log  # the dead page, counted among the failed pages
