"""The shape table: small documents whose tree an HTML 4 parser (or a careless one) builds
differently from a browser, each with the image URLs that must and must not come out.

URLs are written relative to the page (`http://HOST/dir/page.html`); the tests resolve them.
`largest` is what `--srcset largest` must take, where it differs from `must`. `browser` says
why headless Chromium loads less than `must` for that row (it picks one candidate of a srcset
or of a `<picture>`; it runs scripts, so `<noscript>` is text to it and a lazy `data-src`
waits for a script that the row does not have). Chromium's requests are checked against
every row by tests/test_shapes.py: what it loads as an image is in `must`, and nothing in
`must_not` is ever loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Shape:
    id: str
    html: str
    must: tuple[str, ...]
    must_not: tuple[str, ...] = ()
    largest: tuple[str, ...] | None = None  # None: the same as must
    browser: str = ""                       # why Chromium loads fewer than `must`, if it does
    links: tuple[str, ...] = field(default=())  # page links that must come out, where the row is about them


SHAPES = [
    Shape("picture-two-sources",
          '<picture><source type="image/webp" srcset="a-400.webp 400w, a-800.webp 800w" sizes="100vw">'
          '<source type="image/png" srcset="a-400.png 400w, a-800.png 800w" sizes="100vw">'
          '<img src="a-800.png" alt="a" width="400" height="300"></picture>',
          must=("a-400.webp", "a-800.webp", "a-400.png", "a-800.png"),
          largest=("a-800.webp",), browser="loads one candidate of the first source whose type it supports"),
    Shape("picture-three-sources-with-media",
          '<picture>\n  <source media="(min-width: 1000px)" srcset="wide.avif 1x, wide@2x.avif 2x" type="image/avif">\n'
          '  <source media="(min-width: 1000px)" srcset="wide.jpg 1x, wide@2x.jpg 2x">\n'
          '  <source srcset="narrow.jpg 1x, narrow@2x.jpg 2x">\n  <img src="narrow.jpg" alt="">\n</picture>',
          must=("wide.avif", "wide@2x.avif", "wide.jpg", "wide@2x.jpg", "narrow.jpg", "narrow@2x.jpg"),
          largest=("wide@2x.avif",), browser="loads one candidate of the source that matches its viewport"),
    Shape("picture-uppercase",
          '<PICTURE><SOURCE SRCSET="u-1.webp 1x, u-2.webp 2x" TYPE="image/webp"><SOURCE SRCSET="u-1.jpg 1x, '
          'u-2.jpg 2x"><IMG SRC="u-1.jpg" ALT=""></PICTURE>',
          must=("u-1.webp", "u-2.webp", "u-1.jpg", "u-2.jpg"), largest=("u-2.webp",),
          browser="loads one candidate of the first source"),
    Shape("picture-xhtml-void-syntax",
          '<picture><source srcset="x.webp" type="image/webp" /><source srcset="x.png" /><img src="x.png" /></picture>',
          must=("x.webp", "x.png"), largest=("x.webp",), browser="loads the first source"),
    Shape("img-directly-in-table",
          '<table><img src="fostered.jpg"><tr><td><img src="cell.jpg"></td></tr></table>',
          must=("fostered.jpg", "cell.jpg")),
    Shape("p-left-open-around-images",
          '<p>one <img src="p1.jpg"><p>two <picture><source srcset="p2.webp" type="image/webp">'
          '<source srcset="p2.png"><img src="p2.png"></picture><p>three <img src="p3.jpg">',
          must=("p1.jpg", "p2.webp", "p2.png", "p3.jpg"), largest=("p1.jpg", "p2.webp", "p3.jpg"),
          browser="loads the first source of the picture"),
    Shape("noscript-fallback",
          '<img class="lazyload" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="lazy.jpg">'
          '<noscript><img src="fallback.jpg"></noscript>',
          must=("lazy.jpg", "fallback.jpg"),
          browser="runs scripts, so <noscript> content is text, and no script here swaps data-src in"),
    Shape("noscript-picture-in-head-and-body",
          '<html><head><noscript><link rel="image_src" href="ns-head.png"></noscript></head><body>'
          '<div class="gatsby-image-wrapper"><picture><source type="image/webp" data-srcset="g-200.webp 200w, '
          'g-400.webp 400w"><img data-src="g-400.png" data-srcset="g-200.png 200w, g-400.png 400w" alt=""></picture>'
          '<noscript><picture><source type="image/webp" srcset="g-200.webp 200w, g-400.webp 400w">'
          '<img src="g-400.png" srcset="g-200.png 200w, g-400.png 400w" alt=""></picture></noscript></div>',
          must=("ns-head.png", "g-200.webp", "g-400.webp", "g-400.png", "g-200.png"),
          largest=("ns-head.png", "g-400.webp"),
          browser="runs scripts, so <noscript> content is text, and no script here swaps data-srcset in"),
    Shape("svg-image-href",
          '<svg width="20" height="20" viewBox="0 0 20 20"><image href="svg-a.png" width="10" height="10"/>'
          '<image xlink:href="svg-b.png" x="10" width="10" height="10"></image></svg>'
          '<SVG><IMAGE HREF="svg-c.png" WIDTH="10" HEIGHT="10"/></SVG>',
          must=("svg-a.png", "svg-b.png", "svg-c.png")),
    Shape("image-element-outside-svg",
          '<p><image src="legacy.jpg" alt="the standard renames it img"></p><svg><image src="not-in-svg.png"/></svg>',
          must=("legacy.jpg",), must_not=("not-in-svg.png",)),
    Shape("video-poster-and-media-sources",
          '<video poster="poster.jpg" controls width="320"><source src="clip.mp4" type="video/mp4">'
          '<source src="clip.webm" type="video/webm"><track src="subs.vtt" kind="subtitles"></video>'
          '<audio controls><source src="song.mp3" type="audio/mpeg"></audio><img src="after.jpg">',
          must=("poster.jpg", "after.jpg"), must_not=("clip.mp4", "clip.webm", "subs.vtt", "song.mp3")),
    Shape("base-href-after-other-head-elements",
          '<html><head><meta charset="utf-8"><title>t</title><link rel="stylesheet" href="s.css">'
          '<script>var x = 1;</script><base href="/assets/v2/"></head><body><img src="logo.png">'
          '<img srcset="hero.jpg 1x, hero@2x.jpg 2x"></body></html>',
          must=("/assets/v2/logo.png", "/assets/v2/hero.jpg", "/assets/v2/hero@2x.jpg"),
          must_not=("logo.png", "hero.jpg"), largest=("/assets/v2/logo.png", "/assets/v2/hero@2x.jpg"),
          browser="loads one candidate of the srcset"),
    Shape("entities-in-src-and-srcset",
          '<img src="thumb.php?id=7&amp;w=300&#38;h=200" srcset="thumb.php?id=7&amp;w=600 2x">'
          '<img src="q.jpg?a=1&param=2&copy=3&timestamp=4&sect;ion=5">',
          must=("thumb.php?id=7&w=300&h=200", "thumb.php?id=7&w=600",
                "q.jpg?a=1&param=2&copy=3&timestamp=4\u00a7ion=5"),
          must_not=("thumb.php?id=7&amp;w=300&#38;h=200", "q.jpg?a=1\u00b6m=2\u00a9=3\u00d7tamp=4\u00a7ion=5"),
          largest=("thumb.php?id=7&w=600", "q.jpg?a=1&param=2&copy=3&timestamp=4\u00a7ion=5"),
          browser="loads one candidate of the srcset"),
    Shape("whitespace-and-newlines-around-urls",
          '<img src="\n   ws-a.jpg\n  "><img srcset="\n  ws-b.jpg 1x,\n\t ws-c.jpg 2x\n"><img src=" ws\nd.jpg ">',
          must=("ws-a.jpg", "ws-b.jpg", "ws-c.jpg", "wsd.jpg"), largest=("ws-a.jpg", "ws-c.jpg", "wsd.jpg"),
          browser="loads one candidate of the srcset"),
    Shape("unquoted-and-duplicate-attributes",
          '<img src=unq.jpg alt=x><img src="first.jpg" src="second.jpg"><img SRC=upper.png>',
          must=("unq.jpg", "first.jpg", "upper.png"), must_not=("second.jpg",)),
    Shape("text-only-elements",
          '<title><img src="in-title.jpg"></title><textarea><img src="in-textarea.jpg"></textarea>'
          '<script>var template = \'<img src="in-script.jpg">\';</script><!-- <img src="in-comment.jpg"> -->'
          '<style>/* <img src="in-style.jpg"> */</style><img src="real.jpg">',
          must=("real.jpg",),
          must_not=("in-title.jpg", "in-textarea.jpg", "in-script.jpg", "in-comment.jpg", "in-style.jpg")),
    Shape("css-image-set",
          '<div style="background-image: image-set(\'set-1.png\' 1x, \'set-2.png\' 2x)">a</div>'
          '<div style="background-image: -webkit-image-set(url(wk-1.jpg) 1x, url(&quot;wk-2.jpg&quot;) 2x)">b</div>'
          '<style>.c { background: image-set("st-1.avif" type("image/avif") 1x, "st-2.avif" 2dppx) } '
          '.d { font-family: "not-an-image.png"; }</style><div class="c">c</div>',
          must=("set-1.png", "set-2.png", "wk-1.jpg", "wk-2.jpg", "st-1.avif", "st-2.avif"),
          must_not=("not-an-image.png",), largest=("set-2.png", "wk-2.jpg", "st-2.avif"),
          browser="loads one candidate of each image-set"),
    Shape("srcset-densities-that-are-not-numbers",
          '<img srcset="d-1.jpg 1.x, d-2.jpg +1x, d-3.jpg .5x, d-4.jpg 1e1x">',
          must=("d-3.jpg", "d-4.jpg"), must_not=("d-1.jpg", "d-2.jpg"), largest=("d-4.jpg",),
          browser="loads one candidate of the srcset"),
]
