"""How the master shows a running crawl: a live display on a terminal, plain lines elsewhere.

The master calls `update(stats)` on every turn of its loop with a dict of plain numbers;
each display decides how often to draw. Logs go through the same console, so on a terminal
they scroll above the live line instead of tearing it.
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("crawler.master.progress")

LINE_SECONDS = 5.0


def describe(stats: dict) -> str:
    return (f"pages {stats['pages_done']} done, {stats['pages_queued']} queued | images {stats['images_ok']} ok, "
            f"{stats['images_failed']} failed, {stats['images_queued']} queued, {stats['images_leased']} leased | "
            f"{stats['bytes'] / 1e6:.1f} MB | {stats['rate']:.1f} images/s | workers {stats['workers_connected']}")


class LineProgress:
    """A plain log line every few seconds: for log files, CI and pipes."""

    def __init__(self, every: float = LINE_SECONDS):
        self.every = every
        self._last = 0.0

    def update(self, stats: dict) -> None:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            log.info("%s", describe(stats))

    def close(self) -> None:
        pass


class LiveProgress:
    """A live status block (rich) redrawn a few times a second."""

    def __init__(self, console) -> None:
        from rich.live import Live

        self._live = Live(self._render(None), console=console, refresh_per_second=4, transient=False)
        self._live.start()

    @staticmethod
    def _render(stats: dict | None):
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        if stats is None:
            table.add_row("starting…")
            return table
        table.add_row("[bold]pages[/]", f"{stats['pages_done']} done", f"{stats['pages_queued']} queued")
        table.add_row("[bold]images[/]", f"[green]{stats['images_ok']} ok[/]",
                      f"[red]{stats['images_failed']} failed[/]", f"{stats['images_queued']} queued",
                      f"{stats['images_leased']} leased")
        table.add_row("[bold]data[/]", f"{stats['bytes'] / 1e6:.1f} MB", f"{stats['rate']:.1f} images/s",
                      f"workers {stats['workers_connected']}")
        return table

    def update(self, stats: dict) -> None:
        self._live.update(self._render(stats))

    def close(self) -> None:
        self._live.stop()


def make_progress(*, live: bool, console=None):
    if live and console is not None:
        return LiveProgress(console)
    return LineProgress()


def use_live_display(quiet: bool, log_format: str, log_file) -> bool:
    return not quiet and log_format == "text" and log_file is None and sys.stderr.isatty()
