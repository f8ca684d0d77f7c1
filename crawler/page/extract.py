"""(html, base URL) -> page links and image URLs, with the source each image came from.

One walk over the document's BeautifulSoup tree, built once by `htmltree.parse` (which
builder, and why, is told there). Every URL is resolved against the document's effective
base and normalised; only absolute http(s) URLs come out. Never raises on hostile or broken
input. Pure: no I/O, no global state.

`srcset="largest"` keeps, per `<img>` and per `<picture>` (its `<source>` children and its
`<img>`, lazy-loading attributes included), only the candidate with the highest width, else
density (srcset.Candidate.size_key), the first of them on a tie; and per CSS `image-set()`
only its highest resolution. Everything else (links to images, og:image, CSS url(), ...)
is taken as with "all".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bs4 import BeautifulSoup, Comment, Tag

from ..config import SRCSET_MODES
from ..rules.imagetype import IMAGE_EXTENSIONS
from ..rules.urls import normalize_url
from . import charset, htmltree
from .srcset import Candidate, css_images, largest, srcset_candidates

# lazy-load attributes whose value is an image URL, whatever it looks like; a lazy-loading
# script moves them into src / srcset, so they are what the page finally shows
_LAZY_URL_ATTRS = ("data-src", "data-original", "data-lazy-src", "data-original-src", "data-hi-res-src",
                   "data-full-src", "data-large-src", "data-echo", "data-lazyload")
_LAZY_SRCSET_ATTRS = ("data-srcset", "data-lazy-srcset", "data-original-srcset")
_LAZY_URL_SET, _LAZY_SRCSET_SET = frozenset(_LAZY_URL_ATTRS), frozenset(_LAZY_SRCSET_ATTRS)
# attributes that sometimes hold an image URL and sometimes anything else: taken only when the value looks like one
_MAYBE_IMAGE_ATTRS = frozenset({"data-bg", "data-background", "data-url", "data-lazy", "data-image", "data-bg-src",
                                "data-background-image", "data-zoom-image", "data-thumb"})
# on these elements a lazy data-src is a video, a frame or a script, not an image: keep it only if it looks like one
_NOT_IMAGE_ELEMENTS = frozenset({"iframe", "frame", "script", "video", "audio", "embed", "object", "track"})
_META_IMAGE = frozenset({"og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src"})
_LINK_IMAGE_RELS = frozenset({"image_src", "icon", "apple-touch-icon", "apple-touch-icon-precomposed", "mask-icon"})
# url(...) in CSS also names stylesheets (@import) and fonts (@font-face): those are never images
_CSS_NOT_IMAGE = (".css", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".js")
_MAX_ATTR = 100_000        # longer attribute values are ignored: a hostile page gets no regex time out of them
_MAX_STYLE_TEXT = 1 << 20  # nor out of a huge <style> element


@dataclass(frozen=True)
class ImageRef:
    url: str      # absolute, normalised, http(s)
    source: str   # how the page names it: img, srcset, picture, data-src, poster, a-href, og:image, link,
                  # input, style or svg


@dataclass
class Extraction:
    links: list[str] = field(default_factory=list)         # page links, deduplicated, document order
    images: list[ImageRef] = field(default_factory=list)   # deduplicated by URL, first source wins
    cut: bool = False  # the page has more than htmltree.MAX_ELEMENTS elements: the rest was not read


def has_image_extension(path: str) -> bool:
    """True if a URL's path ends with an image file extension (any case)."""
    dot = path.rfind(".")
    return dot > path.rfind("/") and path[dot:].lower() in IMAGE_EXTENSIONS


def _normalised_path(url: str) -> str:
    """The path of a URL normalize_url returned (scheme://host/path?query, no fragment), without urlsplit."""
    start = url.find("/", url.find("//") + 2)
    return url[start:].split("?", 1)[0] if start >= 0 else ""


