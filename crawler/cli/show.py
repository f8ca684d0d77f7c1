"""What `crawler status` and `crawler extract` print: pure functions from data to lines."""

from __future__ import annotations

import time
from collections import Counter

from ..page.extract import extract
from ..page.sitemap import Sitemap
from ..rules.urls import Scope


def status_lines(st: dict, now: float | None = None) -> list[str]:
    """A running master's status (from get_task_queue().status()) for people."""
    now = time.time() if now is None else now
    state = "finished" if st.get("finished") else st.get("state", "starting")
    lines = [f"state: {state}, up {_duration(st.get('uptime', 0))}"]
    lines.append(f"pages: {st.get('pages_done', 0)} done, {st.get('pages_queued', 0)} queued")
    lines.append(f"images: {st.get('images_ok', 0)} ok, {st.get('images_failed', 0)} failed, "
                 f"{st.get('pending', 0)} queued, {st.get('leased', 0)} leased; "
                 f"{st.get('bytes', 0) / 1e6:.1f} MB at {st.get('rate', 0):.1f} images/s")
    workers = st.get("workers", {})
    lines.append(f"workers: {len(workers)} seen" + ("" if workers else " (none yet)"))
    stopped = st.get("stopped_workers", {})
    for name, age in sorted(workers.items(), key=lambda item: item[1]):
        said = f"; stopped: {stopped[name]}" if name in stopped else ""
        lines.append(f"  {name}: last contact {age:.1f} s ago{said}")
    queues = st.get("host_queues", {})
    if queues:
        lines.append("queued per host:")
        lines += [f"  {host}: {n}" for host, n in queues.items()]
    failures = st.get("failures", {})
    if failures:
        lines.append("top failure reasons: " + ", ".join(f"{r} {n}" for r, n in failures.items()))
    return lines


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def extraction_report(html: str, base_url: str, scope: Scope, same_host_images: bool = False,
                      srcset: str = "all") -> dict:
    """What the master would take from one page: links in and out of scope, images with sources."""
    found = extract(html, base_url, srcset=srcset)
    return {
        "page": base_url,
        "links_in_scope": [u for u in found.links if scope.page_in_scope(u)],
        "links_out_of_scope": [u for u in found.links if not scope.page_in_scope(u)],
        "images": [{"url": i.url, "source": i.source,
                    "allowed": scope.image_allowed(i.url, same_host_only=same_host_images)} for i in found.images],
    }


def extraction_lines(report: dict) -> list[str]:
    images = report["images"]
    by_source = Counter(i["source"] for i in images)
    lines = [f"page: {report['page']}",
             f"images: {len(images)} (" + ", ".join(f"{s} {n}" for s, n in by_source.most_common()) + ")"]
    lines += [f"  {i['source']:<9} {i['url']}" + ("" if i["allowed"] else "  (excluded)") for i in images]
    lines.append(f"links in scope: {len(report['links_in_scope'])}")
    lines += [f"  {u}" for u in report["links_in_scope"]]
    lines.append(f"links out of scope: {len(report['links_out_of_scope'])}")
    lines += [f"  {u}" for u in report["links_out_of_scope"]]
    return lines


def sitemap_report(found: Sitemap, scope: Scope, same_host_images: bool = False) -> dict:
    """What the master would take from one sitemap: its pages (in scope or not) with the images
    listed on them, or an index's sitemaps."""
    return {
        "sitemap": found.url, "kind": found.kind,
        "pages": [{"url": e.loc, "in_scope": scope.page_in_scope(e.loc),
                   "images": [{"url": i, "allowed": scope.image_allowed(i, same_host_only=same_host_images)}
                              for i in e.images]} for e in found.pages],
        "sitemaps": list(found.sitemaps), "skipped": found.skipped, "problem": found.problem,
    }


def sitemap_lines(report: dict) -> list[str]:
    pages = report["pages"]
    lines = [f"sitemap: {report['sitemap']} ({report['kind']})"]
    if report["problem"]:
        lines.append(f"problem: {report['problem']}")
    if report["sitemaps"]:
        lines.append(f"sitemaps: {len(report['sitemaps'])}")
        lines += [f"  {u}" for u in report["sitemaps"]]
    if pages or not report["sitemaps"]:
        in_scope = sum(p["in_scope"] for p in pages)
        lines.append(f"pages: {len(pages)} ({in_scope} in scope), images: {sum(len(p['images']) for p in pages)}")
        for p in pages:
            lines.append(f"  {p['url']}" + ("" if p["in_scope"] else "  (out of scope)"))
            lines += [f"    image {i['url']}" + ("" if i["allowed"] else "  (excluded)") for i in p["images"]]
    if report["skipped"]:
        lines.append(f"skipped: {report['skipped']} entries that are not http(s) URLs")
    return lines
