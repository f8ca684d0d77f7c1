"""CrawlRecord: the crawl's two records on disk, kept together.

The journal (state.py: what is queued, leased, done) and the manifest (manifest.jsonl: one
line per image answered) are opened, committed and closed as one: the manifest is flushed
before every journal commit, so whatever the journal calls done is in the manifest too. It
also says how this run starts: fresh, resuming, refreshing (refresh.py: `previous`, the last
run's lines), or finding the crawl already finished.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..config import MANIFEST_NAME, STATE_DIRNAME, CrawlConfig
from ..errors import StateWriteError
from ..store import manifest
from ..store import refresh as refresh_
from ..store.journal import Journal, Snapshot
from .stats import Summary

log = logging.getLogger("crawler.master")  # one logger for the master's parts, as before the split

JOURNAL_NAME = "state.sqlite"


class CrawlRecord:
    journal: Journal  # set by open()
    manifest: manifest.ManifestWriter  # set by start_writing(), once what is there has been read

    def __init__(self, cfg: CrawlConfig, summary: Summary, *, fresh: bool = False, refresh: bool = False):
        self.cfg = cfg
        self.summary = summary
        self.fresh = fresh
        self.refresh = refresh  # --refresh: ask again for everything recorded (see refresh.py)
        self.previous: refresh_.Previous | None = None  # while refreshing: the last run's lines
        self.manifest_path = cfg.out / MANIFEST_NAME
        self.resuming = False
        self._writing = False

    def open(self) -> list[str] | None:
        """Open the journal. Returns None when the crawl already finished (its numbers counted
        into the summary, the journal closed again), else what changed in its limits since
        its last run (refresh.begin's `widened`: empty when nothing did)."""
        out = self.cfg.out
        try:
            (out / STATE_DIRNAME).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateWriteError(f"cannot make {out / STATE_DIRNAME}: {exc.strerror or exc}") from exc
        journal_path = out / STATE_DIRNAME / JOURNAL_NAME
        if self.fresh:
            _remove_journal(journal_path)
        self.resuming = journal_path.exists()
        if not self.resuming:
            _set_aside_old_manifest(self.manifest_path)
        self.journal = Journal(journal_path, before_commit=self._flush_manifest)
        widened, self.previous = refresh_.begin(self.journal, self.cfg, self.manifest_path, refresh=self.refresh,
                                                resuming=self.resuming)
        if widened is None:
            self._count_manifest()
            log.info("the crawl in %s already finished (%d images ok, %d failed); use --refresh to crawl it again "
                     "for what changed, --fresh to start over", out, self.summary.images_ok,
                     sum(self.summary.images_failed.values()))
            self.journal.close()
        return widened

    def resume(self) -> tuple[Snapshot, set[str]]:
        """What an earlier run left: the journal's snapshot and the URLs the manifest records
        (the manifest repaired, its lines and the journal's pages counted into the summary)."""
        removed = manifest.repair(self.manifest_path)
        if removed:
            log.warning("cut an incomplete last line (%d bytes) from %s", removed, self.manifest_path)
        done_urls = self._count_manifest()
        snap = self.journal.snapshot(done_urls)
        self.summary.pages_ok = snap.pages_done
        if snap.pages_failed:
            self.summary.pages_failed["in an earlier run"] = snap.pages_failed
        return snap, done_urls

    def say_resumed(self, snap: Snapshot, open_tasks: int) -> None:
        done = snap.pages_done + snap.pages_failed
        if self.previous is not None and not done and not snap.done_ids:  # a refresh that starts now
            log.info("refreshing the crawl in %s: %d pages to fetch again, %d images to ask again",
                     self.cfg.out, len(snap.pages_queued), open_tasks)
            return
        log.info("resuming the %s in %s: %d pages done, %d to fetch; %d images recorded, %d to download",
                 "crawl" if self.previous is None else "refresh of the crawl", self.cfg.out, done,
                 len(snap.pages_queued), len(snap.done_ids), open_tasks)

    def start_writing(self) -> None:
        self.manifest = manifest.ManifestWriter(self.manifest_path)
        self._writing = True

    def close(self, *, completed: bool, state_ok: bool) -> StateWriteError | None:
        """Commit what can be committed and close the journal and the manifest; `completed`
        marks the crawl finished. Returns the first write that failed, if one did."""
        failed = None
        try:
            if state_ok:
                self.journal.commit()  # flushes the manifest first
                if completed:  # only once everything it counts is on disk
                    if self.previous is not None:
                        self._end_refresh()
                    self.journal.set_meta("finished", "1", refresh="0")
                    if self.previous is not None:
                        refresh_.drop_base(refresh_.base_path(self.cfg.out))
        except StateWriteError as exc:
            state_ok = False
            failed = exc
        finally:
            self.journal.close(commit=state_ok)
        try:
            self.manifest.close()  # lines the journal has not counted yet still help a resume
        except StateWriteError as exc:
            failed = failed or exc
        return failed

    def _end_refresh(self) -> None:
        """One line per URL: what the last run recorded and this one did not answer joins
        the manifest (atomically)."""
        self.manifest.close()
        carried = refresh_.finish(self.manifest_path, refresh_.base_path(self.cfg.out))
        if carried:
            log.warning("kept %d line(s) of the last run for images this refresh did not ask for", carried)

    def _count_manifest(self) -> set[str]:
        """Fill the summary from an existing manifest; return the URLs it records."""
        urls_done: set[str] = set()
        if not self.manifest_path.exists():
            return urls_done
        for rec in manifest.read(self.manifest_path):
            url = rec.get("url")
            if isinstance(url, str):  # manifest.read gives lines that parsed; each names its URL
                urls_done.add(url)
            self.summary.count_line(rec, refreshing=self.previous is not None)
        return urls_done

    def _flush_manifest(self) -> None:
        if self._writing:
            self.manifest.flush()


def _set_aside_old_manifest(path: Path) -> None:
    """A new crawl starts a new manifest; an old one is kept under a dated name
    (manifest.jsonl -> manifest.20260102-150405.jsonl)."""
    if path.exists() and path.stat().st_size > 0:
        old = path.with_name(f"{path.stem}.{time.strftime('%Y%m%d-%H%M%S')}{path.suffix}")
        path.rename(old)
        log.info("kept the previous manifest as %s", old.name)


def _remove_journal(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)