class _Collector:
    """Accumulates one page's links and images, each URL resolved and normalised once."""

    def __init__(self, base: str, max_links: int, max_images: int, largest: bool):
        self.base = base
        self.max_links = max_links
        self.max_images = max_images
        self.largest = largest
        self.links: dict[str, None] = {}  # dicts: deduplicated, in insertion (document) order
        self.images: dict[str, str] = {}
        self._resolved: dict[str, str | None] = {}  # pages repeat their URLs (menus, thumbnails)

    def full(self) -> bool:
        return len(self.links) >= self.max_links and len(self.images) >= self.max_images

    def resolve(self, raw: str) -> str | None:
        if len(raw) >= _MAX_ATTR:
            return None
        try:
            return self._resolved[raw]
        except KeyError:
            url = self._resolved[raw] = normalize_url(raw, self.base)
            return url

    def image(self, raw: str | None, source: str, only_if_image: bool = False) -> None:
        if raw and len(self.images) < self.max_images:
            url = self.resolve(raw)
            if url is not None and (not only_if_image or has_image_extension(_normalised_path(url))):
                self.add_image(url, source)

    def add_image(self, url: str, source: str) -> None:
        """Add an already normalised URL; the first source seen for a URL is kept."""
        if url not in self.images and len(self.images) < self.max_images:
            self.images[url] = source

    def srcset(self, raw: str | None, source: str) -> None:
        if raw and len(raw) < _MAX_ATTR and len(self.images) < self.max_images:
            for cand in srcset_candidates(raw):
                self.image(cand.url, source)

    def css(self, text: str, source: str) -> None:
        for raw in css_images(text, largest_only=self.largest):
            if raw.startswith("#"):  # url(#id) is a reference inside the document (SVG)
                continue
            url = self.resolve(raw)
            if url is not None and not _normalised_path(url).lower().endswith(_CSS_NOT_IMAGE):
                self.add_image(url, source)

    def link(self, raw: str | None) -> None:
        if raw and len(self.links) < self.max_links:
            url = self.resolve(raw)
            if url is not None:
                self.links[url] = None

    def anchor(self, raw: str | None) -> None:
        """An <a href> to an image file is an image, anything else a page."""
        if not raw:
            return
        url = self.resolve(raw)
        if url is None:
            return
        if has_image_extension(_normalised_path(url)):
            self.add_image(url, "a-href")
        elif len(self.links) < self.max_links:
            self.links[url] = None

    def group(self, members: list[tuple[Tag, str, str]]) -> None:
        """--srcset largest: the biggest candidate of an <img>, or of a <picture>'s sources and <img>.
        members: (element, source of its src, source of its srcset)."""
        ranked: list[_Ranked] = []
        for el, src_source, srcset_source in members:
            lazy = _first_attr(el, _LAZY_URL_ATTRS)
            src = lazy or _attr(el, "src")
            if src:
                self._rank(ranked, Candidate(src, None, 1.0), "data-src" if lazy else src_source)
            lazy = _first_attr(el, _LAZY_SRCSET_ATTRS)
            value = lazy or _attr(el, "srcset")
            if value and len(value) < _MAX_ATTR:
                for cand in srcset_candidates(value):
                    self._rank(ranked, cand, "data-src" if lazy else srcset_source)
        if ranked:
            best = largest(ranked)[0]
            self.add_image(best.url, best.kind)

    def _rank(self, ranked: list[_Ranked], cand: Candidate, kind: str) -> None:
        """Only a candidate we could fetch competes (a data: placeholder does not)."""
        url = self.resolve(cand.url)
        if url is not None:
            ranked.append(_Ranked(url, cand, kind))


class _Ranked:
    """A candidate with the source it came from, ranked by the candidate's size."""

    __slots__ = ("url", "cand", "kind")

    def __init__(self, url: str, cand: Candidate, kind: str):
        self.url, self.cand, self.kind = url, cand, kind

    def size_key(self) -> tuple[int, float]:
        return self.cand.size_key()


def _attr(el: Tag, name: str) -> str | None:
    """An attribute's value: always one string, as htmltree's builder keeps multi-valued
    attributes (class, rel) whole; bs4's own type allows a list."""
    return el.attrs.get(name)  # type: ignore[return-value]


def _first_attr(el: Tag, names: tuple[str, ...]) -> str | None:
    attrs: dict[str, str] = el.attrs  # type: ignore[assignment]  # one string each, as in _attr
    for name in names:
        value = attrs.get(name)
        if value:
            return value
    return None


def _in_picture(el: Tag) -> bool:
    parent = el.parent
    return parent is not None and parent.name == "picture"


def _img(c: _Collector, el: Tag) -> None:
    if c.largest:
        if not _in_picture(el):  # an <img> in a <picture> is weighed with its sources, at the <picture>
            c.group([(el, "img", "srcset")])
        return
    c.image(_attr(el, "src"), "img")
    c.srcset(_attr(el, "srcset"), "srcset")


def _picture(c: _Collector, el: Tag) -> None:
    if not c.largest:
        return  # its <source> and <img> children are taken one by one
    # as the standard does, each <img> child is weighed with the <source> children before it
    sources: list[tuple[Tag, str, str]] = []
    had_img = False
    for child in el.children:
        if isinstance(child, Tag):
            if child.name == "source":
                sources.append((child, "picture", "picture"))
            elif child.name == "img":
                c.group(sources + [(child, "img", "srcset")])
                had_img = True
    if sources and not had_img:
        c.group(sources)


def _source(c: _Collector, el: Tag) -> None:
    if _in_picture(el) and not c.largest:  # a <source> in <video>/<audio> is media
        c.srcset(_attr(el, "srcset"), "picture")
        c.image(_attr(el, "src"), "picture")


def _meta(c: _Collector, el: Tag) -> None:
    key = (_attr(el, "property") or _attr(el, "name") or "").strip().lower()
    if key in _META_IMAGE:
        c.image(_attr(el, "content"), "og:image")


