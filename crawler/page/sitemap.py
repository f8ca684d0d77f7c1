"""Sitemaps: bytes in, page and image URLs out. Pure: no I/O.

What is read (sitemaps.org, and Google's image extension):
- `<urlset>`: every `<url><loc>` is a page; the `<image:image><image:loc>` inside a `<url>`
  are images shown on that page.
- `<sitemapindex>`: every `<sitemap><loc>` is another sitemap.
- RSS 2.0 (`<item><link>`) and Atom 1.0 (`<entry><link href>`) feeds, which the protocol
  accepts as sitemaps; a text file of one URL per line (`sitemap.txt`).
- any of these gzipped (`.xml.gz`, or a body that starts with gzip's magic bytes).

Bounded as the protocol bounds a file: at most MAX_URLS entries and MAX_BYTES after
decompression; a file over either is refused (`SitemapError`), as Google refuses it.
Gzip is inflated in steps of at most STEP bytes, so a compression bomb is stopped at the cap
without ever being inflated whole. XML is read by expat as it arrives (no tree is built) and
any entity declaration refuses the file: entities are how XML bombs (billion laughs) and
external references (XXE) work, and no sitemap needs one. expat never fetches anything.

A file that stops being well-formed part way is kept up to that point, with the problem
said (`Sitemap.problem`): sites serve broken sitemaps, and what came before is still theirs.
"""

from __future__ import annotations

import re
import zlib
from xml.parsers import expat

from ..errors import SitemapError
from ..rules.imagetype import media_type
from ..rules.urls import normalize_url
from .sitemapxml import KINDS, MAX_IMAGES_PER_PAGE, MAX_LOC_CHARS, Entry, Sitemap, TextHandler, XMLHandler

__all__ = ["MAX_BYTES", "MAX_IMAGES_PER_PAGE", "MAX_URLS", "SOURCE", "Entry", "Sitemap",
           "SitemapReader", "parse", "sniff"]

MAX_URLS = 50_000
"""Entries (pages, or sitemaps of an index) in one file, as the protocol allows."""

MAX_BYTES = 50 * 1024 * 1024
"""Bytes of one file after decompression (50 MiB), as the protocol allows."""

STEP = 64 * 1024  # most bytes inflated at a time
SOURCE = "sitemap"
"""The manifest's `source` for an image a sitemap lists."""

GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_FIRST_ELEMENT = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_PROLOG = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^[>]*(?:\[.*?\])?\s*>|\s)*", re.S | re.I)


