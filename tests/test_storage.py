import os
import shutil

import pytest

from crawler.store import checkedpaths, contentindex, storage
from crawler.store.storage import AtomicFile, StorageError, remove_partials


@pytest.fixture(autouse=True, params=["dir-fd", "checked-paths"])
def storage_mode(request, monkeypatch):
    """Every test here runs twice: with directory descriptors (Linux, macOS), and with the
    checked paths Windows takes (no dir_fd, so no openat2 either)."""
    if request.param == "checked-paths":
        monkeypatch.setattr(storage, "_HAVE_DIR_FD", False)
        monkeypatch.setattr(storage, "_syscall", None)
    return request.param


def test_file_appears_only_when_committed(tmp_path):
    f = AtomicFile(tmp_path, "h/a/b/cat.jpg")
    f.write(b"abc")
    assert not (tmp_path / "h/a/b/cat.jpg").exists()
    f.commit()
    assert (tmp_path / "h/a/b/cat.jpg").read_bytes() == b"abc"
    assert f.size == 3 and f.sha256.hexdigest().startswith("ba7816bf")
    assert os.listdir(tmp_path / "h/a/b") == ["cat.jpg"]


def test_abort_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with AtomicFile(tmp_path, "h/cat.jpg") as f:
            f.write(b"half")
            raise RuntimeError("connection dropped")
    assert os.listdir(tmp_path / "h") == []


def test_symlinked_folder_inside_the_root_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "h").symlink_to(outside)
    with pytest.raises(StorageError, match="'h' in the downloads folder is not a plain folder"):
        AtomicFile(root, "h/cat.jpg")
    assert os.listdir(outside) == []


def test_symlink_at_the_file_name_is_replaced_not_written_through(tmp_path):
    outside = tmp_path / "victim"
    outside.write_bytes(b"precious")
    root = tmp_path / "root"
    (root / "h").mkdir(parents=True)
    (root / "h" / "cat.jpg").symlink_to(outside)
    with AtomicFile(root, "h/cat.jpg") as f:
        f.write(b"image")
    assert outside.read_bytes() == b"precious"
    assert not (root / "h" / "cat.jpg").is_symlink() and (root / "h" / "cat.jpg").read_bytes() == b"image"


@pytest.mark.parametrize("rel", ["../x.jpg", "/etc/x.jpg", "a/../../x.jpg", "a\\b.jpg", "a\x00b"])
def test_paths_that_could_leave_the_root_are_refused(tmp_path, rel):
    with pytest.raises(ValueError):
        AtomicFile(tmp_path / "root", rel)
    assert not (tmp_path / "x.jpg").exists()


def test_partials_left_by_a_killed_worker_are_removed_and_downloads_kept(tmp_path):
    import subprocess
    import sys
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "cat.jpg").write_bytes(b"done")
    (tmp_path / "h" / f"dog.jpg.{dead_pid}-0a1b2c3d.crawler-part").write_bytes(b"half")  # its writer was killed
    live = AtomicFile(tmp_path, "h/cow.jpg")  # a neighbour worker still writing
    live.write(b"in progress")
    assert remove_partials(tmp_path) == 1
    assert sorted(os.listdir(tmp_path / "h"))[0] == "cat.jpg" and len(os.listdir(tmp_path / "h")) == 2
    live.commit()
    assert sorted(os.listdir(tmp_path / "h")) == ["cat.jpg", "cow.jpg"]


needs_openat2 = pytest.mark.skipif(storage._syscall is None, reason="openat2 is Linux 5.6+ only")


@needs_openat2
def test_openat2_opens_a_nested_folder_and_refuses_a_symlink_on_the_way(tmp_path, storage_mode):
    if storage_mode == "checked-paths":
        pytest.skip("openat2 is a dir_fd path")
    root = tmp_path / "root"
    (root / "h" / "a" / "b").mkdir(parents=True)
    fd = storage._open_below(str(root), ["h", "a", "b"])
    assert fd >= 0
    assert os.path.samestat(os.fstat(fd), os.stat(root / "h" / "a" / "b"))
    os.close(fd)
    outside = tmp_path / "outside"
    (outside / "b").mkdir(parents=True)
    (root / "h" / "s").symlink_to(outside)
    assert storage._open_below(str(root), ["h", "s", "b"]) == -1  # the walk then reports it
    with pytest.raises(StorageError, match="symlink"):
        AtomicFile(root, "h/s/b/x.jpg")
    assert list((outside / "b").iterdir()) == []


def test_a_root_removed_and_made_again_mid_crawl_gets_its_files(tmp_path):
    root = tmp_path / "root"
    for name in ("first", "second"):
        f = AtomicFile(root, f"h/img/{name}.jpg")
        f.write(name.encode())
        f.commit()
        if name == "first":
            assert (root / "h/img/first.jpg").read_bytes() == b"first"
            shutil.rmtree(root)  # the user clears the folder while the crawl goes on
    assert (root / "h/img/second.jpg").read_bytes() == b"second"


