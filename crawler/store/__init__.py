"""Disk: images stored atomically without replacing another URL's bytes (storage, with its checks
by path where there are no directory descriptors in checkedpaths, and a worker's own disk
faults told from a URL's in diskfaults), a site's same bytes stored once (contentindex), the
master's SQLite journal (journal), manifest.jsonl (manifest), and what a --refresh keeps of
the last run's manifest (refresh)."""
