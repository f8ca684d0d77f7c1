"""The downloader worker (`crawler worker`): the Worker wires a Session (the link to the
master), Downloaders (the download threads) and their Outbox; `download` is one task."""

from .downloaders import MAX_INTERNAL_STREAK, WorkerStats
from .imagedownload import download
from .rounds import POLL_WAIT, RESULT_HOLD
from .worker import Worker

__all__ = ["MAX_INTERNAL_STREAK", "POLL_WAIT", "RESULT_HOLD", "Worker", "WorkerStats", "download"]
