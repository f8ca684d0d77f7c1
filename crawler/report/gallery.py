"""`crawler report`'s static HTML gallery of what a crawl stored.

The manifest's fields are hostile (see `summary`): all text is HTML-escaped, the only
`href`/`src` values emitted are relative paths built from manifest paths that pass
`naming.safe_join`, percent-encoded per segment, plus links to source URLs that are plainly
http(s). The gallery is one self-contained file per page (inline CSS, no scripts, nothing
remote) that works when opened from disk; with more than `per_page` stored images the extra
pages are `index-2.html`, `index-3.html`, ...
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..store.refresh import NEW, UPDATED
from .summary import CONTROL_CHARS, Image, Report, as_text, clean_text, human_bytes, summarize

INDEX = "index.html"
_GENERATOR = "crawler report"
_PAGE_FILE = re.compile(r"index-(\d+)\.html\Z")


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
    return html.escape(as_text(text), quote=True)


def _is_web_url(url: str) -> bool:
    return url[:8].lower().startswith(("http://", "https://")) and not CONTROL_CHARS.search(url)


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
           else summarize(out, report_or_records))
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
    return (f'<figure><a class="frame" href="{src}"><img loading="lazy" src="{src}" alt="{_e(clean_text(name, 80))}" '
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

