"""A page's bytes as text, as a browser would read them."""

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.page.charset import codec_for, decode_html, meta_charset


def test_the_header_charset_wins_over_the_document():
    body = '<meta charset="utf-8"><p>é</p>'.encode("cp1252")
    assert "é" in decode_html(body, "windows-1252")


def test_the_meta_charset_is_used_when_the_header_says_nothing():
    body = '<html><head><meta charset="shift_jis"></head><body>写真</body></html>'.encode("shift_jis")
    assert "写真" in decode_html(body)
    body = '<meta http-equiv="Content-Type" content="text/html; charset=euc-jp"><p>写真</p>'.encode("euc-jp")
    assert "写真" in decode_html(body)


def test_latin1_labels_mean_windows_1252_as_in_browsers():
    assert decode_html(b"<p>\x93quoted\x94</p>", "iso-8859-1") == "<p>\u201cquoted\u201d</p>"


def test_a_byte_order_mark_wins():
    assert decode_html(b"\xef\xbb\xbf<p>\xc3\xa9</p>", "iso-8859-1") == "<p>é</p>"
    assert decode_html("<p>é</p>".encode("utf-16"), None) == "<p>é</p>"


def test_undeclared_utf8_is_read_as_utf8_without_loading_detection():
    sys.modules.pop("bs4.dammit", None)
    assert decode_html("<p>naïve café</p>".encode()) == "<p>naïve café</p>"
    assert "bs4.dammit" not in sys.modules


RUSSIAN = "<html><body>" + "<p>Съешь же ещё этих мягких французских булок, да выпей чаю.</p>" * 20 + "</body></html>"


def test_undeclared_legacy_bytes_fall_back_to_detection():
    assert "французских булок" in decode_html(RUSSIAN.encode("cp1251"))


def test_a_declaration_the_bytes_contradict_falls_back_to_detection():
    text = decode_html(RUSSIAN.encode("cp1251"), "utf-8")  # says UTF-8, is not
    assert "французских булок" in text and "\ufffd" not in text


@pytest.mark.parametrize("label, codec", [("UTF-8", "utf-8"), ("latin1", "cp1252"), ("bogus", None), (None, None),
                                          ('"shift_jis"', "shift_jis")])
def test_codec_labels(label, codec):
    assert codec_for(label) == codec


def test_meta_prescan_looks_at_the_first_1024_bytes_only():
    assert meta_charset(b'<meta charset="koi8-r">') == "koi8-r"
    assert meta_charset(b" " * 2000 + b'<meta charset="koi8-r">') is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.one_of(st.none(), st.text(max_size=20)))
def test_any_bytes_and_any_label_decode_without_raising(body, label):
    assert isinstance(decode_html(body, label), str)
