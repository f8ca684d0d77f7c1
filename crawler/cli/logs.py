"""Logging set-up shared by every command: text or JSON lines, to stderr or a file."""

from __future__ import annotations

import json
import logging
import sys
import time


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": round(record.created, 3), "level": record.levelname.lower(),
                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup(*, quiet: bool, verbose: bool, log_file: str | None = None, log_format: str = "text",
          live: bool = False):
    """Configure the root logger; returns the rich Console when a live display will share stderr."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    console = None
    if log_file:
        handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8")
    elif live:
        from rich.console import Console
        from rich.logging import RichHandler
        console = Console(stderr=True)
        handler = RichHandler(console=console, show_path=False, markup=False, log_time_format="%H:%M:%S")
    else:
        handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    elif live:
        handler.setFormatter(logging.Formatter("%(message)s"))  # rich adds time and level itself
    else:
        fmt = logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", datefmt="%H:%M:%S")
        fmt.converter = time.localtime
        handler.setFormatter(fmt)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # urllib3 (under requests) logs every connection and request at DEBUG, and would fill a
    # -v log; our own lines say what was fetched and what failed
    logging.getLogger("urllib3").setLevel(max(level, logging.INFO))
    return console


def relay(stream, prefix: str) -> None:
    """Re-log the JSON log lines another process writes to `stream` (a worker started by
    `crawler run`), so they go through this process's handlers and its live display."""
    out = logging.getLogger("crawler.worker")
    for raw in stream:
        line = raw.decode("utf-8", "replace").rstrip()
        try:
            entry = json.loads(line)
            level = logging.getLevelName(str(entry.get("level", "info")).upper())
            out.log(level if isinstance(level, int) else logging.INFO, "%s %s", prefix, entry.get("message", ""))
        except (ValueError, AttributeError):
            if line:
                out.info("%s %s", prefix, line)
