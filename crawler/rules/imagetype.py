"""What an image is, by its magic bytes; what a Content-Type says. Pure functions, no I/O.

Servers mislabel images all the time (JPEGs as text/plain, octet-stream for everything), so
the bytes decide. The one exception is SVG: it is text, and a text document that the server
calls a web page is treated as a page.

Every check here is linear in the input: the head comes from an untrusted server, so no
regular expression with nested repetition may look at it.
"""

from __future__ import annotations

# The one table of image kinds and file extensions; the others are made from it.
KEPT_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"), "png": (".png",), "gif": (".gif",), "webp": (".webp",),
    "avif": (".avif",), "bmp": (".bmp",), "ico": (".ico",), "tiff": (".tif", ".tiff"), "svg": (".svg",),
}
"""Per kind, the extensions a stored file of that kind keeps; the first is the one it gets."""

OTHER_EXTENSIONS: dict[str, tuple[str, ...]] = {"jpeg": (".pjpeg", ".pjp"), "png": (".apng",)}
"""Other names pages give images of a kind: an image's URL, but a stored file gets a kept one."""

EXTENSIONS: dict[str, str] = {kind: exts[0] for kind, exts in KEPT_EXTENSIONS.items()}
"""The extension a stored file of each kind gets."""

EXTENSION_KINDS: dict[str, str] = {
    ext: kind for table in (KEPT_EXTENSIONS, OTHER_EXTENSIONS) for kind, exts in table.items() for ext in exts}
"""The kind each image extension (lower case, with the dot) names."""

IMAGE_EXTENSIONS: frozenset[str] = frozenset(EXTENSION_KINDS)
"""Every extension that names an image (lower case, with the dot)."""

_CONTENT_TYPES = {
    "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/pjpeg": "jpeg", "image/png": "png",
    "image/apng": "png", "image/x-png": "png", "image/gif": "gif", "image/webp": "webp",
    "image/avif": "avif", "image/bmp": "bmp", "image/x-ms-bmp": "bmp", "image/x-bmp": "bmp",
    "image/x-icon": "ico", "image/vnd.microsoft.icon": "ico", "image/tiff": "tiff",
    "image/svg+xml": "svg",
}

_BMP_DIB_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}
_AVIF_BRANDS = {b"avif", b"avis"}
_XML_SPACE = b" \t\r\n"
_SHOWN_CHARS = 40


def sniff(head: bytes) -> str | None:
    """The image kind from the first bytes (give at least 512 when there are that many), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and _is_avif(head):
        return "avif"
    # "BM" alone is two letters of text; the DIB header size is what real bitmaps agree on.
    if head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in _BMP_DIB_HEADER_SIZES and len(head) >= 18:
        return "bmp"
    # ICO (type 1) and CUR (type 2), with at least one image in the directory.
    if head[:4] in (b"\x00\x00\x01\x00", b"\x00\x00\x02\x00") and len(head) >= 6 and head[4:6] != b"\x00\x00":
        return "ico"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if _is_svg(head):
        return "svg"
    return None


def _is_avif(head: bytes) -> bool:
    """An ISO-BMFF `ftyp` box at the start whose major or a compatible brand is AVIF."""
    size = int.from_bytes(head[0:4], "big")
    start = 8
    if size == 1:  # a 64-bit size follows the box type
        size, start = int.from_bytes(head[8:16], "big"), 16
    elif size == 0:  # the box runs to the end of the file
        size = len(head)
    if size < start + 8:  # too small to hold major brand and minor version
        return False
    major = head[start:start + 4]
    end = min(size, len(head))
    compatible = {head[i:i + 4] for i in range(start + 8, end - 3, 4)}  # after the minor version
    return major in _AVIF_BRANDS or bool(compatible & _AVIF_BRANDS)


def _is_svg(head: bytes) -> bool:
    """True when the first element, after the XML prologue, is <svg.

    Skips a UTF-8 BOM, whitespace, processing instructions (<?xml ...?>), comments and an
    SVG doctype. Any other doctype (<!DOCTYPE html>) means a different document.
    """
    text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _XML_SPACE:
            i += 1
        if text.startswith(b"<?", i):
            end = text.find(b"?>", i + 2)
            if end < 0:
                return False
            i = end + 2
        elif text.startswith(b"<!--", i):
            end = text.find(b"-->", i + 4)
            if end < 0:
                return False
            i = end + 3
        elif text[i:i + 9].lower() == b"<!doctype":
            i = _skip_svg_doctype(text, i + 9)
            if i < 0:
                return False
        else:
            break
    return text[i:i + 4].lower() == b"<svg" and i + 4 < n and text[i + 4] in b" \t\r\n/>"


def _skip_svg_doctype(text: bytes, i: int) -> int:
    """The index after `<!DOCTYPE svg ...>` whose name starts at i, or -1 if not an SVG doctype."""
    j = i
    while j < len(text) and text[j] in _XML_SPACE:
        j += 1
    if j == i or text[j:j + 3].lower() != b"svg" or j + 3 >= len(text) or text[j + 3] not in b" \t\r\n>[":
        return -1
    close = text.find(b">", j)
    subset = text.find(b"[", j, close) if close >= 0 else text.find(b"[", j)  # bounded: no quadratic rescans
    if subset >= 0:  # an internal subset [ <!ENTITY ...> ] holds '>' of its own
        end = text.find(b"]", subset)
        close = text.find(b">", end) if end >= 0 else -1
    return close + 1 if close >= 0 else -1


def media_type(content_type: str | None) -> str:
    """The lower-case type/subtype of a Content-Type header, parameters dropped ("" if missing)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def media_param(content_type: str | None, name: str) -> str | None:
    """The value of one parameter of a Content-Type (`charset`...), unquoted; None if absent or empty."""
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == name and value.strip():
            return value.strip().strip("\"'")
    return None


def kind_from_content_type(content_type: str | None) -> str | None:
    return _CONTENT_TYPES.get(media_type(content_type))


def is_image(head: bytes, content_type: str | None) -> tuple[str | None, str | None]:
    """(kind, None) for an image, judged by its bytes; (None, why) for anything else."""
    kind = sniff(head)
    mt = media_type(content_type)
    if kind == "svg" and mt == "text/html":
        return None, "not an image: an SVG document served as text/html is a page"
    if kind:
        return kind, None
    body = f"the body starts with {_shown(head)!r}" if head else "the body is empty"
    if mt.startswith("image/"):
        return None, f"not an image: Content-Type says {mt} but the bytes are not a known image format ({body})"
    said = f"Content-Type {mt}" if mt else "no Content-Type"
    return None, f"not an image: {said} and {body}"


def _shown(head: bytes) -> str:
    """The start of a body, fit for one log line: control characters become '.'."""
    text = head[:_SHOWN_CHARS].decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "." for c in text)
