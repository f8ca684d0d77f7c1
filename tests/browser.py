"""Drive Debian's headless chromium to check a static page opened from disk (file://)."""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1280, 4000

_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--disable-quic", "--allow-file-access-from-files",
          "--disable-extensions", "--mute-audio", "--hide-scrollbars")

_PROBE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>probe</title>
<style>html,body{{margin:0;padding:0}}iframe{{display:block;border:0;width:{w}px;height:{h}px}}</style></head>
<body data-result="pending"><iframe id="f" src="{src}"></iframe>
<script>
const f = document.getElementById("f");
function count() {{
  let d;
  try {{ d = f.contentDocument; }} catch (e) {{ document.body.setAttribute("data-result", "error:" + e); return; }}
  if (!d) {{ document.body.setAttribute("data-result", "error:no-document"); return; }}
  const vh = Math.min(f.clientHeight, window.innerHeight), vw = Math.min(f.clientWidth, window.innerWidth);
  const imgs = Array.from(d.images);
  let inView = 0, loaded = 0;
  for (const img of imgs) {{
    const r = img.getBoundingClientRect();
    if (r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0 && r.top < vh && r.left < vw) {{
      inView++;
      if (img.complete && img.naturalWidth > 0) loaded++;
    }}
  }}
  document.body.setAttribute("data-result", loaded + "," + inView + "," + imgs.length);
}}
f.addEventListener("load", () => setTimeout(count, 1500));
</script></body></html>
"""


class BrowserError(RuntimeError):
    pass


def available() -> bool:
    return os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)


def _run(args: list[str], timeout: float) -> str:
    """Run chromium with a fresh profile; its stdout. Kills its whole process group on timeout."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    cmd = [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "HOME": profile})
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise BrowserError(f"chromium did not finish within {timeout} s: {' '.join(args)}") from None
    finally:
        if proc.poll() is None:
            _kill(proc)
        _kill_group(proc.pid)  # helpers (zygote, gpu) it may have left behind
        shutil.rmtree(profile, ignore_errors=True)
    if proc.returncode != 0:
        raise BrowserError(f"chromium exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}")
    return out.decode("utf-8", errors="replace")


def _kill(proc: subprocess.Popen) -> None:
    _kill_group(proc.pid)
    try:
        proc.kill()
    except OSError:
        pass
    try:
        proc.communicate(timeout=5)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        pass


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)  # the group chromium leads (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def loaded_images(page: Path, timeout: float = 60) -> tuple[int, int]:
    """(images in view that loaded, images in view) when `page` is shown in a 1280x4000 frame."""
    page = Path(page).resolve()
    probe = page.parent / f".probe-{os.getpid()}-{page.stem}.html"
    probe.write_text(_PROBE.format(w=WIDTH, h=HEIGHT, src=html.escape(quote(page.name))), encoding="utf-8")
    try:
        dom = _run([f"--window-size={WIDTH},{HEIGHT}", "--virtual-time-budget=8000", "--dump-dom",
                    probe.as_uri()], timeout)
    finally:
        probe.unlink(missing_ok=True)
    m = re.search(r'<body[^>]*\bdata-result="([^"]*)"', dom)
    if not m:
        raise BrowserError(f"no result in the dumped DOM: {dom[:500]!r}")
    result = html.unescape(m.group(1))
    m2 = re.fullmatch(r"(\d+),(\d+),(\d+)", result)
    if not m2:
        raise BrowserError(f"probe said {result!r}")
    return int(m2.group(1)), int(m2.group(2))


def screenshot(page: Path, png: Path, timeout: float = 60) -> Path:
    """A 1280x2000 screenshot of `page` in `png`."""
    page, png = Path(page).resolve(), Path(png).resolve()
    _run([f"--screenshot={png}", "--window-size=1280,2000", "--virtual-time-budget=8000", page.as_uri()], timeout)
    if not png.is_file():
        raise BrowserError(f"chromium wrote no screenshot at {png}")
    return png


def load(url: str, timeout: float = 60, budget_ms: int = 5000) -> str:
    """Open url (say, a page on a local test server) and let it load for budget_ms of virtual
    time; the DOM it ends with."""
    return _run([f"--window-size={WIDTH},{HEIGHT}", f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
                timeout)
