"""Storage where the platform has no directory descriptors (Windows): folders and files
checked by path.

Folders are made one by one, each checked with lstat to be a plain folder (not a symlink,
not a junction); a file, once created (with O_EXCL, so a link at its name is never written
through), is checked to resolve inside the root and to be the file that was opened. What
stays possible is a race by someone who can write inside the downloads folder: swapping a
folder for a link and back between two of these checks. With directory descriptors
(crawler.store.storage's fast path) not even that.
"""

from __future__ import annotations

import os
import stat

from ..errors import StorageError


def _is_link(st: os.stat_result) -> bool:
    # a symlink, or on Windows any reparse point: a junction redirects a folder like a symlink
    return stat.S_ISLNK(st.st_mode) or bool(getattr(st, "st_file_attributes", 0) & stat.FILE_ATTRIBUTE_REPARSE_POINT)


def checked_folder(root: str, parts: list[str], *, create: bool = True) -> str:
    """Without dir_fd: the path of root/parts, made folder by folder (when `create`), each
    checked with lstat to be a plain folder, never a symlink or a junction."""
    if create:
        os.makedirs(root, exist_ok=True)
    path = root
    for part in parts:
        path = os.path.join(path, part)
        if create:
            try:
                os.mkdir(path, 0o755)  # never follows a link: an existing name is left as it is
            except FileExistsError:
                pass
        try:
            st = os.lstat(path)
        except OSError as exc:
            raise StorageError(f"{part!r} in the downloads folder cannot be used: {exc.strerror}") from exc
        if _is_link(st) or not stat.S_ISDIR(st.st_mode):
            raise StorageError(f"{part!r} in the downloads folder is not a plain folder "
                               f"(a symlink or a file is in the way)")
    return path


def verify_inside(root: str, path: str, fd: int | None = None) -> None:
    """After the checks by path: does `path` still resolve inside root, and (given the file
    just opened) name that very file? A folder swapped for a link between the check and the
    open is caught here, and the file removed."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if os.path.commonpath([real_root, real]) != real_root:
        raise StorageError(f"{path} resolves outside the downloads folder (a link was put in the way)")
    if fd is not None and not os.path.samestat(os.fstat(fd), os.lstat(path)):
        raise StorageError(f"{path} is not the file just created (something replaced it)")


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
