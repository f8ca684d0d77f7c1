"""The crawl's master: pages in, image tasks out, results recorded (see master.py for the parts)."""

from .master import Master
from .pagejobs import PageOutcome, RobotsOutcome, fetch_with_retries, process_page
from .record import JOURNAL_NAME
from .stats import Summary

__all__ = ["JOURNAL_NAME", "Master", "PageOutcome", "RobotsOutcome", "Summary", "fetch_with_retries",
           "process_page"]
