"""The crawl's master: pages in, image tasks out, results recorded (master.py names the parts)."""

from .master import Master
from .pagejobs import process_page
from .stats import Summary

__all__ = ["Master", "Summary", "process_page"]
