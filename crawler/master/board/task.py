"""A task as the master keeps it, and its default wire form."""

from __future__ import annotations

from typing import NamedTuple

from ...config import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT
from ...rules.messages import make_task


class Task(NamedTuple):
    """A task as the master keeps it: a tuple (80 bytes), so a million fit in memory.

    The wire form, a dict with the crawl's limits (messages.make_task), is built only when
    the task is handed out. `source` says how the image was found (extract.ImageRef.source,
    or another finder's word); it goes to the manifest, not to workers. Keep it interned
    (sys.intern): a few distinct words shared by a million tasks.
    """

    id: int
    url: str
    page: str | None
    attempt: int = 1
    source: str | None = None


def default_wire(task: Task) -> dict:
    return make_task(task.id, task.url, task.page, attempt=task.attempt, max_bytes=DEFAULT_MAX_BYTES,
                     timeout=DEFAULT_TIMEOUT)
