"""`crawler report`'s reading of the manifest: the counts, the failures by reason and host,
the stored images as the gallery shows them, and the text summary.

Everything comes from `DIR/manifest.jsonl`, written from answers of workers and from URLs
found on the web: every field is treated as hostile (types checked, paths validated, control
characters shown as `?`).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..config import MANIFEST_NAME
from ..errors import ConfigError
from ..rules import imagetype, naming, urls
from ..store import manifest
from ..store.refresh import CHANGES, NEW

TOP_HOSTS = 10
EXAMPLES = 3
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass
class Failure:
    url: str
    page: str | None
    reason: str
    error: str | None
    status: int | None


@dataclass
class Image:
    """One stored image (ok line) as the gallery shows it."""

    url: str
    page: str | None
    host: str
    path: str | None          # the validated relative path to show and link, None if unsafe
    raw_path: Any             # what the manifest said
    bytes: int
    kind: str
    duplicate_of: str | None  # validated path of the first copy, when this is a duplicate
    exists: bool
    change: str | None = None  # what the last run found (the manifest's `change`)


@dataclass
class Report:
    out: Path
    total: int = 0
    ok: int = 0
    failed: int = 0
    bytes: int = 0                 # bytes of every ok image, duplicates included
    unique_bytes: int = 0          # bytes of the files stored (duplicates not counted twice)
    duplicates: int = 0
    unsafe_paths: int = 0          # ok lines whose path was refused (not shown in the gallery)
    missing_files: int = 0         # ok lines whose file is not on disk
    bad_lines: int = 0             # lines that are not objects
    by_host: Counter = field(default_factory=Counter)        # host -> images (ok + failed)
    ok_by_host: Counter = field(default_factory=Counter)
    failed_by_host: Counter = field(default_factory=Counter)
    by_type: Counter = field(default_factory=Counter)        # kind -> ok images
    by_outcome: Counter = field(default_factory=Counter)     # "ok" / reason -> images
    by_reason: Counter = field(default_factory=Counter)      # reason -> failed images
    examples: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # reason -> (url, error)
    images: list[Image] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    changes: Counter = field(default_factory=Counter)        # the manifest's `change` -> images

    @property
    def refreshed(self) -> bool:
        """Is this the manifest of a --refresh (some line is other than `new`)?"""
        return any(c != NEW for c in self.changes)

    def changes_text(self) -> str:
        return ", ".join(f"{self.changes[c]} {c}" for c in CHANGES if self.changes[c])



def build_report(out: Path) -> Report:
    """The report of the crawl in `out`; ConfigError when there is no manifest to read."""
    out = Path(out)
    path = out / MANIFEST_NAME
    if not path.is_file():
        raise ConfigError(f"no manifest at {path}: is {out} the --out folder of a crawl?")
    try:
        return summarize(out, manifest.read(path))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e


def summarize(out: Path, records: Iterable[Any]) -> Report:
    rep = Report(out=Path(out))
    seen_files: set[str] = set()
    for rec in records:
        if not isinstance(rec, dict):
            rep.bad_lines += 1
            continue
        rep.total += 1
        url = as_text(rec.get("url"))
        page = rec.get("page") if isinstance(rec.get("page"), str) else None
        host = site_of(url)
        rep.by_host[host] += 1
        change = rec.get("change") if rec.get("change") in CHANGES else None
        if change:
            rep.changes[change] += 1
        if rec.get("ok") is True:
            rep.ok += 1
            rep.ok_by_host[host] += 1
            rep.by_outcome["ok"] += 1
            nbytes = _int(rec.get("bytes"))
            rep.bytes += nbytes
            raw_path = rec.get("path")
            dup_raw = rec.get("duplicate_of")
            path = _safe_rel(out, raw_path)
            dup = _safe_rel(out, dup_raw) if dup_raw else None
            if dup_raw:
                rep.duplicates += 1
            shown = None if (dup_raw and dup is None) else (dup or path)
            if shown is None:
                rep.unsafe_paths += 1
                exists = False
            else:
                exists = os.path.isfile(os.path.join(out, shown))  # shown passed check_relative
                if not exists:
                    rep.missing_files += 1
                if not dup_raw and shown not in seen_files:
                    rep.unique_bytes += nbytes
                seen_files.add(shown)
            kind = kind_of(rec.get("content_type"), shown or (raw_path if isinstance(raw_path, str) else None))
            rep.by_type[kind] += 1
            rep.images.append(Image(url=url, page=page, host=host, path=shown, raw_path=raw_path,
                                    bytes=nbytes, kind=kind, duplicate_of=dup if dup_raw else None,
                                    exists=exists, change=change))
        else:
            rep.failed += 1
            rep.failed_by_host[host] += 1
            reason = as_text(rec.get("reason")) or "unknown"
            rep.by_reason[reason] += 1
            rep.by_outcome[reason] += 1
            status = rec.get("status") if isinstance(rec.get("status"), int) else None
            error = rec.get("error") if isinstance(rec.get("error"), str) else None
            rep.failures.append(Failure(url=url, page=page, reason=reason, error=error, status=status))
            ex = rep.examples.setdefault(reason, [])
            if len(ex) < EXAMPLES:
                ex.append((url, _error_text(error, status, reason)))
    return rep


def site_of(url: str) -> str:
    """The site of a URL as the report groups by it: `host` or `host:port` (unlike
    `urls.host_of`, the port stays), lower-case; "(unknown host)" when it has none."""
    netloc = urls.authority(url) if isinstance(url, str) else None
    return "(unknown host)" if netloc is None else _host_and_port(netloc)


@lru_cache(maxsize=4096)  # a crawl has few hosts and many URLs: parse each authority once
def _host_and_port(netloc: str) -> str:
    try:
        parts = urlsplit("//" + netloc)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return "(unknown host)"
    if not host:
        return "(unknown host)"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def kind_of(content_type: Any, path: str | None) -> str:
    """The image type from the Content-Type, else from the file extension, else "unknown"."""
    kind = imagetype.kind_from_content_type(content_type if isinstance(content_type, str) else None)
    if kind:
        return kind
    if path:
        ext = posixpath.splitext(path)[1].lower()
        if ext in imagetype.EXTENSION_KINDS:
            return imagetype.EXTENSION_KINDS[ext]
    mt = imagetype.media_type(content_type) if isinstance(content_type, str) else ""
    return clean_text(mt, 40) if mt else "unknown"


def _safe_rel(out: Path, rel: Any) -> str | None:
    if not isinstance(rel, str):
        return None
    try:
        naming.check_relative(rel)
        rel.encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return None
    return rel


def as_text(v: Any) -> str:
    return v if isinstance(v, str) else ("" if v is None else str(v))


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0


def clean_text(text: str, limit: int = 200) -> str:
    """One line of printable text: control characters (terminal escapes) shown as `?`."""
    text = CONTROL_CHARS.sub("?", " ".join(text.split()))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _error_text(error: str | None, status: int | None, reason: str) -> str:
    if error:
        return error
    if status is not None:
        return f"HTTP {status}"
    return reason


def human_bytes(n: int) -> str:
    """1536 -> "1.5 KiB"."""
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"



def summary_lines(report: Report) -> list[str]:
    r = report
    lines = [f"images: {r.total} total, {r.ok} ok, {r.failed} failed"]
    lines.append(f"bytes: {r.bytes} ({human_bytes(r.bytes)}), stored {r.unique_bytes} "
                 f"({human_bytes(r.unique_bytes)})")
    lines.append(f"duplicates: {r.duplicates}")
    if r.refreshed:
        lines.append(f"last refresh: {r.changes_text()}")
    if r.by_host:
        lines.append(f"by host ({len(r.by_host)}):")
        hosts = sorted(r.by_host.items(), key=lambda kv: (-kv[1], kv[0]))
        for host, n in hosts[:TOP_HOSTS]:
            lines.append(f"  {clean_text(host, 100)}: {n} ({r.ok_by_host[host]} ok, "
                         f"{r.failed_by_host[host]} failed)")
        if len(hosts) > TOP_HOSTS:
            rest = hosts[TOP_HOSTS:]
            lines.append(f"  {len(rest)} more hosts: {sum(n for _, n in rest)} images")
    if r.by_type:
        lines.append("by type:")
        for kind, n in sorted(r.by_type.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {kind}: {n}")
    if r.unsafe_paths:
        lines.append(f"unsafe paths (not shown): {r.unsafe_paths}")
    if r.missing_files:
        lines.append(f"files missing on disk: {r.missing_files}")
    if r.bad_lines:
        lines.append(f"unreadable manifest lines: {r.bad_lines}")
    if r.by_reason:
        lines.append(f"failures by reason ({r.failed}):")
        for reason, n in sorted(r.by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {clean_text(reason, 60)}: {n}")
            for url, err in r.examples.get(reason, []):
                lines.append(f"    {clean_text(url, 300)}: {clean_text(err)}")
    return lines

