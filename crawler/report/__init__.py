"""`crawler report DIR`: a text summary of a crawl (`summary`) and a static HTML gallery of
what it stored (`gallery`), both read from `DIR/manifest.jsonl`."""

from __future__ import annotations

from pathlib import Path

from .gallery import INDEX, write_gallery
from .summary import Failure, Image, Report, build_report, human_bytes, kind_of, site_of, summary_lines

__all__ = ["INDEX", "Failure", "Image", "Report", "build_report", "human_bytes", "kind_of", "run_report", "site_of",
           "summary_lines", "write_gallery"]


def run_report(out: Path) -> int:
    """`crawler report DIR`: print the summary, write the gallery, print where it is."""
    out = Path(out)
    rep = build_report(out)
    for line in summary_lines(rep):
        print(line)
    index = write_gallery(out, rep)
    print(f"gallery: {index}")
    return 0
