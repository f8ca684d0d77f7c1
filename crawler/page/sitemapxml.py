"""The shapes of a sitemap: what one lists (`Sitemap`, `Entry`), and the element layer that
finds it: expat's callbacks for `<urlset>` (Google's `image:` extension included),
`<sitemapindex>`, RSS 2.0 and Atom 1.0 (refusing any entity declaration: see `sitemap`), and
the reader of text sitemaps (one URL per line). Pure. The bytes (gzip, byte-order marks) and
the protocol's limits are `sitemap.SitemapReader`'s, which feeds these handlers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol
from xml.parsers import expat

from ..errors import SitemapError

MAX_IMAGES_PER_PAGE = 1_000
"""Images listed under one page (Google's limit); more are left out and counted."""

MAX_LOC_CHARS = 8192
KINDS = {"urlset": "urlset", "sitemapindex": "sitemapindex", "rss": "rss", "feed": "atom"}
"""A sitemap's root element (its local name) -> its kind."""


@dataclass
class Entry:
    """A page a sitemap lists, with the images it lists on that page."""

    loc: str
    images: list[str] = field(default_factory=list)


@dataclass
class Sitemap:
    url: str
    kind: str = "unknown"  # urlset, sitemapindex, rss, atom, text
    pages: list[Entry] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)  # from an index
    skipped: int = 0  # entries whose loc is not an http(s) URL
    images_cut: int = 0  # images past MAX_IMAGES_PER_PAGE on a page
    problem: str | None = None  # why reading stopped early, or why this is no sitemap at all

    @property
    def images(self) -> int:
        return sum(len(e.images) for e in self.pages)


class Reader(Protocol):
    """What the handlers need of the reader feeding them (`sitemap.SitemapReader`): its result
    so far, the count against the protocol's limit, and a loc made an absolute URL (or None)."""

    result: Sitemap

    def count(self) -> None: ...

    def url(self, text: str) -> str | None: ...


class XMLHandler:
    """expat's callbacks: which element we are in, and the text of the `loc`s."""

    def __init__(self, reader: Reader):
        self.reader = reader
        self.root: str | None = None
        self.path: list[str] = []  # local names of the open elements
        self.text: list[str] | None = None  # collecting a loc's text
        self.text_size = 0
        self.entry: Entry | None = None
        p = self.parser = expat.ParserCreate(namespace_separator=" ")
        p.buffer_text = True
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.EntityDeclHandler = self._entity
        p.UnparsedEntityDeclHandler = self._entity
        p.ExternalEntityRefHandler = self._external
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._chars

    @staticmethod
    def _entity(*_args) -> None:
        raise SitemapError("it declares XML entities (an XML bomb, or a reference to an external file); "
                           "sitemaps need none")

    @staticmethod
    def _external(*_args) -> int:
        raise SitemapError("it refers to an external XML entity; sitemaps need none")

    def _start(self, name: str, attrs: dict) -> None:
        local = name.rpartition(" ")[2]
        path = self.path
        if self.root is None:
            self.root = local
            self.reader.result.kind = KINDS.get(local, "unknown")
        kind = self.reader.result.kind
        depth = len(path)
        if kind in ("urlset", "rss") and depth == (1 if kind == "urlset" else 2) \
                and local == ("url" if kind == "urlset" else "item"):
            self.entry = Entry("")
        elif kind == "atom" and depth == 1 and local == "entry":
            self.entry = Entry("")
        elif kind == "atom" and self.entry is not None and depth == 2 and local == "link" and not self.entry.loc:
            if attrs.get("rel", "alternate") == "alternate" and attrs.get("href"):
                self.entry.loc = attrs["href"]
        elif self._wanted(local, depth):
            self.text, self.text_size = [], 0
        path.append(local)

    def _wanted(self, local: str, depth: int) -> bool:
        """Is this element one whose text is a URL we take?"""
        kind = self.reader.result.kind
        if kind == "sitemapindex":
            return depth == 2 and local == "loc" and self.path[1] == "sitemap"
        if self.entry is None:
            return False
        if kind == "urlset":
            return local == "loc" and (depth == 2 or (depth == 3 and self.path[2] == "image"))
        return kind == "rss" and depth == 3 and local == "link"

    def _chars(self, data: str) -> None:
        if self.text is not None:
            self.text_size += len(data)
            if self.text_size <= MAX_LOC_CHARS + 1:
                self.text.append(data)

    def _end(self, name: str) -> None:
        local = self.path.pop()
        depth = len(self.path)
        reader, result = self.reader, self.reader.result
        if self.text is not None and local in ("loc", "link"):
            text, self.text = "".join(self.text), None
            if result.kind == "sitemapindex":
                reader.count()
                url = reader.url(text)
                if url is not None:
                    result.sitemaps.append(url)
            elif self.entry is None:  # _wanted takes text outside an entry only in a sitemap index
                pass
            elif result.kind == "urlset" and depth == 3:  # <image:image><image:loc>
                if len(self.entry.images) >= MAX_IMAGES_PER_PAGE:
                    result.images_cut += 1
                else:
                    url = reader.url(text)
                    if url is not None and url not in self.entry.images:
                        self.entry.images.append(url)
            elif not self.entry.loc:
                self.entry.loc = text
            return
        if self.entry is not None and _closes_entry(result.kind, local, depth):
            entry, self.entry = self.entry, None
            reader.count()
            loc = reader.url(entry.loc) if entry.loc else None
            if entry.loc == "":
                result.skipped += 1
            if loc is not None:
                entry.loc = loc
                result.pages.append(entry)


def _closes_entry(kind: str, local: str, depth: int) -> bool:
    """Does the end of `local` at `depth` (after popping it) close a page entry?"""
    if kind == "urlset":
        return local == "url" and depth == 1
    if kind == "rss":
        return local == "item" and depth == 2
    return kind == "atom" and local == "entry" and depth == 1


class TextHandler:
    """A text sitemap: one URL per line, UTF-8."""

    def __init__(self, reader: Reader):
        self.reader = reader
        self.rest = b""

    def feed(self, data: bytes) -> None:
        lines = (self.rest + data).split(b"\n")
        self.rest = lines.pop()
        if len(self.rest) > MAX_LOC_CHARS:  # not a line a URL fits in: no text sitemap
            self.rest = b""
        for line in lines:
            self._line(line)

    def close(self) -> None:
        if self.rest:
            self._line(self.rest)
            self.rest = b""

    def _line(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace").strip()
        if not text:
            return
        self.reader.count()
        if not text[:8].lower().startswith(("http://", "https://")):  # the protocol wants full URLs
            self.reader.result.skipped += 1
            return
        url = self.reader.url(text)
        if url is not None:
            self.reader.result.pages.append(Entry(url))
