"""Which storage errors are the worker's own, and the one line that says so.

A full disk, a quota, a read-only filesystem, no permission on the downloads folder or an
I/O error says nothing about the URL being stored: another worker may store it fine. The
worker hands such a task back unrecorded and stops (see worker.py). Errors about one name
(ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EEXIST and the like) stay the URL's: `storage`.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from ..errors import StorageError

LOCAL_ERRNOS = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EROFS,
                                     errno.EACCES, errno.EPERM, errno.EIO) if e is not None)


class LocalStorageError(StorageError):
    """The worker's own storage fails (full, over quota, read-only, no permission, I/O error)."""

    def describe(self, root: Path) -> str:
        """One line for the user: what failed, and where (`no space left in /data: 0 bytes free`)."""
        where = os.path.abspath(root)
        if self.errno == errno.ENOSPC:
            try:
                usage = shutil.disk_usage(where)
                free = f"{usage.free:,} bytes free"
            except OSError as exc:
                free = f"free space unknown ({exc.strerror})"
            return f"no space left in {where}: {free}"
        if self.errno == getattr(errno, "EDQUOT", None):
            return f"disk quota exceeded in {where}"
        if self.errno == errno.EROFS:
            return f"{where} is on a read-only filesystem"
        if self.errno in (errno.EACCES, errno.EPERM):
            return f"permission denied in {where} ({self})"
        return f"cannot write in {where}: {self}"


def storage_error(message: str, exc: OSError) -> StorageError:
    """`message: strerror`, as the worker's own fault (LocalStorageError) or the URL's."""
    cls = LocalStorageError if exc.errno in LOCAL_ERRNOS else StorageError
    return cls(f"{message}: {exc.strerror or exc}", errno_=exc.errno)
