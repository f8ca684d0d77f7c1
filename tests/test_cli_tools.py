"""What users see: progress on a terminal and in logs, `status`, `extract`, config files, help."""

import json
import shutil
import subprocess
import sys
import time

import pytest

from crawler.cli.configfile import load
from crawler.errors import ConfigError
from devtools.sitegen import SiteSpec, generate_site

from .procs import free_port, output, serve_slow, wait_for

pytestmark = pytest.mark.timeout(90)
KEY = {"CRAWLER_AUTHKEY": "cli-tools-test-key-0123456789"}


@pytest.fixture(scope="module")
def slow_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    truth = generate_site(root, SiteSpec(pages=6, images=40, depth=2, max_image_bytes=6_000, seed=5))
    server, base = serve_slow(root, delay=0.1)
    yield root, truth, base
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(shutil.which("script") is None, reason="`script` (util-linux) is needed for a pseudo-terminal")
def test_on_a_terminal_the_progress_is_a_live_display(tmp_path):
    cmd = f"{sys.executable} -m crawler demo --out {tmp_path / 'out'}"
    raw = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, timeout=60).stdout
    assert b"\x1b[" in raw  # ANSI escapes: the live display draws in place
    assert b"leased" in raw and b"reachable images stored byte-identical" in raw  # the table, the result


def test_without_a_terminal_progress_is_plain_lines(tmp_path):
    p = subprocess.run([sys.executable, "-m", "crawler", "demo", "--out", str(tmp_path / "out")],
                       capture_output=True, timeout=60)
    err = p.stderr
    assert p.returncode == 0 and b"\x1b[" not in err and b"\r" not in err
    assert b"pages 0 done, 1 queued | images 0 ok" in err


def test_log_format_json_gives_one_object_per_line(tmp_path):
    log = tmp_path / "crawl.log"
    p = subprocess.run([sys.executable, "-m", "crawler", "demo", "--out", str(tmp_path / "out"),
                        "--log-format", "json", "--log-file", str(log)], capture_output=True, timeout=60)
    assert p.returncode == 0 and p.stderr == b""
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert {"time", "level", "logger", "message"} <= entries[0].keys()
    # the workers' lines come through as well (on a loaded machine a worker started as a new
    # interpreter may find the short crawl over already, and says so instead)
    assert any(e["message"].startswith("[worker ") for e in entries)


def test_status_of_a_running_master_has_the_right_counts(slow_site, tmp_path, procs):
    root, truth, base = slow_site
    port = free_port()
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(base + "index.html\n")
    out = tmp_path / "out"
    master = procs.start("master", str(seeds), "--listen", f"127.0.0.1:{port}", "--out", str(out), env=KEY)
    worker = procs.start("worker", "--connect", f"127.0.0.1:{port}", "--out", str(out), "--threads", "1",
                         "--name", "w-status", env=KEY)
    wait_for(lambda: (out / "manifest.jsonl").exists() and (out / "manifest.jsonl").stat().st_size, 30, "results")
    time.sleep(0.5)
    st = subprocess.run([sys.executable, "-m", "crawler", "status", "--connect", f"127.0.0.1:{port}", "--json"],
                        capture_output=True, text=True, timeout=30, env={**KEY, "PATH": "/usr/bin:/bin"})
    assert st.returncode == 0, st.stderr
    status = json.loads(st.stdout)
    assert status["state"] == "crawling" and "w-status" in status["workers"]
    assert 0 < status["images_ok"] < len(truth["images"])
    assert status["pending"] + status["leased"] > 0 and status["uptime"] > 0
    text = subprocess.run([sys.executable, "-m", "crawler", "status", "--connect", f"127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=30, env={**KEY, "PATH": "/usr/bin:/bin"})
    assert "state: crawling" in text.stdout and "w-status: last contact" in text.stdout
    assert "queued per host:" in text.stdout
    assert output(master, 60) and master.returncode == 0
    output(worker, 30)


def test_status_with_a_wrong_key_fails_clearly(tmp_path, procs):
    p = procs.start("status", "--connect", f"127.0.0.1:{free_port()}", env=KEY)
    log = output(p, 30)
    assert p.returncode == 4 and "cannot reach the master" in log


def test_extract_lists_each_image_with_its_source_and_links_in_and_out_of_scope(tmp_path):
    page = tmp_path / "page.html"
    page.write_text('<img src="a.jpg"><img srcset="b.jpg 2x"><picture><source srcset="c.webp"></picture>'
                    '<img data-src="d.png"><a href="e.png">e</a><meta property="og:image" content="/f.jpg">'
                    '<div style="background:url(g.gif)"></div><a href="/in.html">in</a>'
                    '<a href="https://other.example/out.html">out</a>')
    p = subprocess.run([sys.executable, "-m", "crawler", "extract", str(page), "--base", "https://site.example/x/",
                        "--json"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    sources = {i["url"]: i["source"] for i in report["images"]}
    assert sources == {"https://site.example/x/a.jpg": "img", "https://site.example/x/b.jpg": "srcset",
                       "https://site.example/x/c.webp": "picture", "https://site.example/x/d.png": "data-src",
                       "https://site.example/x/e.png": "a-href", "https://site.example/f.jpg": "og:image",
                       "https://site.example/x/g.gif": "style"}
    assert report["links_in_scope"] == ["https://site.example/in.html"]
    assert report["links_out_of_scope"] == ["https://other.example/out.html"]
    text = subprocess.run([sys.executable, "-m", "crawler", "extract", str(page), "--base", "https://site.example/x/"],
                          capture_output=True, text=True, timeout=30).stdout
    assert "images: 7" in text and "links out of scope: 1" in text


def _run_parser():
    from crawler.cli.parser import build_parser
    parser = build_parser()
    import argparse
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["run"]


def test_config_file_values_are_defaults_and_flags_win(tmp_path):
    from crawler.cli.parser import parse_args
    cfg = tmp_path / "crawl.toml"
    cfg.write_text('max-depth = 2\nper_host = 3\naccept = ["png", "jpg"]\nignore-robots = true\n'
                   'exclude = "\\\\?print"\n')
    args = parse_args(["run", "seeds.txt", "--config", str(cfg), "--per-host", "5"])
    assert (args.max_depth, args.per_host, args.accept, args.ignore_robots, args.exclude) == \
        (2, 5, ("png", "jpeg"), True, ["\\?print"])


@pytest.mark.parametrize("text, message", [
    ("max-dept = 1", "unknown key 'max-dept'"),
    ("max-depth = 'deep'", "bad value for 'max-depth'"),
    ("ignore-robots = 1", "'ignore-robots' in"),
    ("accept = 'png,tga'", "bad value for 'accept'"),
    ("authkey-file = '/k'", "unknown key 'authkey-file'"),
    ("max-depth = ", "not valid TOML"),
])
def test_config_file_errors_name_the_key(tmp_path, text, message):
    cfg = tmp_path / "crawl.toml"
    cfg.write_text(text + "\n")
    with pytest.raises(ConfigError, match=message):
        load(cfg, _run_parser())


def test_bad_config_file_is_exit_code_2_with_one_line(tmp_path):
    cfg = tmp_path / "crawl.toml"
    cfg.write_text("threads = -1x\n")
    p = subprocess.run([sys.executable, "-m", "crawler", "run", "seeds.txt", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "not valid TOML" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("command", [[], ["master"], ["worker"], ["run"], ["demo"], ["status"], ["extract"]])
def test_help_carries_an_example(command):
    p = subprocess.run([sys.executable, "-m", "crawler", *command, "--help"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "example" in p.stdout
