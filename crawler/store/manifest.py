"""manifest.jsonl: one JSON line per image, the crawl's record of what happened."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import StateWriteError


def record(url: str, page: str | None, leases: int, result: dict | None, *, error: str | None = None,
           reason: str | None = None, source: str | None = None, change: str = "new") -> dict[str, Any]:
    """The manifest line for a task, from its result, or from a master-side failure.
    `source`: how the image was found on its page (img, srcset, picture, ...); `change`: what
    this run found against the last (refresh.CHANGES; a crawl's first answer is "new")."""
    r = result or {}
    rec = {
        "url": url,
        "page": page,
        "source": source,
        "ok": bool(r.get("ok", False)),
        "path": r.get("path"),
        "bytes": r.get("bytes", 0),
        "sha256": r.get("sha256"),
        "content_type": r.get("content_type"),
        "status": r.get("status"),
        "error": error if error is not None else r.get("error"),
        "worker": r.get("worker"),
        "elapsed": r.get("elapsed"),
        "final_url": r.get("final_url"),
        "reason": reason if reason is not None else r.get("reason"),
        "attempts": r.get("attempts", 1) if result else 0,  # HTTP requests by the worker that answered
        "leases": leases,                                  # times the task was handed out
        "etag": r.get("etag"),                             # the validators a --refresh asks with
        "last_modified": r.get("last_modified"),
        "change": change,
    }
    if r.get("duplicate_of"):
        rec["duplicate_of"] = r["duplicate_of"]
    return rec


# one encoder for every line: json.dumps with options builds a new encoder per call
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class ManifestWriter:
    """Appends lines; writes them out at most every `flush_seconds`, so writing costs little
    per image. A write that fails (a full disk) raises StateWriteError naming the file; the
    lines not written are dropped with the writer, as the journal has not counted them
    either (it commits only after a flush), and a line cut in the middle is cut off by
    `repair` when the crawl resumes."""

    def __init__(self, path: Path, flush_seconds: float = 0.5):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise StateWriteError(f"cannot open {path}: {exc.strerror or exc}") from exc
        self._lines: list[str] = []
        self._flush_seconds = flush_seconds
        self._last_flush = time.monotonic()
        self.failed = False

    def write(self, rec: dict) -> None:
        self._lines.append(_encode(rec) + "\n")
        now = time.monotonic()
        if now - self._last_flush >= self._flush_seconds:
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self._lines or self.failed:
            return
        data = memoryview("".join(self._lines).encode("utf-8"))
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError as exc:
            self.failed = True  # what is left is not written: the journal has not counted it
            raise StateWriteError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        self._lines.clear()

    def close(self) -> None:
        """Flush and close; the file is closed even when the flush fails."""
        try:
            self.flush()
        finally:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def repair(path: Path) -> int:
    """Cut a last line left incomplete by a killed master; return the bytes removed."""
    if not path.exists():
        return 0
    try:
        with open(path, "rb+") as f:
            data = f.read()
            keep = data.rfind(b"\n") + 1
            if keep == len(data):
                return 0
            f.truncate(keep)
            return len(data) - keep
    except OSError as exc:
        raise StateWriteError(f"cannot repair {path}: {exc.strerror or exc}") from exc


def read(path: Path) -> Iterator[dict]:
    """Every complete line of a manifest (a cut last line, from a killed master, is skipped)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
