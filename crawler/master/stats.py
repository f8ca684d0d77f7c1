"""What the master counts: the crawl's Summary, and the numbers its progress and status show."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..store import refresh as refresh_


@dataclass
class Summary:
    pages_ok: int = 0
    pages_failed: Counter = field(default_factory=Counter)
    pages_skipped: Counter = field(default_factory=Counter)
    images_ok: int = 0
    images_failed: Counter = field(default_factory=Counter)
    bytes: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    changes: Counter = field(default_factory=Counter)  # a refresh: change -> images (refresh.CHANGES)
    sitemaps: str | None = None  # what sitemaps gave, in words (SitemapCounts.line)

    def lines(self) -> list[str]:
        rate = self.images_ok / self.seconds if self.seconds > 0 else 0.0
        failed = sum(self.images_failed.values())
        skipped = sum(self.pages_skipped.values())
        out = [f"pages: {self.pages_ok} fetched, {sum(self.pages_failed.values())} failed"
               + _reasons(self.pages_failed)
               + (f", {skipped} skipped" + _reasons(self.pages_skipped) if skipped else ""),
               f"images: {self.images_ok} ok, {failed} failed" + _reasons(self.images_failed),
               f"bytes: {self.bytes:,} ({self.bytes / 1e6:.1f} MB) in {self.seconds:.1f} s, "
               f"{rate:.1f} images/s, {self.bytes / 1e6 / max(self.seconds, 1e-9):.1f} MB/s"]
        if self.sitemaps:
            out.insert(1, self.sitemaps)
        if self.changes:
            out.append("refresh: " + ", ".join(f"{self.changes[c]} {c}" for c in refresh_.CHANGES if self.changes[c]))
        return out

    def count_line(self, rec: dict[str, Any], *, refreshing: bool) -> None:
        """Count one manifest line written by an earlier run (or an earlier part of this one)."""
        if refreshing and rec.get("change") in refresh_.CHANGES:
            self.changes[rec["change"]] += 1
        if rec.get("ok"):
            self.images_ok += 1
            self.bytes += rec.get("bytes") or 0
        else:
            self.images_failed[rec.get("reason") or "error"] += 1


def _reasons(counter: Counter) -> str:
    if not counter:
        return ""
    return " (" + ", ".join(f"{reason} {n}" for reason, n in counter.most_common()) + ")"


class Uptime:
    """When the crawl started, and with how many images already stored: for the rate."""

    def __init__(self) -> None:
        self.started_wall = time.time()
        self.started = time.monotonic()
        self.images_ok_at_start = 0

    def begin(self, images_ok: int) -> None:
        """The crawl proper starts now (resumed or not): the rate counts from here."""
        self.images_ok_at_start = images_ok
        self.started = time.monotonic()

    def status_numbers(self, s: Summary, *, stopping: bool, pages_queued: int, images_queued: int,
                       images_leased: int, workers_connected: int) -> dict[str, Any]:
        """The numbers `crawler status` and the progress display show (served as master_stats)."""
        elapsed = time.monotonic() - self.started
        return {
            "state": "stopping" if stopping else "crawling",
            "started": round(self.started_wall, 1), "uptime": round(elapsed, 1),
            "pages_done": s.pages_ok + sum(s.pages_failed.values()),
            "pages_queued": pages_queued,
            "images_ok": s.images_ok, "images_failed": sum(s.images_failed.values()),
            "images_queued": images_queued, "images_leased": images_leased,
            "bytes": s.bytes, "rate": (s.images_ok - self.images_ok_at_start) / max(elapsed, 1e-9),
            "workers_connected": workers_connected,
            "failures": dict(s.images_failed.most_common(5)),
        }
