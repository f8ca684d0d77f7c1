"""Atomic writes under the downloads root.

A download is streamed into `<name>.<random>.crawler-part` in its target folder and renamed
into place only when complete, so no reader ever sees half a file. Folders are walked with
directory file descriptors and O_NOFOLLOW, so a symlink planted inside the downloads root
(or a URL-derived name) can never make a write land outside it.

Where the platform has no directory descriptors (Windows), folders are made one by one by
path, each checked to be a plain folder (not a symlink or a junction), and the file, once
created, is checked to be where it should: inside the root, by the path it was opened by
(crawler.store.checkedpaths). The file is created with O_EXCL there too, so a
planted link at its name is never written through, and renamed into place in its folder.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import logging
import os
import random
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from .. import portable
from ..config import STATE_DIRNAME
from ..errors import StorageError  # noqa: F401  (storage.StorageError, as before)
from ..rules.naming import TEMP_SUFFIX, check_relative, is_temp_name
from .checkedpaths import checked_folder, unlink_quietly, verify_inside
from .diskfaults import LOCAL_ERRNOS, LocalStorageError, storage_error  # noqa: F401  (storage.LocalStorageError)

log = logging.getLogger(__name__)

_ROOT_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)  # the root itself may be a symlink the user made
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
_HAVE_DIR_FD = (portable.enabled("dir-fd") and os.open in os.supports_dir_fd and os.mkdir in os.supports_dir_fd
                and os.rename in os.supports_dir_fd and os.unlink in os.supports_dir_fd)
# link(2) failing so: the filesystem has no hard links (FAT, some network and FUSE ones)
_NO_HARD_LINKS = frozenset(e for e in (errno.EPERM, errno.EMLINK, getattr(errno, "ENOTSUP", None),
                                       getattr(errno, "EOPNOTSUPP", None)) if e is not None)

class AtomicFile:
    """A temporary file in its final folder; `commit()` renames it into place, `abort()` removes it."""

    def __init__(self, root: Path, rel: str):
        parts = check_relative(rel)  # raises ValueError on anything that could leave the root
        self.rel = rel
        self._name = parts[-1]
        # the pid lets a worker starting on the same folder tell a live neighbour's file from a leftover
        self._tmp = f"{self._name}.{os.getpid()}-{random.getrandbits(32):08x}{TEMP_SUFFIX}"
        self._dir_fd = -1
        self._root = os.fspath(root)
        self._dir_path = os.path.join(root, *parts[:-1])
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.kept = False  # commit() found these very bytes at the path already, and kept that file
        try:
            if _HAVE_DIR_FD:
                self._dir_fd = _open_folder(os.fspath(root), parts[:-1])
                fd = os.open(self._tmp, _FILE_FLAGS, 0o644, dir_fd=self._dir_fd)
            else:  # Windows has no dir_fd: checked paths
                self._dir_path = checked_folder(os.fspath(root), parts[:-1])
                path = os.path.join(self._dir_path, self._tmp)
                fd = os.open(path, _FILE_FLAGS, 0o644)
                try:
                    verify_inside(os.fspath(root), path, fd)
                except BaseException:
                    os.close(fd)
                    unlink_quietly(path)
                    raise
        except OSError as exc:
            self._close_dir()
            raise storage_error(f"cannot create {rel}", exc) from exc
        self._fd = fd

    def write(self, data: bytes) -> None:
        # unbuffered: the chunks are 64 kB reads already, a buffer would only copy them
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            raise storage_error(f"cannot write {self.rel}", exc) from exc
        self.sha256.update(data)
        self.size += len(data)

    def _close_file(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def commit(self, fallback: Callable[[], str] | None = None, *, keep_same: bool = False) -> str:
        """Put the file in place; return the path it is stored under.

        Without `fallback`, whatever is at the path is replaced (atomically: a reader sees
        the old bytes or the new, never a mix); with `keep_same` too, the same bytes there
        are kept as they are (`self.kept`; a refresh that finds them so). With `fallback`,
        different bytes at the path are never replaced (two URLs may share a plain path: see
        naming): ours go to `fallback()` instead; and the same bytes at the path are kept
        (`self.kept`). A symlink or anything else that is not a regular file is replaced, as ever.
        """
        try:
            self._close_file()
            if self._dir_fd < 0:
                verify_inside(self._root, self._dir_path)  # no folder on the way swapped meanwhile
            if fallback is None:
                if keep_same and self._holds_these_bytes(self._name):
                    self.kept = True
                    self._unlink(self._tmp)
                else:
                    self._rename(self._name)
                return self.rel
            try:  # a hard link fails where a name exists, atomically: no other writer slips in
                if self._dir_fd >= 0:
                    os.link(self._tmp, self._name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd,
                            follow_symlinks=False)
                else:
                    os.link(os.path.join(self._dir_path, self._tmp), os.path.join(self._dir_path, self._name))
                self._unlink(self._tmp)
                return self.rel
            except FileExistsError:
                pass
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise  # else a filesystem without hard links: look, then rename
            same = self._holds_these_bytes(self._name)
            if same is None:  # nothing there after all, or no regular file (a planted symlink)
                self._rename(self._name)
            elif same:
                self.kept = True
                self._unlink(self._tmp)
            else:
                return self._move_elsewhere(fallback())
            return self.rel
        except StorageError:
            self.abort()
            raise
        except OSError as exc:
            self.abort()
            raise storage_error(f"cannot store {self.rel}", exc) from exc
        finally:
            self._close_dir()

    def _at(self, name: str) -> tuple[str, dict]:
        """name in our folder, as the path and keyword arguments os functions take."""
        if self._dir_fd >= 0:
            return name, {"dir_fd": self._dir_fd}
        return os.path.join(self._dir_path, name), {}

    def _rename(self, name: str) -> None:
        """The temporary file becomes `name` in its folder, replacing whatever is there."""
        if self._dir_fd >= 0:
            os.rename(self._tmp, name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
        else:
            os.replace(os.path.join(self._dir_path, self._tmp), os.path.join(self._dir_path, name))

    def _unlink(self, name: str) -> None:
        path, where = self._at(name)
        os.unlink(path, **where)

    def _holds_these_bytes(self, name: str) -> bool | None:
        """Does the regular file `name` in our folder hold exactly our bytes? None: nothing
        there, or not a regular file."""
        path, where = self._at(name)
        try:
            if not where and not stat.S_ISREG(os.lstat(path).st_mode):
                return None
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0), **where)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a symlink
                return None
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            if st.st_size != self.size:
                return False
            digest = hashlib.sha256()
            while chunk := os.read(fd, 1 << 16):
                digest.update(chunk)
            return digest.digest() == self.sha256.digest()
        finally:
            os.close(fd)

    def _move_elsewhere(self, rel: str) -> str:
        """Store ours under rel instead (a hashed name, unique to the URL: replacing is fine there)."""
        parts = check_relative(rel)
        if parts[:-1] == self.rel.split("/")[:-1]:  # the same folder: nearly always
            self._rename(parts[-1])
        elif self._dir_fd >= 0:
            dir_fd = _open_folder(self._root, parts[:-1])
            try:
                os.rename(self._tmp, parts[-1], src_dir_fd=self._dir_fd, dst_dir_fd=dir_fd)
            finally:
                os.close(dir_fd)
        else:
            folder = checked_folder(self._root, parts[:-1])
            os.replace(os.path.join(self._dir_path, self._tmp), os.path.join(folder, parts[-1]))
            verify_inside(self._root, folder)
        return rel

    def abort(self) -> None:
        try:
            self._close_file()
        except OSError:
            pass
        try:
            if self._dir_fd >= 0:
                os.unlink(self._tmp, dir_fd=self._dir_fd)
            else:
                os.unlink(os.path.join(self._dir_path, self._tmp))
        except OSError:
            pass
        self._close_dir()

    def _close_dir(self) -> None:
        if self._dir_fd >= 0:
            os.close(self._dir_fd)
            self._dir_fd = -1

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


# openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS resolves a whole folder path below the
# root in one system call, and the kernel refuses a symlink anywhere on the way or a path
# leaving the root. The folder-by-folder walk below (_open_dirs) costs 2 calls per folder,
# each letting the interpreter's lock go and come back, which with a worker's 8 threads was
# a large part of its system time. Linux 5.6 and later; elsewhere, or when it fails for any
# reason (a folder still to be made, a symlink to report), the walk does the job.
_OPENAT2 = 437  # the same number on every architecture with the unified syscall table
_RESOLVE_NO_SYMLINKS, _RESOLVE_BENEATH = 0x04, 0x08


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def _load_openat2():
    # the syscall's number and flags are Linux's; elsewhere, or without dir_fd, the walk does it
    if not sys.platform.startswith("linux") or not _HAVE_DIR_FD or not portable.enabled("openat2"):
        return None
    try:
        syscall = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long
    syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
    return syscall


_syscall = _load_openat2()
_HOW = _OpenHow(os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0), 0,
                _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS)
_root_fds: dict[str, int] = {}  # root -> descriptor, opened once per process
_root_lock = threading.Lock()
if hasattr(os, "register_at_fork"):  # a forked worker opens its own (the parent's may be closed)
    os.register_at_fork(after_in_child=_root_fds.clear)


def _open_below(root: str, parts: list[str]) -> int:
    """A descriptor of root/parts via openat2, or -1 when the walk must do it."""
    global _syscall
    if _syscall is None or not parts:
        return -1
    root_fd = _root_fds.get(root)  # opened already, nearly always: no lock for that
    if root_fd is None:
        with _root_lock:
            root_fd = _root_fds.get(root)
            if root_fd is None:
                try:
                    root_fd = _root_fds[root] = os.open(root, _ROOT_FLAGS)
                except OSError:
                    return -1
    fd = _syscall(_OPENAT2, root_fd, os.fsencode("/".join(parts)), ctypes.byref(_HOW), ctypes.sizeof(_HOW))
    if fd >= 0:
        return fd
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EPERM, errno.EINVAL, errno.E2BIG):
        _syscall = None  # not available here (an old kernel, a seccomp filter): walk from now on
    elif err in (errno.ENOENT, errno.ESTALE):  # usually a folder still to be made; or the root is gone
        try:
            gone = os.fstat(root_fd).st_nlink == 0
        except OSError:
            gone = True
        if gone:  # removed (and maybe made again): open it afresh next time. The old descriptor
            # stays open, as another thread may be using it this very moment.
            with _root_lock:
                if _root_fds.get(root) == root_fd:
                    del _root_fds[root]
    return -1


def _open_folder(root: str, parts: list[str]) -> int:
    """A descriptor of the folder root/parts (made if missing), no symlink followed on the way."""
    fd = _open_below(root, parts)
    return fd if fd >= 0 else _open_dirs(root, parts)


def remove_stored(root: Path, rel: str) -> None:
    """Delete the file stored at rel under root (a copy of bytes stored already)."""
    parts = check_relative(rel)
    try:
        if _HAVE_DIR_FD:
            dir_fd = _open_folder(os.fspath(root), parts[:-1])
            try:
                os.unlink(parts[-1], dir_fd=dir_fd)
            finally:
                os.close(dir_fd)
        else:
            folder = checked_folder(os.fspath(root), parts[:-1], create=False)
            verify_inside(os.fspath(root), folder)
            os.unlink(os.path.join(folder, parts[-1]))
    except OSError as exc:
        raise storage_error(f"cannot remove {rel}", exc) from exc


def _open_dirs(root: str, parts: list[str]) -> int:
    """Open root/parts... creating folders, refusing to follow a symlink at any step."""
    try:
        fd = os.open(root, _ROOT_FLAGS)
    except FileNotFoundError:
        os.makedirs(root, exist_ok=True)
        fd = os.open(root, _ROOT_FLAGS)
    try:
        for part in parts:
            try:
                try:
                    next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:  # first file in this folder: make it (mkdir never follows links)
                    try:
                        os.mkdir(part, 0o755, dir_fd=fd)
                    except FileExistsError:
                        pass  # another worker made it meanwhile
                    next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in LOCAL_ERRNOS:  # no room for a folder, or no right to make one
                    raise storage_error(f"cannot make the folder {part!r}", exc) from exc
                raise StorageError(f"{part!r} in the downloads folder is not a plain folder "
                                   f"(a symlink or a file is in the way): {exc.strerror}") from exc
            os.close(fd)
            fd = next_fd
        return fd
    except BaseException:
        os.close(fd)
        raise


def _owner_alive(name: str) -> bool:
    """Is the process that writes this temporary file still running (on this host)?"""
    try:
        pid = int(name[: -len(TEMP_SUFFIX)].rsplit(".", 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return False
    return portable.process_alive(pid)


def remove_partials(root: Path) -> int:
    """Delete temporary files that killed workers left under root; return how many.

    Files of live processes (another worker sharing this folder) are left alone.
    """
    removed = 0
    if not root.is_dir():
        return 0
    for dirpath, dirnames, filenames in os.walk(root):
        # never descend into the master's state folder or through symlinks
        dirnames[:] = [d for d in dirnames if d != STATE_DIRNAME and not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            if is_temp_name(name) and not _owner_alive(name):
                try:
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
                except OSError as exc:
                    log.warning("cannot remove partial file %s: %s", os.path.join(dirpath, name), exc)
    return removed
