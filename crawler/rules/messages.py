"""The task and result records that cross the queues, and their validation.

Plain dicts of builtins with a version field (`v`), so that nothing but builtins is ever
unpickled and a worker of a slightly different version still interoperates: unknown keys
are ignored, missing optional keys take defaults.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from .naming import check_relative

VERSION = 1

MAX_URL_CHARS = 8192
MAX_TEXT_CHARS = 2000
MAX_PATH_CHARS = 1024
_HEX = re.compile(r"[0-9a-f]{64}")
MAX_VALIDATOR_CHARS = 1000  # an ETag or a Last-Modified (fetch.MAX_VALIDATOR_CHARS)

# Result fields and the types they may have. `None` is allowed where listed.
_RESULT_FIELDS: dict[str, tuple[type, ...]] = {
    "url": (str,),
    "final_url": (str, type(None)),
    "ok": (bool,),
    "path": (str, type(None)),
    "bytes": (int,),
    "sha256": (str, type(None)),
    "content_type": (str, type(None)),
    "status": (int, type(None)),
    "error": (str, type(None)),
    "reason": (str, type(None)),
    "worker": (str,),
    "elapsed": (float, int),
}


class InvalidMessage(ValueError):
    """A queue item that is not a valid task or result."""


def make_task(task_id: int, url: str, page: str | None, *, attempt: int = 1,
              max_bytes: int, timeout: float, retries: int = 0, accept: Sequence[str] | None = None,
              min_bytes: int = 0, refresh: dict[str, Any] | None = None) -> dict[str, Any]:
    """A download task. `retries`, `accept` (image kinds) and `min_bytes` are optional on the
    wire; so is what a refresh knows of an image stored before (`refresh.Previous.wire`:
    `etag`, `last_modified`, `stored`, `own`)."""
    task = {"v": VERSION, "kind": "task", "id": task_id, "url": url, "page": page,
            "attempt": attempt, "max_bytes": max_bytes, "timeout": timeout}
    if retries:
        task["retries"] = retries
    if accept:
        task["accept"] = list(accept)
    if min_bytes:
        task["min_bytes"] = min_bytes
    if refresh:
        task.update(refresh)
    return task


def validate_task(item: Any) -> dict[str, Any]:
    """Return the task if it is one we can act on, else raise InvalidMessage."""
    if not isinstance(item, dict) or item.get("kind") != "task":
        raise InvalidMessage(f"not a task: {_describe(item)}")
    _check_version(item)
    _check(item, "id", int)
    _check_url(item, "url")
    if item.get("page") is not None:
        _check_url(item, "page")
    _check(item, "attempt", int)
    _check(item, "max_bytes", int)
    _check(item, "timeout", (int, float))
    if item["max_bytes"] <= 0 or not _finite_positive(item["timeout"]):
        raise InvalidMessage("task limits must be positive")
    for key in ("retries", "min_bytes"):
        value = item.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**12:
            raise InvalidMessage(f"field {key!r} is {_describe(value)}")
    accept = item.get("accept")
    if accept is not None and (not isinstance(accept, list) or len(accept) > 20
                               or not all(isinstance(k, str) and len(k) < 10 for k in accept)):
        raise InvalidMessage(f"field 'accept' is {_describe(accept)}")
    for key in ("etag", "last_modified"):
        _check_validator(item, key)
    stored = item.get("stored")
    if stored is not None:
        if not isinstance(stored, str) or len(stored) > MAX_PATH_CHARS:
            raise InvalidMessage(f"field 'stored' is {_describe(stored)}")
        try:
            check_relative(stored)
        except ValueError:
            raise InvalidMessage(
                f"field 'stored' is not a path inside the downloads folder: {stored[:200]!r}") from None
    if not isinstance(item.get("own", False), bool):
        raise InvalidMessage(f"field 'own' is {_describe(item['own'])}")
    sha = item.get("stored_sha256")
    if sha is not None and (not isinstance(sha, str) or len(sha) != 64 or not _HEX.fullmatch(sha)):
        raise InvalidMessage(f"field 'stored_sha256' is {_describe(sha)}")
    return item


def _check_validator(item: dict, key: str) -> None:
    """An ETag or Last-Modified: printable text of a sane length (it goes into a header)."""
    value = item.get(key)
    if value is not None and (not isinstance(value, str) or not value or len(value) > MAX_VALIDATOR_CHARS
                              or not value.isprintable()):
        raise InvalidMessage(f"field {key!r} is {_describe(value)}")


def make_result(task: dict[str, Any], *, ok: bool, worker: str, elapsed: float,
                final_url: str | None = None, path: str | None = None, nbytes: int = 0,
                sha256: str | None = None, content_type: str | None = None,
                status: int | None = None, error: str | None = None,
                reason: str | None = None, attempts: int = 1,
                duplicate_of: str | None = None, etag: str | None = None,
                last_modified: str | None = None) -> dict[str, Any]:
    """A download's result. An ok result with status 304 (a conditional request's "not
    modified") has the stored file's path and no checksum: the master has the rest."""
    result = {"v": VERSION, "kind": "result", "id": task["id"], "url": task["url"],
              "final_url": final_url, "ok": ok, "path": path, "bytes": nbytes, "sha256": sha256,
              "content_type": content_type, "status": status, "error": error, "reason": reason,
              "worker": worker, "elapsed": round(float(elapsed), 4), "attempts": attempts}
    if duplicate_of:
        result["duplicate_of"] = duplicate_of
    if etag:
        result["etag"] = etag
    if last_modified:
        result["last_modified"] = last_modified
    return result


