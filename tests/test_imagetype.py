import io

import pytest
from PIL import Image

from crawler.imagetype import content_type_says_not_image, is_image, kind_from_content_type, sniff


def pil(fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt, kind", [("JPEG", "jpeg"), ("PNG", "png"), ("GIF", "gif"), ("WEBP", "webp"),
                                       ("BMP", "bmp"), ("ICO", "ico"), ("TIFF", "tiff")])
def test_real_images_are_recognised(fmt, kind):
    assert sniff(pil(fmt)[:512]) == kind


def test_avif_by_its_ftyp_brand():
    head = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 32
    assert sniff(head) == "avif"
    assert sniff(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom") is None  # a video is not an image


@pytest.mark.parametrize("text", [
    b'<svg xmlns="http://www.w3.org/2000/svg"/>',
    b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- made by hand -->\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x">\n<svg>',
    b"  <SVG width='1'>",
])
def test_svg_is_recognised_after_its_prologue(text):
    assert sniff(text) == "svg"


@pytest.mark.parametrize("head", [b"", b"\xff", b"<!DOCTYPE html><html><svg></svg>", b"BM is a band", b"GIF8",
                                  b"\x00\x00\x01\x00\x00\x00", b"RIFF\x00\x00\x00\x00WAVEfmt "])
def test_non_images_and_truncated_headers_are_not_images(head):
    assert sniff(head) is None


@pytest.mark.parametrize("ctype, kind", [("image/jpeg; charset=binary", "jpeg"), ("IMAGE/PJPEG", "jpeg"),
                                         ("image/svg+xml", "svg"), ("image/x-icon", "ico"), ("image/vnd.microsoft.icon", "ico"),
                                         ("text/html", None), (None, None)])
def test_kind_from_content_type(ctype, kind):
    assert kind_from_content_type(ctype) == kind


def test_content_types_that_rule_out_an_image():
    assert content_type_says_not_image("text/html; charset=utf-8") and content_type_says_not_image("video/mp4")
    assert not content_type_says_not_image("application/octet-stream") and not content_type_says_not_image(None)


def test_bytes_decide_over_the_content_type():
    jpeg = pil("JPEG")
    assert is_image(jpeg[:512], "text/plain") == ("jpeg", None)
    kind, why = is_image(b"<!DOCTYPE html><html>", "image/jpeg")
    assert kind is None and "Content-Type says image/jpeg" in why and "<!DOCTYPE html>" in why
    kind, why = is_image(b"<!DOCTYPE html><html>", "text/html")
    assert kind is None and "text/html" in why


def test_svg_served_as_a_page_is_refused():
    assert is_image(b"<svg></svg>", "text/html")[0] is None
    assert is_image(b"<svg></svg>", "image/svg+xml")[0] == "svg"
