"""When to retry a request and how long to wait first. Pure functions.

Retried: connection errors, timeouts, 408, 429 and 5xx. Final: every other 4xx, a body that
is not an image, one that is too large, a blocked address, a bad redirect. The wait grows
exponentially with full jitter, and a server's Retry-After (seconds or an HTTP date) is
honoured up to a cap; a server that asks for longer than the cap gets no retry.
"""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime

RETRYABLE_STATUS = frozenset({408, 429}) | frozenset(range(500, 600))
RETRYABLE_REASONS = frozenset({"network", "unreachable", "timeout"})
BASE_SECONDS = 0.5
MAX_WAIT_SECONDS = 30.0


def should_retry(reason: str | None, status: int | None) -> bool:
    if reason in RETRYABLE_REASONS:
        return True
    return reason == "http-status" and status in RETRYABLE_STATUS


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def wait_seconds(attempt: int, retry_after: float | None, rng: random.Random | None = None) -> float | None:
    """How long to wait before try number attempt+1 (attempt counts from 1); None: do not retry."""
    if retry_after is not None:
        return retry_after if retry_after <= MAX_WAIT_SECONDS else None
    ceiling = min(MAX_WAIT_SECONDS, BASE_SECONDS * 2 ** (attempt - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)  # jitter: workers do not retry in step