class SitemapReader:
    """Feed a sitemap's bytes as they arrive (`feed`), then `close()` for what it lists.
    Raises SitemapError as soon as the file is refused."""

    def __init__(self, url: str, *, max_bytes: int = MAX_BYTES, max_urls: int = MAX_URLS):
        self.result = Sitemap(url)
        self._max_bytes = max_bytes
        self._max_urls = max_urls
        self._raw = b""  # the first bytes, until we know whether they are gzip
        self._gunzip: zlib._Decompress | None = None
        self._decided = False  # gzip or not
        self._mode: str | None = None  # "xml" or "text", decided on the first byte that is not space
        self._lead = b""  # the start of a byte-order mark
        self._size = 0
        self._xml: XMLHandler | None = None
        self._text = TextHandler(self)
        self._stopped = False  # not well-formed: the rest is ignored

    def feed(self, data: bytes) -> None:
        if not data or self._stopped:
            return
        if not self._decided:
            self._raw += data
            if len(self._raw) < len(GZIP_MAGIC):
                return
            data, self._raw, self._decided = self._raw, b"", True
            if data.startswith(GZIP_MAGIC):
                self._gunzip = zlib.decompressobj(wbits=31)
        if self._gunzip is None:
            self._take(data)
            return
        self._inflate(self._gunzip, data)

    def _inflate(self, gunzip: zlib._Decompress, data: bytes) -> None:
        while data and not self._stopped:
            try:
                out = gunzip.decompress(data, STEP)
            except zlib.error as exc:
                raise SitemapError(f"not a valid gzip file ({exc})") from None
            self._take(out)
            data = gunzip.unconsumed_tail
            if gunzip.eof:
                rest = gunzip.unused_data
                if not rest.startswith(GZIP_MAGIC):  # trailing garbage after the last member: ignored
                    return
                gunzip = self._gunzip = zlib.decompressobj(wbits=31)
                data = rest

    def _take(self, data: bytes) -> None:
        """Uncompressed bytes."""
        self._size += len(data)
        if self._size > self._max_bytes:
            raise SitemapError(f"larger than {self._max_bytes // (1024 * 1024)} MB uncompressed "
                               f"(the sitemap protocol's limit)")
        if self._mode is None:
            if self._size - len(data) < len(_BOM):  # a byte-order mark may start the file
                data = self._lead + data
                if len(data) < len(_BOM) and _BOM.startswith(data):
                    self._lead = data
                    return
                data, self._lead = data.removeprefix(_BOM), b""
            data = data.lstrip()
            if not data:
                return
            self._mode = "xml" if data[:1] == b"<" else "text"
            if self._mode == "xml":
                self._xml = XMLHandler(self)
            else:
                self.result.kind = "text"
        if self._xml is None:  # the mode is decided: text
            self._text.feed(data)
            return
        try:
            self._xml.parser.Parse(data, False)
        except expat.ExpatError as exc:
            self._broken(exc)

    def _broken(self, exc: expat.ExpatError) -> None:
        self._stopped = True
        if self.result.problem is None:  # a gzip file cut short says so first
            where = f"line {exc.lineno}, column {exc.offset}"
            self.result.problem = f"not well-formed XML at {where}: {expat.ErrorString(exc.code)}"

    def close(self) -> Sitemap:
        if not self._decided and self._raw:
            self._decided = True
            self._take(self._raw)
        if self._gunzip is not None and not self._gunzip.eof and not self._stopped:
            self._take(self._gunzip.flush(STEP))
            if not self._stopped:
                self.result.problem = "the gzip file ends early"
        if self._mode == "text":
            self._text.close()
        elif self._xml is not None and not self._stopped:
            try:
                self._xml.parser.Parse(b"", True)
            except expat.ExpatError as exc:
                self._broken(exc)
        r = self.result
        if self._mode is None:
            r.problem = "empty"
        elif r.kind == "unknown" and r.problem is None and self._xml is not None:  # only XML leaves it unknown
            r.problem = f"not a sitemap: its root element is <{self._xml.root}>"
        elif r.kind == "text" and not r.pages:
            r.problem = "not a sitemap: no line is a URL"
        return r

    # -- what the handlers found ---------------------------------------------------------
    def count(self) -> None:
        """One more entry; refused past the protocol's limit."""
        r = self.result
        if len(r.pages) + len(r.sitemaps) >= self._max_urls:
            raise SitemapError(f"lists more than {self._max_urls:,} URLs (the sitemap protocol's limit)")

    def url(self, text: str) -> str | None:
        url = normalize_url(text.strip(), base=self.result.url) if len(text) <= MAX_LOC_CHARS else None
        if url is None:
            self.result.skipped += 1
        return url


def parse(data: bytes, url: str) -> Sitemap:
    """The whole of a sitemap at once (see SitemapReader)."""
    reader = SitemapReader(url)
    reader.feed(data)
    return reader.close()


def sniff(head: bytes, content_type: str | None = None, name: str = "") -> bool:
    """Do these first bytes (with the Content-Type, or a file's name) look like a sitemap
    rather than a page? Gzip, a text/plain body or a `.txt` file, or XML whose first element
    is a sitemap's or a feed's root. `crawler extract` decides with it."""
    if head.startswith(GZIP_MAGIC):
        return True
    ctype = media_type(content_type)
    if ctype == "text/plain" or (not ctype and name.lower().endswith(".txt")):
        return True
    text = head.removeprefix(_BOM)
    start = _PROLOG.match(text)
    found = _FIRST_ELEMENT.match(text, start.end() if start else 0)
    if not found:
        return False
    local = found.group(1).rpartition(b":")[2].decode("ascii", "replace")
    return local in KINDS
