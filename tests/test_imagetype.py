import io
import time

import pytest
from PIL import Image, features

from crawler.rules.imagetype import EXTENSIONS, is_image, kind_from_content_type, media_param, sniff


def pil(fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(buf, fmt, **kw)
    return buf.getvalue()


def ftyp(major: bytes, *compatible: bytes, size: int | None = None) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (len(body) + 8 if size is None else size).to_bytes(4, "big") + b"ftyp" + body


REAL_FORMATS = [("JPEG", "jpeg"), ("PNG", "png"), ("GIF", "gif"), ("WEBP", "webp"), ("BMP", "bmp"),
                ("ICO", "ico"), ("TIFF", "tiff")]
if features.check("avif"):
    REAL_FORMATS.append(("AVIF", "avif"))


@pytest.mark.parametrize("fmt, kind", REAL_FORMATS)
def test_real_images_are_recognised_from_their_first_512_bytes(fmt, kind):
    assert sniff(pil(fmt)[:512]) == kind


@pytest.mark.parametrize("fmt, kind", REAL_FORMATS)
def test_a_stored_file_gets_the_extension_of_its_format(fmt, kind):
    """What viewers and file managers go by: Pillow opens a file with that extension as this format."""
    Image.init()
    assert Image.EXTENSION[EXTENSIONS[sniff(pil(fmt)[:512])]] == fmt


@pytest.mark.parametrize("kind", sorted(EXTENSIONS))
def test_every_extension_names_its_own_kind(kind):
    import mimetypes
    assert kind_from_content_type(mimetypes.guess_type("x" + EXTENSIONS[kind])[0]) == kind


@pytest.mark.parametrize("head, kind", [
    (ftyp(b"avif", b"avif", b"mif1", b"miaf"), "avif"),
    (ftyp(b"avis", b"msf1"), "avif"),                              # an image sequence
    (ftyp(b"mif1", b"miaf", b"avif"), "avif"),                     # AVIF only among the compatible brands
    (ftyp(b"avif", size=0) + b"\x00" * 16, "avif"),                # size 0: the box runs to the end
    (b"\x00\x00\x00\x01ftyp" + (32).to_bytes(8, "big") + b"mif1\x00\x00\x00\x00avifmiaf", "avif"),  # 64-bit size
    (ftyp(b"mp42", b"mp42", b"isom"), None),                       # a video is not an image
    (ftyp(b"heic", b"mif1", b"heic"), None),                       # HEIC is not one of ours
    (ftyp(b"isom", b"isom") + b"avif", None),                      # "avif" after the box does not count
    (ftyp(b"avif", size=12), None),                                # a box too small to be real
    (b"\x00\x00\x00\x1cftyp", None),                               # cut short
])
def test_avif_is_an_ftyp_box_with_an_avif_brand(head, kind):
    assert sniff(head) == kind


@pytest.mark.parametrize("head, kind", [
    (b"BM" + b"\x00" * 12 + (40).to_bytes(4, "little"), "bmp"),
    (b"BM" + b"\x00" * 12 + (124).to_bytes(4, "little"), "bmp"),
    (b"BM is a band from the eighties", None),
    (b"BM", None),
    (b"\x00\x00\x02\x00\x01\x00" + b"\x00" * 16, "ico"),           # a cursor
    (b"\x00\x00\x01\x00\x00\x00" + b"\x00" * 16, None),            # an icon file holding no icons
    (b"II*\x00\x08\x00\x00\x00", "tiff"),
    (b"MM\x00*\x00\x00\x00\x08", "tiff"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),                       # RIFF, but audio
    (b"GIF8", None),
    (b"\xff\xd8", None),
    (b"", None),
    (b"\xff", None),
    (b"<", None),
])
def test_magic_numbers_and_their_look_alikes(head, kind):
    assert sniff(head) == kind


@pytest.mark.parametrize("text", [
    b'<svg xmlns="http://www.w3.org/2000/svg"/>',
    b"<svg>",
    b"  \r\n\t<SVG width='1'>",
    b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- made by hand -->\n'
    b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x">\n<svg>',
    b'<?xml version="1.0"?><?xml-stylesheet href="a.css"?><svg/>',
    b'<!DOCTYPE svg [ <!ENTITY e "<b>"> ]>\n<svg>',                  # an internal subset holds '>'
    b"<!-- <html> in a comment --><svg\n>",
])
def test_svg_is_recognised_after_its_prologue(text):
    assert sniff(text) == "svg"


@pytest.mark.parametrize("text", [
    b"<!DOCTYPE html><html><svg></svg>",
    b"<!DOCTYPE html>\n<svg></svg>",                               # an HTML doctype makes a page
    b"<html><body><svg></svg>",
    b"<svgfoo>",
    b"<svg",                                                       # cut before the tag ends
    b"<!-- never closed <svg>",
    b"<?xml version='1.0'",
    b"text before <svg>",
    b"<!DOCTYPE svgx><svg>",
])
def test_html_and_other_text_is_not_svg(text):
    assert sniff(text) is None


@pytest.mark.parametrize("head", [b" \t" * 50_000 + b"x", b"<!--" * 50_000, b"<?" * 50_000,
                                  b"<!-- -->" * 20_000 + b"<p>", b"<!DOCTYPE svg [" * 20_000,
                                  b"<!DOCTYPE svg>" * 50_000, b"<?x?>" * 50_000])
def test_sniffing_hostile_text_takes_linear_time(head):
    start = time.perf_counter()
    assert sniff(head) is None
    assert time.perf_counter() - start < 0.5


def test_an_html_page_named_jpg_is_not_an_image():
    assert sniff(b"<!DOCTYPE html>\n<html><head><title>photo.jpg</title>") is None


@pytest.mark.parametrize("ctype, kind", [
    ("image/jpeg; charset=binary", "jpeg"), ("IMAGE/PJPEG", "jpeg"), ("image/jpg", "jpeg"),
    ("image/png", "png"), ("image/apng", "png"), ("image/gif", "gif"), ("image/webp", "webp"),
    ("image/avif", "avif"), ("image/bmp", "bmp"), ("image/x-ms-bmp", "bmp"), ("image/tiff", "tiff"),
    ("image/svg+xml", "svg"), (" Image/SVG+XML ; q=1", "svg"), ("image/x-icon", "ico"),
    ("image/vnd.microsoft.icon", "ico"), ("image/heic", None), ("text/html", None), ("", None), (None, None),
])
def test_kind_from_content_type_ignores_case_and_parameters(ctype, kind):
    assert kind_from_content_type(ctype) == kind


@pytest.mark.parametrize("ctype, value", [
    ("text/html; charset=utf-8", "utf-8"), ('text/html;CHARSET="ISO-8859-1"', "ISO-8859-1"),
    ("text/html; q=1 ; charset = 'koi8-r' ", "koi8-r"), ("text/html; charset=", None), ("text/html", None),
    ("", None), (None, None),
])
def test_media_param_reads_one_parameter_unquoted(ctype, value):
    assert media_param(ctype, "charset") == value


JPEG = pil("JPEG")[:512]


@pytest.mark.parametrize("head, ctype, kind, reason_parts", [
    (JPEG, "text/plain", "jpeg", None),                            # bytes win over a wrong label
    (JPEG, None, "jpeg", None),
    (pil("PNG"), "image/jpeg", "png", None),
    (b"<svg></svg>", "image/svg+xml", "svg", None),
    (b"<svg></svg>", "text/xml", "svg", None),
    (b"<svg></svg>", None, "svg", None),
    (b"<svg></svg>", "text/html; charset=utf-8", None, ["SVG", "text/html"]),
    (b"<!DOCTYPE html><html><head>", "image/jpeg", None,
     ["not an image", "Content-Type says image/jpeg", "not a known image format", "'<!DOCTYPE html><html><head>'"]),
    (b"<!DOCTYPE html><html><head>", "text/html", None,
     ["not an image: Content-Type text/html and the body starts with '<!DOCTYPE html><html><head>'"]),
    (b"hello", None, None, ["no Content-Type", "'hello'"]),
    (b"", "image/png", None, ["image/png", "empty"]),
])
def test_is_image_trusts_the_bytes_and_explains_refusals(head, ctype, kind, reason_parts):
    got_kind, reason = is_image(head, ctype)
    assert got_kind == kind
    if reason_parts is None:
        assert reason is None
    else:
        assert all(part in reason for part in reason_parts), reason


def test_a_refusal_shows_a_short_prefix_without_control_characters():
    _, reason = is_image(b"\x00\x01\x1b[31mred\r\n" + b"x" * 500, "application/octet-stream")
    assert reason.isprintable() and "\\x" not in reason and len(reason) < 160
    assert "xxxxxxxxxx" in reason and "x" * 41 not in reason
