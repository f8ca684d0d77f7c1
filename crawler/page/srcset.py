"""Candidate lists: an HTML `srcset` and a CSS `image-set()`, each candidate with its size.

Both name one image at several sizes. `--srcset largest` keeps only the biggest of a list,
so each candidate carries what the standard lets us know of its size: a width in pixels
(`800w`) or a pixel density (`2x`, `2dppx`, `192dpi`). Pure functions, no I/O.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_WS = " \t\n\r\f"
# The HTML standard's "valid floating-point number": no leading "+", no "1." (a digit must
# follow the point), but ".5" is one. https://html.spec.whatwg.org/#valid-floating-point-number
_FLOAT = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?\Z")


class Candidate(NamedTuple):
    url: str              # as written (not resolved)
    width: int | None     # from a "w" descriptor
    density: float        # from an "x" descriptor; 1.0 when there is none (and when a width is given)

    def size_key(self) -> tuple[int, float]:
        """Larger is bigger. A width says more than a density (the standard ignores an <img>'s src,
        the implied 1x, once its srcset has widths), so any width ranks above any density."""
        return (1, float(self.width)) if self.width is not None else (0, self.density)


def largest(candidates: list) -> list:
    """The one candidate with the highest size_key(), the first of them on a tie (or [])."""
    best = None
    for cand in candidates:
        if best is None or cand.size_key() > best.size_key():
            best = cand
    return [] if best is None else [best]


def srcset_candidates(value: str) -> list[Candidate]:
    """A srcset's candidates, by the HTML standard's parsing algorithm.

    https://html.spec.whatwg.org/multipage/images.html#parsing-a-srcset-attribute -- a URL is a run
    of non-whitespace (so it may contain commas), trailing commas end it; candidates whose descriptors
    are invalid (two densities, a width and a density, a non-integer width, "1.x", ...) are dropped.
    """
    out: list[Candidate] = []
    pos, n = 0, len(value)
    while True:
        while pos < n and (value[pos] in _WS or value[pos] == ","):
            pos += 1
        if pos >= n:
            return out
        start = pos
        while pos < n and value[pos] not in _WS:
            pos += 1
        url = value[start:pos]
        descriptors: list[str] = []
        if url.endswith(","):
            url = url.rstrip(",")  # "a.jpg," ends the candidate: no descriptors
        else:
            pos = _descriptors(value, pos, descriptors)
        size = _size(descriptors)
        if url and size is not None:
            out.append(Candidate(url, *size))


def _descriptors(value: str, pos: int, out: list[str]) -> int:
    """The standard's descriptor tokenizer from pos up to the comma ending the candidate; returns the new pos."""
    n = len(value)
    while pos < n and value[pos] in _WS:
        pos += 1
    current, state = "", "descriptor"
    while True:
        c = value[pos] if pos < n else None
        if state == "descriptor":
            if c is None:
                if current:
                    out.append(current)
                return pos
            if c in _WS:
                if current:
                    out.append(current)
                current, state = "", "after"
            elif c == ",":
                if current:
                    out.append(current)
                return pos + 1
            elif c == "(":
                current += c
                state = "parens"  # a comma inside parentheses does not end the candidate
            else:
                current += c
        elif state == "parens":
            if c is None:
                out.append(current)
                return pos
            current += c
            if c == ")":
                state = "descriptor"
        else:  # whitespace after a descriptor
            if c is None:
                return pos
            if c not in _WS:
                state = "descriptor"
                continue  # reconsume c in the descriptor state
        pos += 1


def _size(descriptors: list[str]) -> tuple[int | None, float] | None:
    """(width, density) of valid descriptors, or None if they are invalid."""
    width = density = height = None
    for d in descriptors:
        kind, num = d[-1:], d[:-1]
        if kind == "w" and width is None and density is None and num.isascii() and num.isdigit() \
                and int(num) > 0:
            width = int(num)
        elif kind == "x" and width is None and density is None and height is None and _FLOAT.match(num) \
                and float(num) >= 0:
            density = float(num)
        elif kind == "h" and height is None and density is None and num.isascii() and num.isdigit() \
                and int(num) > 0:
            height = int(num)
        else:
            return None
    if height is not None and width is None:
        return None  # a height alone is not supported by the standard
    return width, 1.0 if density is None else density


