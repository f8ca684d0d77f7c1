"""`crawler report DIR`: a text summary of a crawl and a static HTML gallery of what it stored.

Everything comes from `DIR/manifest.jsonl`. The manifest is written from answers of workers and
from URLs found on the web, so every field is treated as hostile: all text is HTML-escaped, the
only `href`/`src` values emitted are relative paths built from manifest paths that pass
`naming.safe_join`, percent-encoded per segment, plus links to source URLs that are plainly
http(s). The gallery is one self-contained file per page (inline CSS, no scripts, nothing
remote) that works when opened from disk; with more than `per_page` stored images the extra
pages are `index-2.html`, `index-3.html`, ...
"""

from __future__ import annotations

import html
import os
import posixpath
import re
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from . import imagetype, manifest, naming, urls
from .config import MANIFEST_NAME
from .errors import ConfigError
from .refresh import CHANGES, NEW, UPDATED

INDEX = "index.html"
TOP_HOSTS = 10
EXAMPLES = 3
_GENERATOR = "crawler report"
_PAGE_FILE = re.compile(r"index-(\d+)\.html\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass
class Failure:
    url: str
    page: str | None
    reason: str
    error: str | None
    status: int | None


@dataclass
class Image:
    """One stored image (ok line) as the gallery shows it."""

    url: str
    page: str | None
    host: str
    path: str | None          # the validated relative path to show and link, None if unsafe
    raw_path: Any             # what the manifest said
    bytes: int
    kind: str
    duplicate_of: str | None  # validated path of the first copy, when this is a duplicate
    exists: bool
    change: str | None = None  # what the last run found (the manifest's `change`)


@dataclass
class Report:
    out: Path
    total: int = 0
    ok: int = 0
    failed: int = 0
    bytes: int = 0                 # bytes of every ok image, duplicates included
    unique_bytes: int = 0          # bytes of the files stored (duplicates not counted twice)
    duplicates: int = 0
    unsafe_paths: int = 0          # ok lines whose path was refused (not shown in the gallery)
    missing_files: int = 0         # ok lines whose file is not on disk
    bad_lines: int = 0             # lines that are not objects
    by_host: Counter = field(default_factory=Counter)        # host -> images (ok + failed)
    ok_by_host: Counter = field(default_factory=Counter)
    failed_by_host: Counter = field(default_factory=Counter)
    by_type: Counter = field(default_factory=Counter)        # kind -> ok images
    by_outcome: Counter = field(default_factory=Counter)     # "ok" / reason -> images
    by_reason: Counter = field(default_factory=Counter)      # reason -> failed images
    examples: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # reason -> (url, error)
    images: list[Image] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    changes: Counter = field(default_factory=Counter)        # the manifest's `change` -> images

    @property
    def refreshed(self) -> bool:
        """Is this the manifest of a --refresh (some line is other than `new`)?"""
        return any(c != NEW for c in self.changes)

    def changes_text(self) -> str:
        return ", ".join(f"{self.changes[c]} {c}" for c in CHANGES if self.changes[c])


# ---------------------------------------------------------------------------------------------
# building


def build_report(out: Path) -> Report:
    """The report of the crawl in `out`; ConfigError when there is no manifest to read."""
    out = Path(out)
    path = out / MANIFEST_NAME
    if not path.is_file():
        raise ConfigError(f"no manifest at {path}: is {out} the --out folder of a crawl?")
    try:
        return _summarize(out, manifest.read(path))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e


def _summarize(out: Path, records: Iterable[Any]) -> Report:
    rep = Report(out=Path(out))
    seen_files: set[str] = set()
    for rec in records:
        if not isinstance(rec, dict):
            rep.bad_lines += 1
            continue
        rep.total += 1
        url = _text(rec.get("url"))
        page = rec.get("page") if isinstance(rec.get("page"), str) else None
        host = host_of(url)
        rep.by_host[host] += 1
        change = rec.get("change") if rec.get("change") in CHANGES else None
        if change:
            rep.changes[change] += 1
        if rec.get("ok") is True:
            rep.ok += 1
            rep.ok_by_host[host] += 1
            rep.by_outcome["ok"] += 1
            nbytes = _int(rec.get("bytes"))
            rep.bytes += nbytes
            raw_path = rec.get("path")
            dup_raw = rec.get("duplicate_of")
            path = _safe_rel(out, raw_path)
            dup = _safe_rel(out, dup_raw) if dup_raw else None
            if dup_raw:
                rep.duplicates += 1
            shown = None if (dup_raw and dup is None) else (dup or path)
            if shown is None:
                rep.unsafe_paths += 1
                exists = False
            else:
                exists = os.path.isfile(os.path.join(out, shown))  # shown passed check_relative
                if not exists:
                    rep.missing_files += 1
                if not dup_raw and shown not in seen_files:
                    rep.unique_bytes += nbytes
                seen_files.add(shown)
            kind = kind_of(rec.get("content_type"), shown or (raw_path if isinstance(raw_path, str) else None))
            rep.by_type[kind] += 1
            rep.images.append(Image(url=url, page=page, host=host, path=shown, raw_path=raw_path,
                                    bytes=nbytes, kind=kind, duplicate_of=dup if dup_raw else None,
                                    exists=exists, change=change))
        else:
            rep.failed += 1
            rep.failed_by_host[host] += 1
            reason = _text(rec.get("reason")) or "unknown"
            rep.by_reason[reason] += 1
            rep.by_outcome[reason] += 1
            status = rec.get("status") if isinstance(rec.get("status"), int) else None
            error = rec.get("error") if isinstance(rec.get("error"), str) else None
            rep.failures.append(Failure(url=url, page=page, reason=reason, error=error, status=status))
            ex = rep.examples.setdefault(reason, [])
            if len(ex) < EXAMPLES:
                ex.append((url, _error_text(error, status, reason)))
    return rep


def host_of(url: str) -> str:
    """`host` or `host:port` of a URL, lower-case; "(unknown host)" when it has none."""
    netloc = urls.authority(url) if isinstance(url, str) else None
    return "(unknown host)" if netloc is None else _host_and_port(netloc)


@lru_cache(maxsize=4096)  # a crawl has few hosts and many URLs: parse each authority once
def _host_and_port(netloc: str) -> str:
    try:
        parts = urlsplit("//" + netloc)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return "(unknown host)"
    if not host:
        return "(unknown host)"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def kind_of(content_type: Any, path: str | None) -> str:
    """The image type from the Content-Type, else from the file extension, else "unknown"."""
    kind = imagetype.kind_from_content_type(content_type if isinstance(content_type, str) else None)
    if kind:
        return kind
    if path:
        ext = posixpath.splitext(path)[1].lower()
        if ext in imagetype.EXTENSION_KINDS:
            return imagetype.EXTENSION_KINDS[ext]
    mt = imagetype.media_type(content_type) if isinstance(content_type, str) else ""
    return _clean(mt, 40) if mt else "unknown"


def _safe_rel(out: Path, rel: Any) -> str | None:
    if not isinstance(rel, str):
        return None
    try:
        naming.check_relative(rel)
        rel.encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return None
    return rel


def _text(v: Any) -> str:
    return v if isinstance(v, str) else ("" if v is None else str(v))


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0


def _clean(text: str, limit: int = 200) -> str:
    """One line of printable text: control characters (terminal escapes) shown as `?`."""
    text = _CONTROL.sub("?", " ".join(text.split()))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _error_text(error: str | None, status: int | None, reason: str) -> str:
    if error:
        return error
    if status is not None:
        return f"HTTP {status}"
    return reason


def human_bytes(n: int) -> str:
    """1536 -> "1.5 KiB"."""
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"


# ---------------------------------------------------------------------------------------------
# text summary


def summary_lines(report: Report) -> list[str]:
    r = report
    lines = [f"images: {r.total} total, {r.ok} ok, {r.failed} failed"]
    lines.append(f"bytes: {r.bytes} ({human_bytes(r.bytes)}), stored {r.unique_bytes} "
                 f"({human_bytes(r.unique_bytes)})")
    lines.append(f"duplicates: {r.duplicates}")
    if r.refreshed:
        lines.append(f"last refresh: {r.changes_text()}")
    if r.by_host:
        lines.append(f"by host ({len(r.by_host)}):")
        hosts = sorted(r.by_host.items(), key=lambda kv: (-kv[1], kv[0]))
        for host, n in hosts[:TOP_HOSTS]:
            lines.append(f"  {_clean(host, 100)}: {n} ({r.ok_by_host[host]} ok, "
                         f"{r.failed_by_host[host]} failed)")
        if len(hosts) > TOP_HOSTS:
            rest = hosts[TOP_HOSTS:]
            lines.append(f"  {len(rest)} more hosts: {sum(n for _, n in rest)} images")
    if r.by_type:
        lines.append("by type:")
        for kind, n in sorted(r.by_type.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {kind}: {n}")
    if r.unsafe_paths:
        lines.append(f"unsafe paths (not shown): {r.unsafe_paths}")
    if r.missing_files:
        lines.append(f"files missing on disk: {r.missing_files}")
    if r.bad_lines:
        lines.append(f"unreadable manifest lines: {r.bad_lines}")
    if r.by_reason:
        lines.append(f"failures by reason ({r.failed}):")
        for reason, n in sorted(r.by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {_clean(reason, 60)}: {n}")
            for url, err in r.examples.get(reason, []):
                lines.append(f"    {_clean(url, 300)}: {_clean(err)}")
    return lines


# ---------------------------------------------------------------------------------------------
# gallery


def page_name(n: int) -> str:
    """The file of gallery page n (1-based)."""
    return INDEX if n == 1 else f"index-{n}.html"


_URL_SAFE = re.compile(r"[A-Za-z0-9._~/-]*")


def href_for(rel: str) -> str:
    """A validated relative POSIX path as a URL path, each segment percent-encoded."""
    if _URL_SAFE.fullmatch(rel):  # most are: nothing to encode
        return rel
    return "/".join(quote(seg, safe="") for seg in rel.split("/"))


def _e(text: Any) -> str:
    return html.escape(_text(text), quote=True)


def _is_web_url(url: str) -> bool:
    return url[:8].lower().startswith(("http://", "https://")) and not _CONTROL.search(url)


def _url_link(url: str | None, text: str | None = None, cls: str = "") -> str:
    if not url:
        return '<span class="muted">(unknown)</span>'
    shown = _e(text if text is not None else url)
    c = f' class="{cls}"' if cls else ""
    if _is_web_url(url):
        return f'<a{c} href="{_e(url)}" rel="noopener noreferrer nofollow">{shown}</a>'
    return f"<span{c}>{shown}</span>"


_CSS = """
:root{color-scheme:light dark;--bg:#fafafa;--fg:#222;--muted:#777;--card:#fff;--line:#ddd;--bad:#b00}
@media (prefers-color-scheme:dark){:root{--bg:#181818;--fg:#ddd;--muted:#999;--card:#242424;--line:#3a3a3a;--bad:#f77}}
*{box-sizing:border-box}
body{margin:0;padding:0 1rem 2rem;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;
  background:var(--bg);color:var(--fg)}
header{padding:.8rem 0;border-bottom:1px solid var(--line)}
h1{font-size:1.4rem;margin:.2rem 0}
h2{font-size:1.15rem;margin:1.2rem 0 .4rem;word-break:break-all}
.totals span{margin-right:1.2rem;white-space:nowrap}
.muted{color:var(--muted)}
a{color:inherit}
nav.pager{margin:.6rem 0;display:flex;flex-wrap:wrap;gap:.3rem;align-items:center}
nav.pager a,nav.pager b,nav.pager span{padding:.1rem .45rem;border:1px solid var(--line);border-radius:4px;
  text-decoration:none}
nav.pager span{opacity:.4}
details.page{margin:.3rem 0 .8rem;border-left:3px solid var(--line);padding-left:.6rem}
details.page>summary{cursor:pointer;word-break:break-all;padding:.2rem 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:.6rem;margin-top:.4rem}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:6px;padding:6px;overflow:hidden}
figure .frame{display:flex;align-items:center;justify-content:center;height:140px;
  background:repeating-conic-gradient(#8881 0 25%,#0000 0 50%) 0 0/16px 16px}
figure img{width:100%;height:100%;object-fit:contain}
figcaption{font-size:12px;margin-top:4px;word-break:break-all}
figcaption .url{display:block;max-height:3.2em;overflow:hidden}
.dup{color:var(--muted);font-style:italic}
.missing{color:var(--bad)}
.change{font-weight:bold;color:#fff;border-radius:3px;padding:0 .3rem}
.change.new{background:#2a7d2a}.change.updated{background:#a66a00}
table{border-collapse:collapse;width:100%;font-size:12px}
th,td{border:1px solid var(--line);padding:3px 6px;text-align:left;vertical-align:top;word-break:break-all}
th{background:var(--card)}
"""


def write_gallery(out: Path, report_or_records: Report | Iterable[dict], *, per_page: int = 200) -> Path:
    """Write `out/index.html` (and `index-N.html` for more than `per_page` images); its path."""
    out = Path(out)
    if per_page < 1:
        raise ValueError("per_page must be at least 1")
    rep = (report_or_records if isinstance(report_or_records, Report)
           else _summarize(out, report_or_records))
    shown = _ordered([img for img in rep.images if img.path is not None])
    chunks = [shown[i:i + per_page] for i in range(0, len(shown), per_page)] or [[]]
    pages = len(chunks)
    for n, chunk in enumerate(chunks, 1):
        _atomic_write(out / page_name(n), _render_page(rep, chunk, n, pages, len(shown), per_page))
    _remove_stale_pages(out, pages)
    return out / INDEX


def _ordered(images: list[Image]) -> list[Image]:
    """Hosts alphabetically; pages in order of first appearance; images in manifest order."""
    page_rank: dict[tuple[str, str], int] = {}
    for img in images:
        page_rank.setdefault((img.host, img.page or ""), len(page_rank))
    decorated = sorted(enumerate(images), key=lambda p: (p[1].host, page_rank[(p[1].host, p[1].page or "")], p[0]))
    return [img for _, img in decorated]


def _render_page(rep: Report, chunk: list[Image], n: int, pages: int, shown: int, per_page: int) -> str:
    parts: list[str] = []
    title = "Crawl gallery" + (f" — page {n} of {pages}" if pages > 1 else "")
    parts.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                 "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                 f"<meta name=\"generator\" content=\"{_GENERATOR}\">"
                 "<meta name=\"referrer\" content=\"no-referrer\">"
                 "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                 "img-src 'self' file: data:; style-src 'unsafe-inline'\">"
                 f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>\n")
    parts.append(_header(rep, title, n, pages, shown, per_page))
    parts.append("<main>\n")
    if not chunk:
        parts.append('<p class="muted">No images were stored.</p>\n')
    host = None
    page_key: str | None = None
    per_host = Counter(i.host for i in chunk)
    per_source_page = Counter((i.host, i.page or "") for i in chunk)
    for img in chunk:
        if img.host != host:
            if host is not None:
                parts.append("</div></details>\n</section>\n")
            host, page_key = img.host, None
            count = per_host[host]
            parts.append(f'<section class="host"><h2>{_e(host)} '
                         f'<span class="muted">({count} on this page, {rep.ok_by_host[host]} in all)</span></h2>\n')
        key = img.page or ""
        if key != page_key:
            if page_key is not None:
                parts.append("</div></details>\n")
            page_key = key
            count = per_source_page[(host, key)]
            parts.append(f'<details class="page" open><summary>{_url_link(img.page) if img.page else "(unknown page)"} '
                         f'<span class="muted">({count})</span></summary><div class="grid">\n')
        parts.append(_thumb(img, rep.refreshed))
    if host is not None:
        parts.append("</div></details>\n</section>\n")
    parts.append(_failures(rep, n))
    parts.append("</main>\n")
    if pages > 1:
        parts.append(_pager(n, pages))
    parts.append("</body></html>\n")
    return "".join(parts)


def _header(rep: Report, title: str, n: int, pages: int, shown: int, per_page: int) -> str:
    stats = [f"{rep.total} images", f"{rep.ok} ok", f"{rep.failed} failed",
             f"{human_bytes(rep.bytes)} ({rep.bytes} bytes)", f"{rep.duplicates} duplicates",
             f"{len(rep.by_host)} hosts"]
    if rep.refreshed:
        stats.append(f"last refresh: {rep.changes_text()}")
    if rep.unsafe_paths:
        stats.append(f"{rep.unsafe_paths} with unsafe paths (not shown)")
    if rep.missing_files:
        stats.append(f"{rep.missing_files} files missing")
    types = ", ".join(f"{_e(k)} {v}" for k, v in sorted(rep.by_type.items(), key=lambda kv: (-kv[1], kv[0])))
    out = [f"<header><h1>{_e(title)}</h1>",
           '<p class="totals">' + "".join(f"<span>{_e(s)}</span>" for s in stats) + "</p>"]
    if types:
        out.append(f'<p class="muted">types: {types}</p>')
    if pages > 1:
        first = (n - 1) * per_page + 1
        last = min(n * per_page, shown)
        out.append(f'<p class="muted">images {first}–{last} of {shown}</p>')
        out.append(_pager(n, pages))
    if rep.failed:
        target = "#failures" if n == 1 else f"{INDEX}#failures"
        out.append(f'<p><a href="{target}">{rep.failed} failures</a></p>')
    out.append("</header>\n")
    return "".join(out)


def _pager(n: int, pages: int) -> str:
    items = []
    items.append(f'<a rel="prev" href="{page_name(n - 1)}">← prev</a>' if n > 1 else "<span>← prev</span>")
    for k in range(1, pages + 1):
        items.append(f"<b>{k}</b>" if k == n else f'<a href="{page_name(k)}">{k}</a>')
    items.append(f'<a rel="next" href="{page_name(n + 1)}">next →</a>' if n < pages else "<span>next →</span>")
    return '<nav class="pager">' + "".join(items) + "</nav>\n"


def _thumb(img: Image, refreshed: bool = False) -> str:
    assert img.path is not None
    src = _e(href_for(img.path))
    name = img.url.rsplit("/", 1)[-1] or img.url
    extra = ""
    if refreshed and img.change in (NEW, UPDATED):  # after a refresh, what it brought stands out
        extra += f'<span class="change {img.change}">{img.change}</span><br>'
    if img.duplicate_of:
        extra += f'<span class="dup">duplicate of {_e(img.duplicate_of)}</span><br>'
    if not img.exists:
        extra += '<span class="missing">file missing</span><br>'
    return (f'<figure><a class="frame" href="{src}"><img loading="lazy" src="{src}" alt="{_e(_clean(name, 80))}" '
            f'title="{_e(img.path)}"></a><figcaption>{_url_link(img.url, cls="url")}'
            f'{extra}<span class="muted">{_e(human_bytes(img.bytes))} · {_e(img.kind)}</span></figcaption></figure>\n')


def _failures(rep: Report, n: int) -> str:
    if not rep.failures:
        return ""
    if n != 1:
        return (f'<section class="failures"><h2>Failures</h2><p><a href="{INDEX}#failures">'
                f"{rep.failed} failures are listed on page 1</a></p></section>\n")
    reasons = ", ".join(f"{_e(k)} {v}" for k, v in sorted(rep.by_reason.items(), key=lambda kv: (-kv[1], kv[0])))
    rows = []
    for f in rep.failures:
        rows.append(f"<tr><td>{_url_link(f.url)}</td><td>{_url_link(f.page) if f.page else ''}</td>"
                    f"<td>{_e(f.reason)}</td><td>{_e(f.error or '')}</td>"
                    f"<td>{'' if f.status is None else _e(f.status)}</td></tr>\n")
    return (f'<section class="failures" id="failures"><h2>Failures ({rep.failed})</h2>'
            f'<p class="muted">{reasons}</p>'
            "<table><thead><tr><th>URL</th><th>page</th><th>reason</th><th>error</th><th>status</th></tr></thead>"
            "<tbody>\n" + "".join(rows) + "</tbody></table></section>\n")


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".report-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _remove_stale_pages(out: Path, pages: int) -> None:
    """Remove `index-N.html` pages a previous, larger report wrote (only files this module wrote)."""
    for p in out.glob("index-*.html"):
        m = _PAGE_FILE.match(p.name)
        if not m or int(m.group(1)) <= pages or not p.is_file():
            continue
        try:
            with open(p, encoding="utf-8", errors="replace") as f:
                head = f.read(600)
            if f'<meta name="generator" content="{_GENERATOR}">' in head:
                p.unlink()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# command


def run_report(out: Path) -> int:
    """`crawler report DIR`: print the summary, write the gallery, print where it is."""
    out = Path(out)
    rep = build_report(out)
    for line in summary_lines(rep):
        print(line)
    index = write_gallery(out, rep)
    print(f"gallery: {index}")
    return 0
