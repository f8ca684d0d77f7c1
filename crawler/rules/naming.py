"""URL -> relative path under the downloads root: deterministic, injective, safe by construction.

Layout: `<host>/<path segments>/<name><ext>`, mirroring the URL.

A URL that is "plain" is stored under exactly its own host and path: canonical form (no
userinfo, no default or odd port, no query, no fragment), a plain host (lower-case letters,
digits, `.`, `-`; or an IPv6 literal), at most MAX_DEPTH folders, and every segment made only of
lower-case ASCII letters, digits, `_`, `-` and `.` (not leading, not trailing, not a Windows
device name, at most 100 characters), folders without an image extension, and a name ending in
an extension of its real type. `http://h/img/cat.jpg` is stored as `h/img/cat.jpg`.

Every other URL is sanitised (characters invalid on Linux or Windows replaced, `.`/`..`
neutralised, device names prefixed, long segments cut) and its file name gets `~` + 16 hex
digits of sha256(URL) before the extension. Why two URLs never get one path, even compared
case-insensitively (Windows, macOS):

1. plain vs plain: a plain path is the URL's own host, port and path, all lower-case ASCII and
   undecoded (no `%`), so distinct plain URLs give distinct paths. The host folder is
   unambiguous: plain host names have no `_`, IPv6 folders are `ipv6_` + hex digits, `.` and `-`
   (no `_`), and a port is `_` + digits at the end.
2. plain vs hashed file: plain names contain no `~`; hashed names always do.
3. hashed vs hashed: the 16 hex digits are of the whole URL (a 64-bit hash).
4. a file never takes a folder's name: plain file names end in an image extension, plain folder
   names never do and contain no `~`; a sanitised folder name that ends in an image extension
   or contains `~` gets `~d` appended, while after a hashed file name's last `~` come 16 hex
   digits. The `~d` rule also keeps folders from looking like Windows 8.3 short names (`ABCDEF~1`).

One deliberate merge: the scheme is not part of the path, so `http://h/a.jpg` and
`https://h/a.jpg` share `h/a.jpg` (they name one resource in practice; hashed names do differ).
When they do not, the second one's bytes go to its hashed path (`hashed_path`) instead of
replacing the first one's: see storage.AtomicFile.commit.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .imagetype import IMAGE_EXTENSIONS, KEPT_EXTENSIONS
from .urls import DEFAULT_PORT_TEXTS

TEMP_SUFFIX = ".crawler-part"

MAX_SEGMENT_BYTES = 100
MAX_DEPTH = 20
MAX_PATH_CHARS = 240
HASH_HEX_DIGITS = 16  # 64 bits: a million query variants of one script URL still won't collide

_PLAIN_SEGMENT = re.compile(r"[a-z0-9_][a-z0-9._-]{0,99}\Z")
_PLAIN_HOST = re.compile(r"[a-z0-9][a-z0-9.-]{0,99}\Z")
_PLAIN_IPV6 = re.compile(r"\[[0-9a-f:.]{2,60}\]\Z")
_PLAIN_PORT = re.compile(r"[1-9][0-9]{0,4}\Z")
# Invalid in a name on Windows or Linux; lone surrogates cannot be written as UTF-8 at all.
_BAD_CHARS = re.compile('[<>:"/\\\\|?*\x00-\x1f\x7f\ud800-\udfff]')
_EXT = re.compile(r"\.[A-Za-z0-9_-]{1,9}\Z")
_RESERVED = ({"con", "prn", "aux", "nul", "conin$", "conout$"}
             | {f"{p}{i}" for p in ("com", "lpt") for i in "0123456789¹²³"})


def url_hash(url: str) -> str:
    """The hex digits that make a sanitised name unique to its URL."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_HEX_DIGITS]


def relative_path(url: str, kind: str | None = None) -> str:
    """The relative POSIX path an image from `url` (normalised, absolute) of type `kind` is stored under.

    `kind` is an imagetype kind ("jpeg", ...) and decides the extension; None keeps the name's own.
    """
    parts = urlsplit(url)
    _, has_at, hostport = parts.netloc.rpartition("@")  # credentials never reach the disk
    host, port = _split_host_port(hostport)
    default_port = port == DEFAULT_PORT_TEXTS.get(parts.scheme)
    if default_port:  # `h:80` is `h`, but only the normalised spelling may be plain
        port = ""
    segments = parts.path.split("/")[1:] or [""]
    dirs, name = segments[:-1], segments[-1]
    wanted = KEPT_EXTENSIONS.get(kind or "", ())

    folder = _plain_host_folder(host, port)
    canonical = (not has_at and not default_port and url == f"{parts.scheme}://{parts.netloc}{parts.path}"
                 and parts.scheme in DEFAULT_PORT_TEXTS and parts.path.startswith("/"))
    if folder and canonical and _plain_path(dirs, name, wanted):
        path = "/".join([folder, *dirs, name])
        if len(path) <= MAX_PATH_CHARS:
            return path
    return _hashed_path(url, folder or _any_host_folder(host, port), dirs, name, wanted)


def hashed_path(url: str, kind: str | None = None) -> str:
    """The hashed form of url's path, even for a plain URL: where its bytes go when its plain
    path holds other bytes (the http/https merge above). Never a plain path (it has a `~`)."""
    parts = urlsplit(url)
    host, port = _split_host_port(parts.netloc.rpartition("@")[2])
    if port == DEFAULT_PORT_TEXTS.get(parts.scheme):
        port = ""
    segments = parts.path.split("/")[1:] or [""]
    return _hashed_path(url, _plain_host_folder(host, port) or _any_host_folder(host, port), segments[:-1],
                        segments[-1], KEPT_EXTENSIONS.get(kind or "", ()))


