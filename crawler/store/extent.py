"""A crawl's extent: its seeds, scope and limits, kept in the journal, and what changed in
them since the last run. Pure.

A finished crawl started again with the same extent has nothing to do ("already
finished"); with another, it goes on: what the old limits left out (the journal keeps it)
is offered again under the new ones, and the master says in one line what changed.
Settings that decide how, not what, to crawl (--per-host, --timeout, ...) are not part of it.
"""

from __future__ import annotations

import json
from typing import Any

from ..config import CrawlConfig

# key, flag, and which way is wider: "more" for a number, "add" for a list that widens as it
# grows (seeds, --allow-domain), "drop" for one that widens as it shrinks (--exclude), and
# "off" for a flag that narrows when on
_KEYS = (
    ("seeds", "seeds", "add"),
    ("max_depth", "--max-depth", "more"),
    ("max_pages", "--max-pages", "more"),
    ("max_pages_per_host", "--max-pages-per-host", "more"),
    ("allow_domains", "--allow-domain", "add"),
    ("include", "--include", "include"),
    ("exclude", "--exclude", "drop"),
    ("same_host_images", "--same-host-images", "off"),
    ("sitemaps", "--no-sitemaps", "on"),
)


def of(cfg: CrawlConfig) -> dict[str, Any]:
    """The extent of a crawl config, as plain data (JSON in the journal)."""
    return {key: list(v) if isinstance(v := getattr(cfg, key), tuple) else v for key, _, _ in _KEYS}


def dumps(extent: dict[str, Any]) -> str:
    return json.dumps(extent, sort_keys=True, separators=(",", ":"))


def loads(text: str | None) -> dict[str, Any] | None:
    """The recorded extent; None for a journal from before extents were recorded (or a bad one)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], bool]:
    """What changed from old to new, in words (one item per flag), and whether anything
    widened the crawl (rather than only narrowed it)."""
    words: list[str] = []
    wider = False
    for key, flag, way in _KEYS:
        before, after = old.get(key), new.get(key)
        if before is None or before == after:
            continue
        if way == "more":
            words.append(f"{flag} {before} -> {after}")
            wider |= after > before
        elif way in ("on", "off"):
            name = "sitemaps" if key == "sitemaps" else flag
            words.append(f"{name} {'on' if before else 'off'} -> {'on' if after else 'off'}")
            wider |= bool(after) if way == "on" else not after
        else:
            after = after or ()  # a list flag the new run does not record is an empty one
            added = [x for x in after if x not in before]
            removed = [x for x in before if x not in after]
            if key == "seeds":
                words += [f"{len(added)} seed(s) added"] * bool(added)
                words += [f"{len(removed)} seed(s) left out"] * bool(removed)
            else:
                words += [f"{flag} {x!r} added" for x in added] + [f"{flag} {x!r} removed" for x in removed]
            if way == "add":
                wider |= bool(added)
            elif way == "drop":
                wider |= bool(removed)
            else:  # --include: none at all is the widest; otherwise each added one widens
                wider |= bool(added) or (bool(removed) and not after)
    return words, wider