def _link(c: _Collector, el: Tag) -> None:
    rels = set((_attr(el, "rel") or "").lower().split())
    if rels & _LINK_IMAGE_RELS or ("preload" in rels and (_attr(el, "as") or "").strip().lower() == "image"):
        c.image(_attr(el, "href"), "link")


def _input(c: _Collector, el: Tag) -> None:
    if (_attr(el, "type") or "").strip().lower() == "image":
        c.image(_attr(el, "src"), "input")


def _svg_image(c: _Collector, el: Tag) -> None:
    href = _attr(el, "href") or _attr(el, "xlink:href")
    if href:
        c.image(href, "svg")
    elif _attr(el, "src") and el.find_parent("svg") is None:
        _img(c, el)  # outside <svg> the standard builds <image> as <img> (libxml2 does not)


def _style(c: _Collector, el: Tag) -> None:
    text = "".join(s for s in el.contents if type(s) is not Comment and isinstance(s, str))
    if text and len(text) < _MAX_STYLE_TEXT and "(" in text:
        c.css(text, "style")


_TAGS: dict[str, Callable[[_Collector, Tag], None]] = {
    "a": lambda c, el: c.anchor(_attr(el, "href")),
    "area": lambda c, el: c.link(_attr(el, "href")),
    "frame": lambda c, el: c.link(_attr(el, "src")),
    "iframe": lambda c, el: c.link(_attr(el, "src")),
    "img": _img,
    "picture": _picture,
    "source": _source,
    "video": lambda c, el: c.image(_attr(el, "poster"), "poster"),
    "meta": _meta,
    "link": _link,
    "input": _input,
    "image": _svg_image,  # SVG <image> inline in HTML
    "style": _style,
}


def _attributes(c: _Collector, el: Tag, tag: str, attrs: dict) -> None:
    """Lazy-load data-* attributes and inline style="...url(...)..." on any element."""
    # with --srcset largest, the lazy attributes of an <img> and a <picture>'s <source> were weighed in c.group()
    grouped = c.largest and (tag == "img" or (tag == "source" and _in_picture(el)))
    for name, value in attrs.items():
        if not value:
            continue
        if name == "style":
            if len(value) < _MAX_ATTR and "(" in value:
                c.css(value, "style")
        elif name.startswith("data-"):
            if name in _LAZY_URL_SET:
                if grouped:
                    continue
                # a lazy <source> outside <picture> is video, like a lazy <iframe data-src>
                media = tag in _NOT_IMAGE_ELEMENTS or (tag == "source" and not _in_picture(el))
                c.image(value, "data-src", only_if_image=media)
            elif name in _LAZY_SRCSET_SET:
                if not grouped:
                    c.srcset(value, "data-src")
            elif name in _MAYBE_IMAGE_ATTRS:
                c.image(value, "data-src", only_if_image=True)


def extract(html: str | bytes, base_url: str, *, srcset: str = "all", max_links: int = 20_000,
            max_images: int = 20_000) -> Extraction:
    """Page links and image URLs of a document, deduplicated, in document order. Never raises.

    Bytes are decoded as a fetched page without a Content-Type charset is (charset.decode_html).
    URLs resolve against the first <base href> (itself resolved against base_url), else base_url.
    Past max_links links / max_images images the rest are ignored (bounded work on hostile pages).
    """
    if isinstance(html, (bytes, bytearray)):
        html = charset.decode_html(bytes(html))
    if "<" not in html:
        return Extraction()  # no element at all (and bs4 would warn that it looks like a URL or a file name)
    try:
        soup, cut = htmltree.parse(html)
    except Exception:  # the parser's own refusal of input it cannot take (bs4.ParserRejectedMarkup)
        return Extraction()
    found = extract_tree(soup, base_url, srcset=srcset, max_links=max_links, max_images=max_images)
    found.cut = cut
    return found


def extract_tree(soup: BeautifulSoup, base_url: str, *, srcset: str = "all", max_links: int = 20_000,
                 max_images: int = 20_000) -> Extraction:
    """extract() on a parsed document (whichever builder built it)."""
    if srcset not in SRCSET_MODES:
        raise ValueError(f"srcset must be one of {SRCSET_MODES}, not {srcset!r}")
    base = base_url
    for el in soup.find_all("base"):
        href = _attr(el, "href")
        if href:
            # a <base> that is not http(s) (data:, javascript:) is ignored, as browsers do
            base = normalize_url(href, base_url) or base_url
            break
    c = _Collector(base, max_links, max_images, largest=srcset == "largest")
    for node in soup.descendants:
        if not isinstance(node, Tag):
            continue
        tag = node.name
        handler = _TAGS.get(tag)
        if handler is not None:
            handler(c, node)
        attrs = node.attrs
        if attrs:
            _attributes(c, node, tag, attrs)
        if c.full():
            break  # a hostile page gets no more of our time than the caps allow
    return Extraction(list(c.links), [ImageRef(u, s) for u, s in c.images.items()])
