"""Finding, generating and checking the authkey: never built in, never empty, never on a command line."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from ..config import AUTHKEY_ENV, MIN_AUTHKEY_BYTES, STATE_DIRNAME
from ..errors import AuthkeyError, AuthkeyTooOpenError, AuthkeyTooShortError

KEY_NAME = "authkey"


def default_key_path(out: Path) -> Path:
    return Path(out) / STATE_DIRNAME / KEY_NAME


def read_key_file(path: Path) -> bytes:
    """Read a key file, refusing one that others can read."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise AuthkeyError(f"authkey file {path} does not exist") from None
    except OSError as exc:
        raise AuthkeyError(f"cannot read authkey file {path}: {exc.strerror}") from None
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuthkeyTooOpenError(f"authkey file {path} can be read by other users; fix it with: chmod 600 {path}")
    try:
        key = Path(path).read_bytes().strip()
    except OSError as exc:
        raise AuthkeyError(f"cannot read authkey file {path}: {exc.strerror}") from None
    return check_key(key, f"the key in {path}")


def check_key(key: bytes, where: str) -> bytes:
    if len(key) < MIN_AUTHKEY_BYTES:
        raise AuthkeyTooShortError(f"{where} is {len(key)} bytes; an authkey needs at least {MIN_AUTHKEY_BYTES}")
    return key


def from_env(env: dict | os._Environ = os.environ) -> bytes | None:
    value = env.get(AUTHKEY_ENV)
    if value is None:
        return None
    return check_key(value.encode().strip(), f"${AUTHKEY_ENV}")


def master_key(out: Path, key_file: Path | None, env=os.environ) -> tuple[bytes, str]:
    """The master's key and a sentence saying where workers find it.

    Order: --authkey-file, $CRAWLER_AUTHKEY, OUT/.crawler/authkey (generated if missing).
    """
    if key_file is not None:
        return read_key_file(key_file), f"authkey from {key_file}"
    key = from_env(env)
    if key is not None:
        return key, f"authkey from ${AUTHKEY_ENV}"
    path = default_key_path(out)
    if path.exists():
        return read_key_file(path), f"authkey in {path}"
    key = secrets.token_hex(32).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(key + b"\n")
        except OSError:
            path.unlink()  # an empty key file would be refused by the next run
            raise
    except OSError as exc:
        raise AuthkeyError(f"cannot write a new authkey to {path}: {exc.strerror or exc}") from None
    return key, f"new authkey written to {path} (mode 0600)"


def worker_key(out: Path, key_file: Path | None, env=os.environ) -> bytes:
    """The worker's key: --authkey-file, $CRAWLER_AUTHKEY, or OUT/.crawler/authkey (same host, same --out)."""
    if key_file is not None:
        return read_key_file(key_file)
    key = from_env(env)
    if key is not None:
        return key
    path = default_key_path(out)
    if path.exists():
        return read_key_file(path)
    raise AuthkeyError(f"no authkey: pass --authkey-file FILE (a copy of the master's "
                       f"OUT/{STATE_DIRNAME}/{KEY_NAME}, mode 600) or set ${AUTHKEY_ENV}")
