"""What an image is, by its magic bytes; what a Content-Type says. Pure functions."""

from __future__ import annotations

import re

EXTENSIONS: dict[str, str] = {
    "jpeg": ".jpg", "png": ".png", "gif": ".gif", "webp": ".webp", "avif": ".avif",
    "bmp": ".bmp", "ico": ".ico", "tiff": ".tif", "svg": ".svg",
}

_CONTENT_TYPES = {
    "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/pjpeg": "jpeg", "image/png": "png",
    "image/apng": "png", "image/x-png": "png", "image/gif": "gif", "image/webp": "webp",
    "image/avif": "avif", "image/bmp": "bmp", "image/x-ms-bmp": "bmp", "image/x-bmp": "bmp",
    "image/x-icon": "ico", "image/vnd.microsoft.icon": "ico", "image/tiff": "tiff",
    "image/svg+xml": "svg",
}

_NOT_IMAGE_TYPES = {"text/html", "application/xhtml+xml", "application/json", "text/plain", "text/css",
                    "text/javascript", "application/javascript", "application/xml", "text/xml"}

_BMP_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}
_SVG_PROLOGUE = re.compile(rb"\A(?:\s+|<\?xml[^>]*\?>|<!--.*?-->|<!DOCTYPE[^>]*>)*<svg[\s>/]", re.I | re.S)


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
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return "bmp"
    if head[:4] in (b"\x00\x00\x01\x00", b"\x00\x00\x02\x00") and len(head) >= 6 and head[4:6] != b"\x00\x00":
        return "ico"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    if _SVG_PROLOGUE.match(text):
        return "svg"
    return None


def _is_avif(head: bytes) -> bool:
    size = int.from_bytes(head[0:4], "big")
    box = head[8:min(size, len(head))] if size >= 16 else head[8:12]
    brands = {box[i:i + 4] for i in range(0, len(box) - 3, 4)}  # major, minor version, compatibles
    return bool(brands & {b"avif", b"avis"})


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def kind_from_content_type(content_type: str | None) -> str | None:
    return _CONTENT_TYPES.get(media_type(content_type))


def content_type_says_not_image(content_type: str | None) -> bool:
    """True when the server says this is a document or media, not an image."""
    mt = media_type(content_type)
    return mt in _NOT_IMAGE_TYPES or mt.startswith(("video/", "audio/"))


def is_image(head: bytes, content_type: str | None) -> tuple[str | None, str | None]:
    """(kind, None) for an image, judged by its bytes; (None, why) for anything else.

    Servers mislabel images, so magic bytes win over the Content-Type; SVG is text, so an SVG
    served as text/html is refused rather than trusted.
    """
    kind = sniff(head)
    mt = media_type(content_type) or "missing"
    if kind == "svg" and mt == "text/html":
        return None, "not an image: Content-Type text/html (an SVG-looking document served as a page)"
    if kind:
        return kind, None
    shown = "".join(c if c.isprintable() else "." for c in head[:40].decode("latin-1"))
    if kind_from_content_type(content_type):
        return None, f"not an image: Content-Type says {mt} but the bytes are not a known image format (start {shown!r})"
    return None, f"not an image: Content-Type {mt} and the body starts with {shown!r}"