# -- CSS ---------------------------------------------------------------------------------------

_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)""", re.I)
_IMAGE_SET = re.compile(r"(?:-webkit-)?image-set\(", re.I)
_CSS_STRING = re.compile(r""""((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'""", re.S)
_RESOLUTION = re.compile(r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)(x|dppx|dpi|dpcm)\b", re.I)
_PER_DPPX = {"x": 1.0, "dppx": 1.0, "dpi": 96.0, "dpcm": 96.0 / 2.54}
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n]?|(.))", re.S)


def css_images(text: str, *, largest_only: bool = False) -> list[str]:
    """Image URLs (as written) in CSS text, in order: every url(...), and every option of an
    image-set() or -webkit-image-set(), whether written url("a.png") or as a plain "a.png".

    With largest_only, an image-set gives only its highest resolution (the first on a tie).
    Other strings ("font-family: 'x.png'") are not URLs and are not taken.
    """
    out: list[str] = []
    rest: list[str] = []  # the text outside image-set(), where url() is looked for
    pos = 0
    for m in _IMAGE_SET.finditer(text):
        if m.start() < pos:
            continue  # inside the image-set() just read
        end = _closing_paren(text, m.end())
        options = [c for c in (_image_set_option(o) for o in _split_commas(text[m.end():end])) if c]
        out.extend(c.url for c in (largest(options) if largest_only else options))
        rest.append(text[pos:m.start()])
        pos = end + 1
    rest.append(text[pos:])
    for m in _CSS_URL.finditer("".join(rest) if pos else text):
        raw = m.group(1) or m.group(2) or m.group(3)
        if raw:
            out.append(raw)
    return out


def _closing_paren(text: str, pos: int) -> int:
    """Index of the ")" closing the function whose arguments start at pos (len(text) if none);
    parentheses in strings do not count."""
    depth, n = 0, len(text)
    while pos < n:
        c = text[pos]
        if c in "\"'":
            pos = _string_end(text, pos)
        elif c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                return pos
            depth -= 1
        pos += 1
    return n


def _string_end(text: str, pos: int) -> int:
    """Index of the quote closing the CSS string that opens at pos (a backslash escapes), or len(text)."""
    quote, pos, n = text[pos], pos + 1, len(text)
    while pos < n:
        c = text[pos]
        if c == quote:
            return pos
        pos += 2 if c == "\\" else 1
    return n


def _split_commas(args: str) -> list[str]:
    """The arguments of a function, split at top-level commas (not in strings or parentheses)."""
    parts, depth, start, pos, n = [], 0, 0, 0, len(args)
    while pos < n:
        c = args[pos]
        if c in "\"'":
            pos = _string_end(args, pos)
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(args[start:pos])
            start = pos + 1
        pos += 1
    parts.append(args[start:])
    return parts


def _image_set_option(option: str) -> Candidate | None:
    """'"a.png" 2x', 'url(a.png) type("image/avif") 1x' -> Candidate; None if it names no URL."""
    option = option.strip()
    m = _CSS_URL.match(option)
    if m:
        url = m.group(1) or m.group(2) or m.group(3)
    else:
        m = _CSS_STRING.match(option)
        if not m:
            return None  # a gradient or another <image> that is not a URL
        url = _unescape(m.group(1) if m.group(1) is not None else m.group(2))
    density = 1.0
    after = option[m.end():]
    # the resolution is the option's own, not one inside type("...")
    r = _RESOLUTION.search(_CSS_STRING.sub("", after))
    if r:
        density = float(r.group(1)) / _PER_DPPX[r.group(2).lower()]
    return Candidate(url, None, density) if url else None


def _unescape(s: str) -> str:
    def one(m: re.Match) -> str:
        if m.group(1):
            code = int(m.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        return "" if m.group(2) == "\n" else m.group(2)
    return _CSS_ESCAPE.sub(one, s) if "\\" in s else s
