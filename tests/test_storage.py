import os

import pytest

from crawler.storage import AtomicFile, StorageError, remove_partials


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
    with pytest.raises(StorageError, match="symlink"):
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
