"""One image task -> a stored file -> its result record: fetch, check the type, write
atomically, keep one copy of the same bytes per site. The download threads call `download`;
it raises only for a fault of the worker's own storage (LocalStorageError)."""

from __future__ import annotations

import contextlib
import logging
import time
from urllib.parse import urlsplit

from ..config import WorkerConfig
from ..errors import CrawlerError, FetchError, FilteredError, NotAnImageError
from ..net import fetch
from ..rules import imagetype, naming, retry
from ..rules.messages import make_result
from ..store import contentindex, refresh, storage

log = logging.getLogger(__name__)


def download(task: dict, cfg: WorkerConfig, client, *, sleep=time.sleep) -> dict:
    """Download one task's image under cfg.out, retrying what is worth retrying, and return
    its result record. Raises only LocalStorageError: the worker's own storage failed, which
    says nothing about the URL."""
    start = time.perf_counter()
    retries = task.get("retries", 0)
    attempt = 1
    while True:
        try:
            return _download_once(task, cfg, client, start, attempt)
        except FetchError as exc:
            wait = retry.wait_seconds(attempt, exc.retry_after) if retry.should_retry(exc.reason, exc.status) else None
            if wait is None or attempt > retries:
                return make_result(task, ok=False, worker=cfg.name, elapsed=time.perf_counter() - start,
                                   final_url=exc.final_url, status=exc.status, error=str(exc),
                                   reason=exc.reason, attempts=attempt)
            log.warning("retrying %s in %.1f s after %s (attempt %d of %d)", task["url"], wait, exc,
                        attempt + 1, retries + 1)
            sleep(wait)
            attempt += 1
        except storage.LocalStorageError:
            raise
        except (CrawlerError, ValueError) as exc:
            return make_result(task, ok=False, worker=cfg.name, elapsed=time.perf_counter() - start,
                               error=str(exc), reason=getattr(exc, "reason", "storage"), attempts=attempt)
        except Exception as exc:  # a bug must cost one image, not the worker
            log.exception("unexpected error downloading %s", task["url"])
            return make_result(task, ok=False, worker=cfg.name, elapsed=time.perf_counter() - start,
                               error=f"internal error: {type(exc).__name__}: {exc}", reason="internal",
                               attempts=attempt)


def _download_once(task: dict, cfg: WorkerConfig, client, start: float, attempt: int) -> dict:
    max_bytes = min(task["max_bytes"], cfg.max_bytes)
    timeout = min(float(task["timeout"]), cfg.timeout)
    # a refresh asks with the validators of the file stored before, if this worker holds it
    held = "stored" in task and refresh.holds(cfg.out, task)
    with fetch.open_body(client, task["url"], max_bytes=max_bytes, timeout=timeout, accept="image/*,*/*;q=0.8",
                         etag=task.get("etag") if held else None,
                         last_modified=task.get("last_modified") if held else None) as body:
        if body.not_modified:  # the file held is current: no body came
            return make_result(task, ok=True, worker=cfg.name, elapsed=time.perf_counter() - start,
                               final_url=body.final_url, path=task["stored"], content_type=body.content_type,
                               status=body.status, attempts=attempt, etag=body.etag,
                               last_modified=body.last_modified)
        kind, why = imagetype.is_image(body.head, body.content_type)
        if kind is None:
            raise NotAnImageError(why or "not an image", status=body.status, final_url=body.final_url)
        accept = task.get("accept")
        if accept and kind not in accept:
            raise FilteredError(f"type {kind} is not accepted (--accept {','.join(accept)})",
                                status=body.status, final_url=body.final_url)
        rel = naming.relative_path(task["url"], kind)
        # new bytes of an image stored before replace its own file, atomically (refresh.replace_target)
        target = refresh.replace_target(task, rel, naming.hashed_path(task["url"], kind)) if held else None
        out = storage.AtomicFile(cfg.out, target or rel)
        try:
            out.write(body.head)
            for chunk in body.rest():
                out.write(chunk)
            if out.size < task.get("min_bytes", 0):
                raise FilteredError(f"{out.size} bytes is below --min-bytes {task['min_bytes']}",
                                    status=body.status, final_url=body.final_url)
            sha = out.sha256.hexdigest()
            if target:
                rel = out.commit(keep_same=True)
            else:  # http://h/a.jpg and https://h/a.jpg share a path: other bytes there are not replaced
                rel = out.commit(fallback=lambda: naming.hashed_path(task["url"], kind))
        except BaseException:
            out.abort()
            raise
        first = None
        if not out.kept:  # kept: these very bytes were at our path already, stored for another URL
            site = urlsplit(task["url"]).hostname or ""
            if target and task.get("stored_sha256"):  # the old bytes are no longer there
                contentindex.release(cfg.out, site, task["stored_sha256"], target)
            # Claimed once committed, so that a copy the content index names is on disk: claimed
            # before, another worker with the same bytes could find the first copy missing (still
            # being renamed into place) and keep its own as well.
            try:
                first = contentindex.claim(cfg.out, site, sha, rel)
            except BaseException:
                with contextlib.suppress(CrawlerError):
                    storage.remove_stored(cfg.out, rel)
                raise
            if first is not None:
                storage.remove_stored(cfg.out, rel)  # the same bytes from this site are stored already
        return make_result(task, ok=True, worker=cfg.name, elapsed=time.perf_counter() - start,
                           final_url=body.final_url, path=first or rel, nbytes=out.size, sha256=sha,
                           content_type=body.content_type, status=body.status, attempts=attempt,
                           duplicate_of=first, etag=body.etag, last_modified=body.last_modified)
