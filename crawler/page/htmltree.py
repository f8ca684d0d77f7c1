"""A page's text -> its BeautifulSoup tree, shaped as the HTML standard shapes it wherever
extraction depends on the shape. One parse per page.

The builder is bs4's lxml builder with a few changes, chosen by measurement against bs4's
other builders and lxml alone (`bench/parsers.py`; the numbers are in bench/README.md): it
gets every row of tests/shapes.py right, as html5lib does, in a fraction of html5lib's time,
and it is the fastest of bs4's builders.

- libxml2's element table is HTML 4's: it does not know `source`, `track`, `wbr`, `embed`
  and `keygen` are void, so the second `<source>` of a `<picture>` became a child of the
  first. The builder ends those elements where they start and ignores their end tags.
  Everything else extraction looks at, libxml2 2.14 (lxml 6) gets right: its tokenizer
  follows the HTML standard, so `&param=` in an attribute stays as written (html.parser
  before Python 3.14 reads `&para` as "¶", and a blogger.com page's links broke on
  `&sectionId=`), `<title>` and `<textarea>` hold text, `<noscript>` holds markup (as
  with scripting off: lazy-loading pages put the real `<img>` there). Foster parenting
  and implied end tags move elements but keep them, which is all extraction needs.
- html5lib builds the exact tree, but takes several times as long, and is quadratic in the
  depth of unclosed formatting elements.
- html.parser (Python 3.11) also reads `<title>` and `<textarea>` as markup.
- Text is not kept, except in `<style>`: extraction reads no other text, and making every
  text node a NavigableString is a large part of the parse; comments neither.
  Nor is the lxml builder's namespace bookkeeping done (libxml2's HTML parser has none).
- A page stops being parsed at MAX_ELEMENTS elements: the parse costs 20 to 30 us an
  element, so 100,000 cost 2 to 3 s of CPU, and a hostile 5 MB page of `<b>` (1.7 million
  elements) would cost most of a minute; `cut` says so.
"""

from __future__ import annotations

import warnings

from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning
from bs4.builder import LXMLTreeBuilder  # type: ignore[attr-defined]  # registered at import; undeclared

MAX_ELEMENTS = 100_000
"""Elements parsed at most per page; the rest of a page is not read."""

# void in the HTML standard, but containers in libxml2's HTML 4 element table
_VOID_UNKNOWN_TO_LIBXML2 = frozenset({"source", "track", "wbr", "embed", "keygen"})

# An XHTML page (<?xml ...?> first) is parsed as HTML on purpose, as browsers parse a page
# served as text/html; bs4 would warn about each one.
warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)


class _Enough(Exception):
    """Raised from the parser's callback at MAX_ELEMENTS: stops the parse."""


class StandardTreeBuilder(LXMLTreeBuilder):
    """bs4's lxml builder, with the standard's void elements, no text outside <style>, no
    namespaces, and a cap."""

    NAME = "crawler-lxml"

    def __init__(self, max_elements: int):
        # class and rel as plain strings: nothing here splits them into lists
        super().__init__(multi_valued_attributes=None)
        self.max_elements = max_elements
        self.elements = 0
        self.cut = False

    # libxml2's HTML parser gives no namespaces, so tags go straight to the soup (the
    # TreeBuilder protocol: soup.handle_starttag / handle_endtag), without the lxml
    # builder's namespace bookkeeping and its copy of every attribute dict (Tag copies it
    # again): the same trees, in much less time.
    def start(self, tag, attrib, nsmap=None):
        self.elements += 1
        if self.elements > self.max_elements:
            raise _Enough
        self.soup.handle_starttag(tag, None, None, attrib)
        if tag in _VOID_UNKNOWN_TO_LIBXML2:
            self.soup.handle_endtag(tag)

    def end(self, tag):
        if tag not in _VOID_UNKNOWN_TO_LIBXML2:  # already ended where it started
            self.soup.endData()
            self.soup.handle_endtag(tag)

    def data(self, content):
        if self.soup.currentTag.name == "style":
            super().data(content)

    def comment(self, text):
        pass

    def feed(self, markup):
        try:
            super().feed(markup)
        except _Enough:
            self.cut = True  # the tree so far is whole: bs4 closes what is open


def parse(text: str, max_elements: int | None = None) -> tuple[BeautifulSoup, bool]:
    """The document's tree, and whether it was cut at max_elements (default MAX_ELEMENTS).
    May raise bs4's ParserRejectedMarkup on input the parser cannot take at all."""
    builder = StandardTreeBuilder(MAX_ELEMENTS if max_elements is None else max_elements)
    soup = BeautifulSoup(text, builder=builder)
    return soup, builder.cut
