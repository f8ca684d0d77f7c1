"""A page's bytes as text: the byte order mark, the Content-Type charset, the document's own
<meta> declaration (the HTML standard's prescan of the first 1024 bytes), then UTF-8, and
only when all of those fail, detection (bs4's UnicodeDammit, imported then).

Nearly every page says what it is or is UTF-8, so detection, and the 85 ms it takes to
import, is rarely paid. Labels are mapped as browsers map them: "iso-8859-1", "latin1"
and "ascii" mean windows-1252.
"""

from __future__ import annotations

import codecs
import re

_META = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]{1,40})""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# WHATWG encoding labels whose Python codec of the same name decodes differently
_BROWSER_NAMES = {"iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
                  "l1": "cp1252", "ascii": "cp1252", "us-ascii": "cp1252", "iso-8859-9": "cp1254",
                  "latin5": "cp1254", "tis-620": "cp874", "iso-8859-11": "cp874", "x-sjis": "shift_jis",
                  "gb2312": "gbk", "x-gbk": "gbk", "ks_c_5601-1987": "cp949", "euc-kr": "cp949",
                  "utf-16": "utf-8", "utf-16le": "utf-8", "utf-16be": "utf-8"}  # a <meta> can't be UTF-16


def codec_for(label: str | None, *, from_meta: bool = False) -> str | None:
    """The Python codec for an encoding label, or None if unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    mapped = _BROWSER_NAMES.get(label)
    if mapped == "utf-8" and not from_meta:
        mapped = None  # a UTF-16 label in the header is meant
    try:
        return codecs.lookup(mapped or label).name
    except (LookupError, ValueError):  # unknown, or not a name at all ("\x00")
        return None


def meta_charset(body: bytes) -> str | None:
    """The charset a <meta> in the first 1024 bytes declares, if any."""
    m = _META.search(body, 0, 1024)
    return m.group(1).decode("ascii") if m else None


def decode_html(body: bytes, header_charset: str | None = None) -> str:
    """The page as text; never raises."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body.decode(codec, "replace")
    declared = codec_for(header_charset) or codec_for(meta_charset(body), from_meta=True)
    candidates = [declared] if declared else []
    if "utf-8" not in candidates:
        candidates.append("utf-8")
    for codec in candidates:
        try:
            return body.decode(codec)
        except (UnicodeError, LookupError):  # UnicodeError: a codec such as "undefined" always fails
            continue
    from bs4.dammit import UnicodeDammit  # rare: not what it says, or says nothing and is not UTF-8
    dammit = UnicodeDammit(body, known_definite_encodings=[declared] if declared else [], is_html=True)
    return dammit.unicode_markup if dammit.unicode_markup is not None else body.decode("utf-8", "replace")
