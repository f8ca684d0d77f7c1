"""The content index: a site's copies of the same bytes are stored once.

Under the downloads root, `.crawler/content/<sha256[:2]>/<sha256>@<site>` holds the path of
the first file with those bytes from that site. Entries are created with O_EXCL, so workers
sharing a folder agree on the first copy without talking to each other.
"""

from __future__ import annotations

import contextlib
import os
import time
from functools import lru_cache
from pathlib import Path

from ..config import STATE_DIRNAME
from ..rules.naming import safe_join
from .diskfaults import storage_error
from .storage import _FILE_FLAGS  # the same exclusive, no-symlink create

CONTENT_INDEX = os.path.join(STATE_DIRNAME, "content")
_index_folders: set[str] = set()  # made already by this process (256 at most per root)


def claim(root: Path, site: str, sha256: str, rel: str) -> str | None:
    """Claim these bytes for `rel`; or return the path an earlier file with the same bytes
    from the same site has (so a site's 50 copies of a logo cost one file).

    The index is a file per (sha256, site) created with O_EXCL, so workers sharing a folder
    agree on the first copy without talking to each other. Claim only once `rel` is on disk:
    a copy named in the index and not found there is taken for one that is gone.
    """
    try:
        return _claim(root, site, sha256, rel)
    except OSError as exc:
        raise storage_error(f"cannot record {rel} in the content index", exc) from exc


def _claim(root: Path, site: str, sha256: str, rel: str) -> str | None:
    folder = os.path.join(root, CONTENT_INDEX, sha256[:2])
    if folder not in _index_folders:
        os.makedirs(folder, exist_ok=True)
        _index_folders.add(folder)
    entry = os.path.join(folder, f"{sha256}@{_index_safe(site)}")
    try:
        fd = os.open(entry, _FILE_FLAGS, 0o644)
    except FileExistsError:
        try:
            first = _read_entry(entry)
        except OSError:
            return None
        try:
            if first != rel and safe_join(root, first).is_file():
                return first
        except ValueError:
            pass
        Path(entry).write_text(rel, encoding="utf-8")  # the first copy is gone (or was this one): take over
        return None
    try:
        os.write(fd, rel.encode("utf-8"))
    except OSError:
        with contextlib.suppress(OSError):  # an empty claim would keep others waiting for it
            os.unlink(entry)
        raise
    finally:
        os.close(fd)
    return None


def release(root: Path, site: str, sha256: str, rel: str) -> None:
    """`rel` no longer holds these bytes (a refresh replaced them): forget it as their first
    copy, so that no later copy of the old bytes is pointed at it."""
    entry = os.path.join(root, CONTENT_INDEX, sha256[:2], f"{sha256}@{_index_safe(site)}")
    try:
        if _read_entry(entry) == rel:
            os.unlink(entry)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise storage_error(f"cannot update the content index for {rel}", exc) from exc


def _read_entry(entry: str) -> str:
    """An index entry's path; an empty one is a claim made this moment, whose path is being
    written (between the entry's creation and its one write): wait for it, briefly."""
    for _ in range(100):
        first = Path(entry).read_text(encoding="utf-8")
        if first:
            return first
        time.sleep(0.001)
    return first


@lru_cache(maxsize=1024)
def _index_safe(site: str) -> str:
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in site)[:200]
