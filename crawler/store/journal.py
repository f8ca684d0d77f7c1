"""The master's journal: crawl state in SQLite under DIR/.crawler/, so a killed master resumes.

What it holds: every page seen (queued, done or failed, with its depth), every image task
(its id, URL, page, how it was found, attempts, and whether it is answered), every sitemap
(queued or read, and its level), whether the crawl finished, and (meta `extent`) the seeds,
scope and limits it ran with. It also keeps what those limits left out: page links not
followed (out of scope, beyond --max-depth, past a page cap) and images not taken (out of
scope), so that a crawl started again with wider limits takes them up without fetching
anything again (`dropped_pages`, `dropped_images`).
Writes are buffered and committed in one transaction every `commit_seconds`, so they cost
little per image. The manifest is flushed before each commit, so whatever the journal calls
done is also in the manifest; on resume, the manifest's lines are the final word on what is
done (a line written just before a kill, whose journal commit was lost, still counts).

A write that fails (a full disk) raises StateWriteError naming the file; the transaction is
rolled back, so the journal stays as its last commit left it, and the crawl resumes from
there once there is room.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StateWriteError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pages (url TEXT PRIMARY KEY, depth INTEGER NOT NULL, state INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (id INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE, page TEXT,
                                  attempt INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0, source TEXT);
CREATE INDEX IF NOT EXISTS tasks_open ON tasks (done) WHERE done = 0;
CREATE TABLE IF NOT EXISTS sitemaps (url TEXT PRIMARY KEY, level INTEGER NOT NULL, state INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dropped_pages (url TEXT PRIMARY KEY, depth INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dropped_images (url TEXT PRIMARY KEY, page TEXT, source TEXT);
"""

PAGE_QUEUED, PAGE_DONE, PAGE_FAILED = 0, 1, 2


@dataclass
class Snapshot:
    """What a resuming master needs from the journal."""

    pages_seen: set[str] = field(default_factory=set)
    pages_queued: list[tuple[str, int]] = field(default_factory=list)
    pages_done: int = 0
    pages_failed: int = 0
    image_urls: set[str] = field(default_factory=set)
    # id, url, page, attempt, source
    open_tasks: list[tuple[int, str, str | None, int, str | None]] = field(default_factory=list)
    done_ids: set[int] = field(default_factory=set)
    next_id: int = 1
    sitemaps_seen: set[str] = field(default_factory=set)
    sitemaps_queued: list[tuple[str, int]] = field(default_factory=list)  # url, level


