"""`--refresh`: crawl a finished (or interrupted) crawl again, asking only for what changed.

At the start the manifest, which is the state the last run left, is set aside as the base
(`DIR/.crawler/manifest.previous.jsonl`) and this run writes a new manifest. Every known
image is asked again; one stored before is asked with a conditional request
(If-None-Match from its recorded ETag, If-Modified-Since from its Last-Modified), which a
304 answers without a body. Each of this run's lines says in `change` what it found
(CHANGES). At the end, base lines of URLs this run did not answer (none, unless the journal
lost them) join the manifest, which is replaced atomically, and the base goes: the manifest
then holds exactly one line per URL. A refresh that is stopped resumes from the journal and
the base, which stay until it ends.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import STATE_DIRNAME, CrawlConfig
from ..errors import StateWriteError
from ..rules import naming
from . import extent

if TYPE_CHECKING:
    from .journal import Journal

log = logging.getLogger(__name__)

BASE_NAME = "manifest.previous.jsonl"

NEW, UPDATED, UNCHANGED, GONE, UNCHECKED = "new", "updated", "unchanged", "gone", "unchecked"
CHANGES = (NEW, UPDATED, UNCHANGED, GONE, UNCHECKED)
"""The manifest's `change`, what this run found against the last: `new` (not recorded
before), `updated` (other bytes stored now), `unchanged` (a 304, the same bytes, or a failure
as before), `gone` (404 or 410 now: a file stored before is kept), `unchecked` (stored
before, and asking failed this time: the line keeps the stored file, with the error)."""

GONE_STATUSES = frozenset({404, 410})
# what a line about a stored file keeps from the line before, when this run has no new bytes
_STORED_FIELDS = ("ok", "path", "bytes", "sha256", "content_type", "worker", "final_url", "duplicate_of",
                  "etag", "last_modified")


def base_path(out: Path) -> Path:
    return Path(out) / STATE_DIRNAME / BASE_NAME


class Previous:
    """The base: what the last run recorded, one raw line per URL (the last one wins), and the
    paths that are not one URL's alone (never replaced in place): those other lines point at
    as duplicates, and those two lines share (http://h/a.jpg and https://h/a.jpg with the
    same bytes: see naming)."""

    def __init__(self, lines: dict[str, str], shared: set[str]):
        self._lines = lines
        self._shared = shared

    @classmethod
    def load(cls, path: Path) -> Previous:
        lines: dict[str, str] = {}
        paths: dict[str, str] = {}  # url -> the path its line names
        shared: set[str] = set()
        if path.exists():
            for raw, rec in _lines(path):
                url = rec.get("url")
                if isinstance(url, str):
                    lines[url] = raw
                    if isinstance(rec.get("duplicate_of"), str):
                        shared.add(rec["duplicate_of"])
                    if isinstance(rec.get("path"), str):
                        paths[url] = rec["path"]
        named = Counter(paths.values())
        shared.update(p for p, n in named.items() if n > 1)
        return cls(lines, shared)

    def __len__(self) -> int:
        return len(self._lines)

    def __contains__(self, url: str) -> bool:
        return url in self._lines

    def urls(self) -> Iterator[str]:
        return iter(self._lines)

    def get(self, url: str) -> dict[str, Any] | None:
        raw = self._lines.get(url)
        return json.loads(raw) if raw is not None else None

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for url, raw in self._lines.items():
            yield url, json.loads(raw)

    def unseen(self, seen: set[str]) -> Iterator[tuple[str, str | None, str]]:
        """(url, page, source) of the images recorded before that are not in `seen`."""
        for url in self._lines:
            old = self.get(url) if url not in seen else None
            if old is not None:
                page, source = old.get("page"), old.get("source")
                yield url, page if isinstance(page, str) else None, source if isinstance(source, str) else "page"

    def wire(self, url: str) -> dict[str, Any]:
        """What a worker needs to ask again for an image stored before: its validators, the
        path it is stored at (a worker that does not hold that file asks without conditions)
        and its checksum, and whether the file is this URL's own to replace (not another
        URL's, nor one that other URLs' lines point at as duplicates). {} for an image not
        stored before: it is asked as a new one."""
        old = self.get(url)
        if not old or old.get("ok") is not True or not isinstance(old.get("path"), str):
            return {}
        out = {"stored": old["path"], "own": not old.get("duplicate_of") and old["path"] not in self._shared}
        if isinstance(old.get("sha256"), str):
            out["stored_sha256"] = old["sha256"]
        for key in ("etag", "last_modified"):
            if isinstance(old.get(key), str):
                out[key] = old[key]
        return out


def begin(journal: Journal, cfg: CrawlConfig, manifest_path: Path, *, refresh: bool,
          resuming: bool) -> tuple[list[str] | None, Previous | None]:
    """What this run on a crawl folder is: new, resumed, a refresh (--refresh, or one to
    resume), or a finished crawl going on under changed limits. Returns what changed in the
    crawl's extent since the last run, in words ([] for nothing; None when the crawl is
    finished and nothing changed: nothing to do), and while refreshing, the base."""
    now = extent.of(cfg)
    before = extent.loads(journal.get_meta("extent")) if resuming else None
    changed = extent.changes(before, now)[0] if before is not None else []
    base = base_path(cfg.out)
    refreshing = journal.get_meta("refresh") == "1"
    if refresh and not refreshing:
        if resuming:
            journal.restart(refresh="1", finished="0")
            refreshing = True
        else:
            log.info("nothing is recorded in %s to refresh: crawling it", cfg.out)
    elif journal.get_meta("finished") == "1":
        if not changed:
            return None, None
        journal.set_meta("finished", "0")
    previous = None
    if refreshing:
        if not base.exists():  # the refresh starts (or was stopped before it set the manifest aside)
            set_base_aside(manifest_path, base)
        previous = Previous.load(base)
    else:
        drop_base(base)  # a refresh ended while removing it
    journal.set_meta("extent", extent.dumps(now))
    return changed, previous


def judge(rec: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    """This run's manifest line for a URL, given the last run's line (None: not recorded
    before), with `change` set. A 304 keeps the stored file's fields; so does a failure of
    a URL stored before, which keeps its file (`unchecked`, or `gone` for 404 and 410)."""
    if old is None:
        rec["change"] = NEW
        return rec
    stored_before = old.get("ok") is True
    if rec.get("status") == 304 and stored_before:
        kept = {k: old.get(k) for k in _STORED_FIELDS}
        kept["etag"] = rec.get("etag") or old.get("etag")
        kept["last_modified"] = rec.get("last_modified") or old.get("last_modified")
        if not kept.get("duplicate_of"):
            kept.pop("duplicate_of", None)
        rec.update(kept, change=UNCHANGED)
        return rec
    if rec.get("ok"):
        same = stored_before and rec.get("sha256") == old.get("sha256")
        rec["change"] = UNCHANGED if same else UPDATED if stored_before else NEW
        return rec
    gone = rec.get("status") in GONE_STATUSES
    if stored_before:  # the file stays, and the line says where it is
        kept = {k: old.get(k) for k in _STORED_FIELDS if k != "ok"}
        if not kept.get("duplicate_of"):
            kept.pop("duplicate_of", None)
        rec.update(kept, change=GONE if gone else UNCHECKED)
        rec["ok"] = not gone  # a gone image is no longer stored from its URL; its file is kept
        return rec
    rec["change"] = GONE if gone and old.get("status") not in GONE_STATUSES else UNCHANGED
    return rec


def replace_target(task: dict[str, Any], rel: str, hashed: str) -> str | None:
    """Where a refreshed image's new bytes replace its stored file: its own stored path, if
    that is still its path for the type it now has (`rel`, or `hashed` when another URL
    holds `rel`). None: store as any new image is (the old file stays)."""
    stored = task.get("stored")
    if not stored or not task.get("own"):
        return None
    return stored if stored in (rel, hashed) else None


def holds(out: Path, task: dict[str, Any]) -> bool:
    """Does this worker hold the stored file a conditional request would keep?"""
    stored = task.get("stored")
    if not stored:
        return False
    try:
        return naming.safe_join(out, stored).is_file()
    except (ValueError, OSError):
        return False


def finish(manifest_path: Path, base: Path) -> int:
    """End a refresh: the base's lines for URLs this run did not answer join the manifest,
    which is replaced atomically (one line per URL); the base is removed. Returns how many
    lines were carried over."""
    answered = {rec.get("url") for _, rec in _lines(manifest_path)} if manifest_path.exists() else set()
    carried = [raw for raw, rec in _lines(base) if rec.get("url") not in answered] if base.exists() else []
    if carried:
        tmp = manifest_path.with_name(manifest_path.name + ".refresh-tmp")
        try:
            with open(tmp, "wb") as f:
                if manifest_path.exists():
                    with open(manifest_path, "rb") as current:
                        while chunk := current.read(1 << 20):
                            f.write(chunk)
                f.write("".join(carried).encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, manifest_path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StateWriteError(f"cannot write {manifest_path}: {exc.strerror or exc}") from exc
    return len(carried)


def drop_base(base: Path) -> None:
    base.unlink(missing_ok=True)


def set_base_aside(manifest_path: Path, base: Path) -> None:
    """The last run's manifest becomes the base (atomically); this run starts a new one."""
    try:
        if manifest_path.exists():
            os.replace(manifest_path, base)
        else:
            base.touch()
    except OSError as exc:
        raise StateWriteError(f"cannot move {manifest_path} aside: {exc.strerror or exc}") from exc


def _lines(path: Path) -> Iterator[tuple[str, dict]]:
    """(raw line, record) of every complete, readable line of a manifest."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                yield line, rec

