"""URL -> relative path under the downloads root: deterministic, injective, safe by construction.

Layout: `<host>/<path segments>/<name><ext>`, mirroring the URL.

A URL whose path is already "boring" (lower-case ASCII letters, digits, `-`, `_`, `.`; no
query; a name ending in the extension of its real type) is stored under exactly that path.
Every other URL is sanitised (characters invalid on Linux or Windows replaced, `.`/`..`
neutralised, reserved device names prefixed, long segments cut) and its file name gets
`~` + 10 hex digits of sha256(URL). Why two URLs can never share a path:
- plain names contain no `~`, hashed names always do, so a plain name never equals a hashed one;
- two plain paths are the URLs' own (lower-case) paths, so distinct URLs give distinct paths,
  on case-insensitive file systems too;
- two hashed names differ whenever the URLs differ, up to a 40-bit hash collision;
- a folder never takes a file's name: folder segments that end in an image extension get
  `~d`, and plain file names always end in one.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

TEMP_SUFFIX = ".crawler-part"

_KIND_EXTS = {
    "jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"), "png": (".png",), "gif": (".gif",), "webp": (".webp",),
    "avif": (".avif",), "bmp": (".bmp",), "ico": (".ico",), "tiff": (".tif", ".tiff"), "svg": (".svg",),
}
_IMAGE_EXTS = {ext for exts in _KIND_EXTS.values() for ext in exts} | {".pjpeg", ".pjp", ".apng"}
_PLAIN_SEGMENT = re.compile(r"[a-z0-9_][a-z0-9._-]{0,99}\Z")
_BAD_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_RESERVED = {"con", "prn", "aux", "nul"} | {f"{p}{i}" for p in ("com", "lpt") for i in "123456789¹²³"}
MAX_SEGMENT_BYTES = 100
MAX_DEPTH = 20
MAX_PATH_CHARS = 240


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def relative_path(url: str, kind: str | None = None) -> str:
    """The relative POSIX path an image from `url` of type `kind` is stored under."""
    parts = urlsplit(url)
    host = _host_folder(parts.hostname or "unknown-host", parts.port)
    raw = parts.path.split("/")[1:] or [""]
    dirs, name = raw[:-1], raw[-1]
    wanted = _KIND_EXTS.get(kind or "", ())
    if not parts.query and _plain_path(dirs, name, wanted):
        return "/".join([host, *dirs, name])
    clean_dirs = [_clean_dir(d) for d in dirs if d][:MAX_DEPTH]
    stem, ext = _split_ext(_clean(unquote(name, errors="replace")) if name else "index")
    if wanted and ext.lower() not in wanted:
        if ext.lower() not in _IMAGE_EXTS:
            stem += ext  # keep `image.php` visible as `image.php~hash.jpg`
        ext = wanted[0]
    elif not wanted and ext.lower() == TEMP_SUFFIX:
        ext = "_" + ext
    stem = _cut(stem, MAX_SEGMENT_BYTES - 12 - len(ext.encode()))
    filename = f"{stem}~{url_hash(url)}{ext}"
    path = "/".join([host, *clean_dirs, filename])
    if len(path) > MAX_PATH_CHARS:
        path = "/".join([host, "_long", filename])
    return path


def _plain_path(dirs: list[str], name: str, wanted: tuple[str, ...]) -> bool:
    if len(dirs) > MAX_DEPTH or not name:
        return False
    for seg in dirs:
        if not _plain_segment(seg) or os.path.splitext(seg)[1] in _IMAGE_EXTS:
            return False
    if not _plain_segment(name):
        return False
    ext = os.path.splitext(name)[1]
    if wanted and ext not in wanted:
        return False
    if not wanted and (not ext or name.endswith(TEMP_SUFFIX)):
        return False
    return len("/".join([*dirs, name])) <= MAX_PATH_CHARS - 60


def _plain_segment(seg: str) -> bool:
    return bool(_PLAIN_SEGMENT.match(seg)) and not seg.endswith(".") and seg.split(".")[0] not in _RESERVED


def _host_folder(host: str, port: int | None) -> str:
    host = host.lower()
    if ":" in host:  # an IPv6 literal
        host = "ipv6_" + host.replace(":", "-")
    host = _clean(host) or "unknown-host"
    return f"{host}_{port}" if port else host


def _clean_dir(seg: str) -> str:
    out = _clean(unquote(seg, errors="replace"))
    out = _cut(out, MAX_SEGMENT_BYTES - 2)
    if os.path.splitext(out)[1].lower() in _IMAGE_EXTS:
        out += "~d"
    return out


def _clean(text: str) -> str:
    """A string made valid as one file name component on Linux and Windows."""
    text = _BAD_CHARS.sub("_", text)
    text = text.rstrip(". ")
    if text.startswith("."):
        text = "_" + text[1:]
    if not text:
        return "_"
    if text.split(".")[0].rstrip(" ").lower() in _RESERVED:
        text = "_" + text
    return text


def _split_ext(name: str) -> tuple[str, str]:
    stem, ext = os.path.splitext(name)
    if len(ext) > 10 or not re.fullmatch(r"\.[A-Za-z0-9_-]+", ext or "."):
        return name, ""
    return stem, ext


def _cut(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8", "replace")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", "ignore").rstrip(". ") or "_"


def is_temp_name(name: str) -> bool:
    return name.endswith(TEMP_SUFFIX)


def safe_join(root: str | os.PathLike, rel: str) -> Path:
    """root/rel for a relative path from relative_path() or from the network; ValueError if unsafe."""
    if not isinstance(rel, str) or not rel:
        raise ValueError("empty path")
    if "\\" in rel or "\x00" in rel or rel.startswith("/") or re.match(r"[A-Za-z]:", rel):
        raise ValueError(f"not a safe relative path: {rel!r}")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a safe relative path: {rel!r}")
    if posixpath.normpath(rel) != rel:
        raise ValueError(f"not a normal relative path: {rel!r}")
    root_abs = os.path.abspath(root)
    full = os.path.abspath(os.path.join(root_abs, *parts))
    if os.path.commonpath([root_abs, full]) != root_abs:
        raise ValueError(f"path leaves the downloads root: {rel!r}")
    return Path(full)
