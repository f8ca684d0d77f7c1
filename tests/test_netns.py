"""Across hosts: web server, master and two workers each in a network namespace of its own.

One worker's link is cut mid-crawl (no RST, packets just vanish, as when a host drops off
the network). Its leases expire, the other worker finishes the crawl, and the cut-off
worker gives up by itself instead of hanging. Needs root and iproute2 (`.ci/run` installs it).
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devtools.sitegen import SiteSpec, generate_site

from .procs import Procs, check_complete, manifest_lines, output, wait_for

pytestmark = pytest.mark.timeout(150)

HOSTS = {"web": 1, "mst": 2, "w1": 3, "w2": 4}
KEY = {"CRAWLER_AUTHKEY": "netns-test-key-0123456789abcdef"}


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=20)


@pytest.fixture
def netns():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if shutil.which("ip") is None:
        pytest.skip("iproute2 is not installed (apt-get install iproute2)")
    tag = f"crw{os.getpid() % 100000}"
    subnet = f"10.{200 + os.getpid() % 50}.{os.getpid() % 250}"
    names = {h: f"{tag}-{h}" for h in [*HOSTS, "sw"]}
    created = []
    try:
        for ns in names.values():
            _ip("netns", "add", ns)
            created.append(ns)
        sw = names["sw"]
        _ip("-n", sw, "link", "add", "br0", "type", "bridge")
        _ip("-n", sw, "link", "set", "br0", "up")
        for h, n in HOSTS.items():
            ns = names[h]
            _ip("link", "add", f"v{h}", "netns", ns, "type", "veth", "peer", "name", f"p{h}", "netns", sw)
            _ip("-n", ns, "addr", "add", f"{subnet}.{n}/24", "dev", f"v{h}")
            _ip("-n", ns, "link", "set", f"v{h}", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", sw, "link", "set", f"p{h}", "master", "br0")
            _ip("-n", sw, "link", "set", f"p{h}", "up")
    except subprocess.CalledProcessError as exc:
        for ns in created:
            _ip("netns", "del", ns, check=False)
        pytest.skip(f"cannot create network namespaces here: {exc.stderr.strip()}")
    yield names, {h: f"{subnet}.{n}" for h, n in HOSTS.items()}
    for ns in created:
        _ip("netns", "del", ns, check=False)


def test_a_worker_cut_off_mid_crawl_loses_nothing(netns, tmp_path):
    names, addr = netns
    root = tmp_path / "site"
    truth = generate_site(root, SiteSpec(pages=8, images=80, depth=2, max_image_bytes=8_000, seed=11))
    procs = Procs()
    try:
        def exec_in(host):
            return ("ip", "netns", "exec", names[host])

        web = subprocess.Popen([*exec_in("web"), sys.executable, str(Path(__file__).parent / "slow_server.py"),
                                str(root), "0.1", addr["web"], "8080"], stdout=subprocess.PIPE, start_new_session=True)
        procs.started.append(web)
        assert web.stdout.readline().strip() == b"ready"
        base_url = f"http://{addr['web']}:8080/"
        seeds = tmp_path / "seeds.txt"
        seeds.write_text(base_url + "index.html\n")
        out = tmp_path / "out"
        master = procs.start("master", str(seeds), "--listen", f"{addr['mst']}:50000", "--out", str(out),
                             "--timeout", "4", "--lease-seconds", "5", env=KEY, prefix=exec_in("mst"))
        workers = {h: procs.start("worker", "--connect", f"{addr['mst']}:50000", "--out", str(out), "--threads", "2",
                                  "--name", h, "--socket-timeout", "5", "--reconnect-timeout", "8", "--timeout", "4",
                                  env=KEY, prefix=exec_in(h)) for h in ("w1", "w2")}
        n = wait_for(lambda: manifest_lines(out) >= 8 and manifest_lines(out), 60, "the first results")
        assert n < len(truth["images"])
        _ip("-n", names["w1"], "link", "set", "vw1", "down")
        cut = time.monotonic()
        log = output(master, 120)
        assert master.returncode == 0, log
        assert "expired at worker w1" in log
        w1_log = output(workers["w1"], 60)
        assert workers["w1"].returncode == 4, w1_log  # gave up by itself: the master is unreachable
        assert "lost the master" in w1_log and time.monotonic() - cut < 60
        output(workers["w2"], 30)
        assert workers["w2"].returncode == 0
        check_complete(out, root, truth, base_url)
    finally:
        procs.cleanup()