def test_a_claim_found_empty_is_waited_for_not_taken_over(tmp_path):
    import threading
    import time

    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "first.png").write_bytes(b"same")
    (tmp_path / "h" / "second.png").write_bytes(b"same")
    sha = "ab" * 32
    entry = tmp_path / contentindex.CONTENT_INDEX / "ab" / f"{sha}@h"
    entry.parent.mkdir(parents=True)
    entry.write_text("")  # another worker created the entry and is about to write its path

    def finish_claim():
        time.sleep(0.02)
        entry.write_text("h/first.png")

    t = threading.Thread(target=finish_claim)
    t.start()
    assert contentindex.claim(tmp_path, "h", sha, "h/second.png") == "h/first.png"
    t.join()
    assert entry.read_text() == "h/first.png"


def test_remove_stored_deletes_a_committed_file_and_nothing_outside(tmp_path):
    from crawler.store import storage
    with AtomicFile(tmp_path, "h/a/dup.png") as f:
        f.write(b"x")
    storage.remove_stored(tmp_path, "h/a/dup.png")
    assert not (tmp_path / "h" / "a" / "dup.png").exists() and (tmp_path / "h" / "a").is_dir()
    with pytest.raises(ValueError):
        storage.remove_stored(tmp_path, "../outside.png")


def test_checked_paths_catch_a_folder_swapped_for_a_symlink_after_the_check(tmp_path, storage_mode, monkeypatch):
    """Without dir_fd, a folder checked by path can be swapped for a link before the file is
    opened in it: the file is then found outside the root, refused and removed."""
    if storage_mode != "checked-paths":
        pytest.skip("the dir_fd path holds the folder open: no path to swap")
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    real_check = checkedpaths.checked_folder

    def check_then_swap(root_, parts, **kw):
        folder = real_check(root_, parts, **kw)
        os.rename(folder, folder + ".moved")
        os.symlink(outside, folder)  # the race a local attacker would try to win
        return folder

    monkeypatch.setattr(storage, "checked_folder", check_then_swap)
    with pytest.raises(StorageError, match="outside the downloads folder"):
        AtomicFile(root, "h/cat.jpg")
    assert os.listdir(outside) == []


def _failing_write(err):
    def write(fd, data):
        raise OSError(err, os.strerror(err))
    return write


def test_a_full_disk_is_the_workers_own_fault_and_says_where_and_how_much_is_free(tmp_path, monkeypatch):
    import errno
    f = AtomicFile(tmp_path, "h/cat.jpg")
    monkeypatch.setattr(storage.os, "write", _failing_write(errno.ENOSPC))
    with pytest.raises(storage.LocalStorageError) as info:
        f.write(b"abc")
    f.abort()
    line = info.value.describe(tmp_path)
    assert line.startswith(f"no space left in {tmp_path}: ") and line.endswith(" bytes free"), line
    assert os.listdir(tmp_path / "h") == []


@pytest.mark.parametrize("err, local", [("EROFS", True), ("EACCES", True), ("EDQUOT", True), ("EIO", True),
                                        ("ENAMETOOLONG", False), ("ELOOP", False), ("ENOTDIR", False)])
def test_storage_errors_are_the_workers_own_or_the_urls(err, local):
    import errno
    code = getattr(errno, err)
    exc = storage.storage_error("cannot write h/cat.jpg", OSError(code, os.strerror(code)))
    assert isinstance(exc, StorageError) and isinstance(exc, storage.LocalStorageError) is local
    assert exc.reason == "storage" and exc.errno == code and str(exc).startswith("cannot write h/cat.jpg: ")


def _committed(root, rel, data, fallback):
    f = AtomicFile(root, rel)
    f.write(data)
    return f, f.commit(fallback=lambda: fallback)


def test_other_bytes_at_a_shared_path_are_never_replaced_the_second_goes_to_its_fallback(tmp_path):
    first, rel1 = _committed(tmp_path, "h/a.jpg", b"from http", "h/a~1111.jpg")
    second, rel2 = _committed(tmp_path, "h/a.jpg", b"from https", "h/a~2222.jpg")
    assert (rel1, rel2) == ("h/a.jpg", "h/a~2222.jpg") and not first.kept and not second.kept
    assert (tmp_path / "h/a.jpg").read_bytes() == b"from http"
    assert (tmp_path / "h/a~2222.jpg").read_bytes() == b"from https"
    assert sorted(os.listdir(tmp_path / "h")) == ["a.jpg", "a~2222.jpg"]  # no temporary file left


def test_the_same_bytes_at_the_path_are_kept_and_a_fallback_elsewhere_is_made(tmp_path):
    _committed(tmp_path, "h/a.jpg", b"same", "unused")
    again, rel = _committed(tmp_path, "h/a.jpg", b"same", "unused")
    assert rel == "h/a.jpg" and again.kept and os.listdir(tmp_path / "h") == ["a.jpg"]
    _, rel = _committed(tmp_path, "h/a.jpg", b"other", "h/deeper/a~3333.jpg")
    assert rel == "h/deeper/a~3333.jpg" and (tmp_path / rel).read_bytes() == b"other"


def test_a_symlink_at_a_shared_path_is_replaced_not_kept_or_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"same")
    (tmp_path / "root" / "h").mkdir(parents=True)
    (tmp_path / "root" / "h" / "a.jpg").symlink_to(victim)
    f, rel = _committed(tmp_path / "root", "h/a.jpg", b"same", "h/a~4444.jpg")
    assert rel == "h/a.jpg" and not f.kept and not (tmp_path / "root" / rel).is_symlink()
    assert victim.read_bytes() == b"same"