def _split_host_port(hostport: str) -> tuple[str, str]:
    """Host (IPv6 in brackets, case kept) and port text of an authority without userinfo."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end >= 0:
            rest = hostport[end + 1:]
            return hostport[:end + 1], rest[1:] if rest.startswith(":") else rest
    host, _, port = hostport.partition(":")
    return host, port


def _plain_host_folder(host: str, port: str) -> str | None:
    """`host` or `host_port` for a host that maps back unambiguously; None for any other."""
    if port and not _PLAIN_PORT.match(port):
        return None
    if _PLAIN_IPV6.match(host):
        base = "ipv6_" + host[1:-1].replace(":", "-")
    elif _plain_segment(host) and _PLAIN_HOST.match(host):
        base = host
    else:
        return None
    return f"{base}_{port}" if port else base


def _any_host_folder(host: str, port: str) -> str:
    """A safe folder for any host; not unambiguous, so only used with hashed file names."""
    host = host.lower()
    if host.startswith("["):
        host = "ipv6_" + host.strip("[]").replace(":", "-")
    folder = f"{host}_{port}" if port else host
    return _cut(_clean(folder or "_nohost"), MAX_SEGMENT_BYTES)


def _plain_path(dirs: list[str], name: str, wanted: tuple[str, ...]) -> bool:
    if len(dirs) > MAX_DEPTH or not _plain_segment(name):
        return False
    if any(not _plain_segment(seg) or _has_image_ext(seg) for seg in dirs):
        return False
    ext = os.path.splitext(name)[1]
    return ext in wanted if wanted else ext in IMAGE_EXTENSIONS


def _plain_segment(seg: str) -> bool:
    return bool(_PLAIN_SEGMENT.match(seg)) and not seg.endswith(".") and seg.split(".")[0] not in _RESERVED


def _has_image_ext(name: str) -> bool:
    # casefold: a file system that ignores case may also fold non-ASCII letters (ſ -> s).
    return os.path.splitext(name.casefold())[1] in IMAGE_EXTENSIONS


def _hashed_path(url: str, folder: str, dirs: list[str], name: str, wanted: tuple[str, ...]) -> str:
    # Empty segments (from `//`) are dropped; deeper folders than MAX_DEPTH are left to the hash.
    clean_dirs = [_clean_dir(seg) for seg in dirs if seg][:MAX_DEPTH]
    stem, ext = _split_ext(_clean(unquote(name, errors="replace")) if name else "index")
    if wanted and not (ext.isascii() and ext.lower() in wanted):
        if not (ext.isascii() and ext.lower() in IMAGE_EXTENSIONS):
            stem += ext  # keep `image.php` visible: `image.php~<hash>.jpg`
        ext = wanted[0]
    suffix = f"~{url_hash(url)}{ext}"
    filename = _cut(stem, MAX_SEGMENT_BYTES - len(suffix.encode())) + suffix
    # Any prefix of the folders is as safe as all of them, and the hash keeps the name unique.
    while clean_dirs and len("/".join([folder, *clean_dirs, filename])) > MAX_PATH_CHARS:
        clean_dirs.pop()
    return "/".join([folder, *clean_dirs, filename])


def _clean_dir(seg: str) -> str:
    out = _cut(_clean(unquote(seg, errors="replace")), MAX_SEGMENT_BYTES - 2)
    if "~" in out or _has_image_ext(out):
        out += "~d"  # see rule 4 in the module docstring
    return out


def _clean(text: str) -> str:
    """A string made valid as one file or folder name on Linux and Windows."""
    text = _BAD_CHARS.sub("_", text).rstrip(". ")  # Windows drops trailing dots and spaces
    if text.startswith((".", " ")):  # hidden files, and `..` in disguise
        text = "_" + text[1:]
    if not text:
        return "_"
    if text.split(".")[0].rstrip(" ").lower() in _RESERVED:  # CON, con.txt, COM1.tar.gz
        text = "_" + text
    return text


def _split_ext(name: str) -> tuple[str, str]:
    """(stem, extension) where the extension is short and plain, else (name, "")."""
    match = _EXT.search(name)
    if not match or match.start() == 0:
        return name, ""
    return name[:match.start()], match.group()


def _cut(text: str, max_bytes: int) -> str:
    """text cut to at most max_bytes of UTF-8, still a valid name."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", "ignore").rstrip(". ") or "_"


def is_temp_name(name: str) -> bool:
    """True for a download in progress; relative_path() never yields such a name."""
    return name.endswith(TEMP_SUFFIX)


def check_relative(rel: str) -> list[str]:
    """The segments of rel, a path from relative_path() or from the network, or ValueError.

    ValueError if rel is empty, absolute, has a drive or any `:` (Windows drives and alternate
    data streams), a backslash, NUL, or an empty, `.` or `..` segment. With none of those,
    joining rel to a root cannot leave it. Pure string work (a few microseconds; it runs for
    every download and every result): symlinks are checked when the file is written.
    """
    if not isinstance(rel, str) or not rel:
        raise ValueError("empty path")
    if "\\" in rel or "\x00" in rel or ":" in rel or rel[0] == "/":
        raise ValueError(f"not a safe relative path: {rel!r}")
    parts = rel.split("/")
    for p in parts:
        if p in ("", ".", ".."):
            raise ValueError(f"not a safe relative path: {rel!r}")
    return parts


def safe_join(root: str | os.PathLike, rel: str) -> Path:
    """root/rel as a path, for rel from relative_path() or from the network; see check_relative."""
    return Path(os.path.join(root, *check_relative(rel)))