class Journal:
    def __init__(self, path: Path, *, commit_seconds: float = 0.5,
                 before_commit: Callable[[], None] | None = None):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL with WAL survives a killed process (only an OS crash can lose the last commits)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(tasks)")}
            if "source" not in columns:  # a journal written before tasks recorded their source
                self._db.execute("ALTER TABLE tasks ADD COLUMN source TEXT")
        except sqlite3.Error as exc:
            self._db.close()
            raise self._error(exc) from exc
        self._commit_seconds = commit_seconds
        self._before_commit = before_commit
        self._last_commit = time.monotonic()
        self._pages: list[tuple[str, int, int]] = []
        self._tasks: list[tuple[int, str, str | None, int, str | None]] = []
        self._attempts: list[tuple[int, int]] = []
        self._done: list[tuple[int]] = []
        self._sitemaps: list[tuple[str, int, int]] = []
        self._dropped_pages: list[tuple[str, int]] = []
        self._dropped_images: list[tuple[str, str | None, str | None]] = []

    # -- reading -------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def snapshot(self, done_urls: set[str]) -> Snapshot:
        """Load the state; tasks whose URL is in done_urls (the manifest) count as done."""
        snap = Snapshot()
        for url, depth, state in self._db.execute("SELECT url, depth, state FROM pages"):
            snap.pages_seen.add(url)
            if state == PAGE_QUEUED:
                snap.pages_queued.append((url, depth))
            elif state == PAGE_DONE:
                snap.pages_done += 1
            else:
                snap.pages_failed += 1
        late = []
        for task_id, url, page, attempt, done, source in self._db.execute(
                "SELECT id, url, page, attempt, done, source FROM tasks ORDER BY id"):
            snap.image_urls.add(url)
            snap.next_id = task_id + 1
            if done or url in done_urls:
                snap.done_ids.add(task_id)
                if not done:
                    late.append((task_id,))
            else:
                # interned: sqlite returns a new string for every row
                snap.open_tasks.append((task_id, url, page, attempt, source and sys.intern(source)))
        for url, level, state in self._db.execute("SELECT url, level, state FROM sitemaps"):
            snap.sitemaps_seen.add(url)
            if state == PAGE_QUEUED:
                snap.sitemaps_queued.append((url, level))
        if late:
            try:
                self._db.executemany("UPDATE tasks SET done = 1 WHERE id = ?", late)
            except sqlite3.Error as exc:
                raise self._error(exc) from exc
        return snap

    def dropped_pages(self) -> list[tuple[str, int]]:
        """Page links the limits left out, shallowest first: (url, the depth they had)."""
        return self._db.execute("SELECT url, depth FROM dropped_pages ORDER BY depth, rowid").fetchall()

    def dropped_images(self) -> list[tuple[str, str | None, str | None]]:
        """Images the scope left out: (url, page, source)."""
        return self._db.execute("SELECT url, page, source FROM dropped_images ORDER BY rowid").fetchall()

    # -- writing (buffered) --------------------------------------------------------
    def set_meta(self, key: str, value: str, **more: str) -> None:
        """Set meta keys, `key` and those of `more`, in one transaction."""
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                     [(key, value), *more.items()])
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def restart(self, **meta: str) -> None:
        """Everything recorded is to be done again (a refresh): every page and sitemap queued,
        every task open at its first attempt; with these meta keys, in one transaction."""
        self.commit()
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.execute("UPDATE pages SET state = ?", (PAGE_QUEUED,))
                self._db.execute("UPDATE sitemaps SET state = ?", (PAGE_QUEUED,))
                self._db.execute("UPDATE tasks SET done = 0, attempt = 1")
                self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta.items())
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def sitemap_queued(self, url: str, level: int) -> None:
        self._sitemaps.append((url, level, PAGE_QUEUED))

    def sitemap_finished(self, url: str, level: int, ok: bool) -> None:
        self._sitemaps.append((url, level, PAGE_DONE if ok else PAGE_FAILED))

    def page_dropped(self, url: str, depth: int) -> None:
        """A page link the limits left out (out of scope, too deep, past a cap), at this depth."""
        self._dropped_pages.append((url, depth))

    def image_dropped(self, url: str, page: str | None, source: str | None) -> None:
        """An image the scope left out (--exclude, --same-host-images)."""
        self._dropped_images.append((url, page, source))

    def _error(self, exc: sqlite3.Error) -> StateWriteError:
        return StateWriteError(f"cannot write {self.path}: {exc}")

    def page_queued(self, url: str, depth: int) -> None:
        self._pages.append((url, depth, PAGE_QUEUED))

    def page_finished(self, url: str, depth: int, ok: bool) -> None:
        self._pages.append((url, depth, PAGE_DONE if ok else PAGE_FAILED))

    def task_added(self, task_id: int, url: str, page: str | None, attempt: int = 1,
                   source: str | None = None) -> None:
        self._tasks.append((task_id, url, page, attempt, source))

    def task_attempt(self, task_id: int, attempt: int) -> None:
        self._attempts.append((attempt, task_id))

    def task_done(self, task_id: int) -> None:
        self._done.append((task_id,))

    def maybe_commit(self) -> None:
        if time.monotonic() - self._last_commit >= self._commit_seconds:
            self.commit()

    def commit(self) -> None:
        if self._before_commit:
            self._before_commit()
        self._last_commit = time.monotonic()
        if not (self._pages or self._tasks or self._attempts or self._done or self._sitemaps
                or self._dropped_pages or self._dropped_images):
            return
        try:
            with self._db:  # one transaction
                self._db.execute("BEGIN")
                # a page's later state wins over its earlier one, in order of the calls
                self._db.executemany("INSERT INTO pages (url, depth, state) VALUES (?, ?, ?) "
                                     "ON CONFLICT(url) DO UPDATE SET state = excluded.state", self._pages)
                self._db.executemany("INSERT OR IGNORE INTO tasks (id, url, page, attempt, source) "
                                     "VALUES (?, ?, ?, ?, ?)", self._tasks)
                self._db.executemany("UPDATE tasks SET attempt = ? WHERE id = ?", self._attempts)
                self._db.executemany("UPDATE tasks SET done = 1 WHERE id = ?", self._done)
                self._db.executemany("INSERT INTO sitemaps (url, level, state) VALUES (?, ?, ?) "
                                     "ON CONFLICT(url) DO UPDATE SET state = excluded.state", self._sitemaps)
                # a link found at several depths keeps the shallowest
                self._db.executemany("INSERT INTO dropped_pages (url, depth) VALUES (?, ?) ON CONFLICT(url) "
                                     "DO UPDATE SET depth = min(depth, excluded.depth)", self._dropped_pages)
                self._db.executemany("INSERT OR IGNORE INTO dropped_images (url, page, source) VALUES (?, ?, ?)",
                                     self._dropped_images)
        except sqlite3.Error as exc:  # rolled back: the journal is as the last commit left it
            raise self._error(exc) from exc
        for buffered in (self._pages, self._tasks, self._attempts, self._done, self._sitemaps,
                         self._dropped_pages, self._dropped_images):
            buffered.clear()

    def close(self, commit: bool = True) -> None:
        """Commit what is buffered (unless told not to: the disk failed) and close."""
        try:
            if commit:
                self.commit()
        finally:
            self._db.close()
