import os

import pytest

from crawler.errors import AuthkeyError
from crawler.link import authkey


def test_master_generates_a_strong_key_with_mode_600(tmp_path):
    key, where = authkey.master_key(tmp_path, None, env={})
    path = tmp_path / ".crawler" / "authkey"
    assert len(key) >= 32 and str(path) in where
    assert os.stat(path).st_mode & 0o777 == 0o600
    # the second start, and a worker on the same host and --out, find the same key
    assert authkey.master_key(tmp_path, None, env={})[0] == key
    assert authkey.worker_key(tmp_path, None, env={}) == key


def test_key_file_wins_over_env_and_env_over_the_default(tmp_path):
    f = tmp_path / "k"
    f.write_bytes(b"f" * 20 + b"\n")
    f.chmod(0o600)
    env = {"CRAWLER_AUTHKEY": "e" * 20}
    assert authkey.master_key(tmp_path, f, env=env)[0] == b"f" * 20
    assert authkey.master_key(tmp_path, None, env=env)[0] == b"e" * 20
    assert authkey.worker_key(tmp_path, None, env=env) == b"e" * 20


def test_missing_key_file_is_refused(tmp_path):
    with pytest.raises(AuthkeyError, match="does not exist"):
        authkey.worker_key(tmp_path, tmp_path / "nope", env={})


def test_key_file_readable_by_others_is_refused_with_the_chmod_to_fix_it(tmp_path):
    f = tmp_path / "k"
    f.write_bytes(b"x" * 32)
    f.chmod(0o644)
    with pytest.raises(AuthkeyError, match=f"chmod 600 {f}"):
        authkey.worker_key(tmp_path, f, env={})


@pytest.mark.parametrize("env", [{"CRAWLER_AUTHKEY": ""}, {"CRAWLER_AUTHKEY": "short"}])
def test_short_or_empty_key_is_refused(tmp_path, env):
    with pytest.raises(AuthkeyError, match="at least 16"):
        authkey.master_key(tmp_path, None, env=env)


def test_worker_without_any_key_says_how_to_get_one(tmp_path):
    with pytest.raises(AuthkeyError, match="--authkey-file"):
        authkey.worker_key(tmp_path, None, env={})