def validate_result(item: Any) -> dict[str, Any]:
    """Return the result if its shape and types are right, else raise InvalidMessage.

    Checks only what can be checked without the master's state; the master also checks
    the task id against its leases and the path against the downloads root.
    """
    if not isinstance(item, dict) or item.get("kind") != "result":
        raise InvalidMessage(f"not a result: {_describe(item)}")
    _check_version(item)
    _check(item, "id", int)
    for key, types in _RESULT_FIELDS.items():
        if key not in item:
            raise InvalidMessage(f"result field {key!r} is missing")
        value = item[key]
        # bool is an int subclass: a True where a number belongs is a bad message.
        if isinstance(value, bool) and bool not in types:
            raise InvalidMessage(f"result field {key!r} has type bool")
        if not isinstance(value, types):
            raise InvalidMessage(f"result field {key!r} has type {type(value).__name__}")
        if isinstance(value, str) and len(value) > (MAX_URL_CHARS if "url" in key else MAX_TEXT_CHARS):
            raise InvalidMessage(f"result field {key!r} is too long ({len(value)} chars)")
    if item["bytes"] < 0 or not (math.isfinite(item["elapsed"]) and item["elapsed"] >= 0):
        raise InvalidMessage("result sizes and times must be non-negative")
    attempts = item.get("attempts", 1)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 1000:
        raise InvalidMessage(f"result field 'attempts' is {_describe(attempts)}")
    dup = item.get("duplicate_of")
    if dup is not None and (not isinstance(dup, str) or not dup or len(dup) > MAX_PATH_CHARS):
        raise InvalidMessage(f"result field 'duplicate_of' is {_describe(dup)}")
    for key in ("etag", "last_modified"):
        _check_validator(item, key)
    if item["ok"]:
        if not item["path"] or (item["status"] != 304 and (not item["sha256"] or len(item["sha256"]) != 64)):
            raise InvalidMessage("an ok result needs a path and a sha256")
        if len(item["path"]) > MAX_PATH_CHARS:
            raise InvalidMessage("result path is too long")
    return item


def stop_message() -> dict[str, Any]:
    """Handed to workers once the crawl is finished: they exit on it."""
    return {"v": VERSION, "kind": "stop"}


def is_stop(item: Any) -> bool:
    return isinstance(item, dict) and item.get("kind") == "stop"


def _check_version(item: dict) -> None:
    v = item.get("v")
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise InvalidMessage(f"bad version field {v!r}")


def _check(item: dict, key: str, types: type | tuple[type, ...]) -> None:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, types):
        raise InvalidMessage(f"field {key!r} is {_describe(value)}")


def _check_url(item: dict, key: str) -> None:
    value = item.get(key)
    if not isinstance(value, str) or not value.startswith(("http://", "https://")) or len(value) > MAX_URL_CHARS:
        raise InvalidMessage(f"field {key!r} is not an http(s) URL: {_describe(value)}")


def _finite_positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:80]}{'...' if len(text) > 80 else ''}"
