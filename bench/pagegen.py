"""Pages shaped like the real web's, for timing the master's parsing (bench/parsers.py,
bench/page_ceiling.py).

The sizes follow 311 saved real pages (the test pages of Mozilla's Readability and of
Zyte's article-extraction benchmark): median 110 kB of HTML, about 800 elements, 25 kB of
inline script, a few kB of inline CSS, 90 links and 30 images. A page here has a head full of
meta, link and script elements, a navigation menu, an article with paragraphs, figures in
every shape the extraction reads (`<picture>` with a WebP and a JPEG `<source>` at three
widths, lazy `data-src`/`data-srcset` with a `<noscript>` fallback, `srcset` 1x/2x, plain
`<img>`, CSS backgrounds, a video poster), related posts, a footer and trailing scripts.
Deterministic for a seed.
"""

from __future__ import annotations

import random

_WORDS = ("the city council said on tuesday that new rules for housing would take effect next year after "
          "months of debate among residents who feared rising rents and longer commutes while others hoped "
          "for more parks schools and a quieter street where children could play safely").split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def _script(rng: random.Random, size: int) -> str:
    """Minified-looking JavaScript with markup in its strings (which must stay text)."""
    parts, n = [], 0
    while n < size:
        k = rng.randrange(1_000_000)
        chunk = (f'!function(e,t){{var n{k}=e.createElement("div");n{k}.innerHTML="<span class=\\"x{k}\\">'
                 f'</span>";t.push({{id:{k},src:"/static/js/chunk-{k}.js",w:{k % 900}}})}}(document,window.q=[]);')
        parts.append(chunk)
        n += len(chunk)
    return "".join(parts)


def _style(rng: random.Random, img: str, size: int) -> str:
    rules, n, i = [], 0, 0
    while n < size:
        i += 1
        if i % 25 == 0:
            rule = f".hero-{i}{{background-image:url({img}/bg/hero-{i}.jpg)}}"
        elif i % 40 == 0:
            rule = f".banner-{i}{{background:image-set(\"{img}/bg/b-{i}.avif\" 1x,\"{img}/bg/b-{i}@2x.avif\" 2x)}}"
        else:
            rule = (f".c-{i}{{margin:{i % 7}px {i % 5}px;padding:0 {i % 9}px;color:#{rng.randrange(1 << 24):06x};"
                    f"font:{12 + i % 6}px/1.4 system-ui,sans-serif}}")
        rules.append(rule)
        n += len(rule)
    return "".join(rules)


def _figure(rng: random.Random, img: str, kind: int, k: int) -> str:
    name = f"{img}/photos/{k:04d}-{rng.randrange(1 << 32):08x}"
    alt = _text(rng, 6)
    cap = f"<figcaption class=\"caption c-{k % 30}\">{_text(rng, 12)}</figcaption>"
    if kind == 0:  # a static-site generator's <picture>
        widths = (400, 800, 1200)
        webp = ", ".join(f"{name}-{w}.webp {w}w" for w in widths)
        jpg = ", ".join(f"{name}-{w}.jpg {w}w" for w in widths)
        body = (f'<picture><source type="image/webp" srcset="{webp}" sizes="(max-width: 800px) 100vw, 800px">'
                f'<source type="image/jpeg" srcset="{jpg}" sizes="(max-width: 800px) 100vw, 800px">'
                f'<img src="{name}-800.jpg" alt="{alt}" width="800" height="533" loading="lazy" decoding="async">'
                f"</picture>")
    elif kind == 1:  # lazy-loading script with a <noscript> fallback
        body = (f'<img class="lazyload" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="{name}-800.jpg" '
                f'data-srcset="{name}-400.jpg 400w, {name}-800.jpg 800w" alt="{alt}">'
                f'<noscript><img src="{name}-800.jpg" alt="{alt}"></noscript>')
    elif kind == 2:
        body = f'<img src="{name}.jpg" srcset="{name}.jpg 1x, {name}@2x.jpg 2x" alt="{alt}" width="640" height="427">'
    elif kind == 3:
        body = f'<a href="{name}-full.jpg" class="lightbox"><img src="{name}-thumb.jpg" alt="{alt}"></a>'
    else:
        body = f'<div class="bg c-{k % 30}" style="background-image: url(\'{name}-bg.jpg\')" role="img"></div>'
    return f'<figure class="figure figure--{kind} c-{k % 30}">{body}{cap}</figure>'


def realistic_page(index: int, *, pages: int, seed: int = 1, img_base: str = "https://cdn.example/media",
                   page_prefix: str = "/post-") -> str:
    """One page of a site of `pages` pages (linked as PAGE_PREFIX{j}.html), images under img_base."""
    rng = random.Random(seed * 1_000_003 + index)
    img = img_base.rstrip("/")
    out = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
           f"<title>{_text(rng, 8)}</title>",
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f'<meta name="description" content="{_text(rng, 25)}">',
           f'<meta property="og:image" content="{img}/og/{index}.jpg">',
           f'<meta name="twitter:image" content="{img}/og/{index}.jpg">',
           '<meta property="og:type" content="article"><meta name="robots" content="index, follow">',
           f'<link rel="canonical" href="{page_prefix}{index}.html"><link rel="icon" href="{img}/favicon.ico">',
           f'<link rel="apple-touch-icon" href="{img}/apple-touch-icon.png">',
           f'<link rel="preload" as="image" href="{img}/hero/{index}.avif">',
           '<link rel="stylesheet" href="/static/css/main.css"><link rel="preconnect" href="https://cdn.example">',
           f"<style>{_style(rng, img, 5_000)}</style>",
           f'<script type="application/ld+json">{{"@context":"https://schema.org","headline":"{_text(rng, 10)}",'
           f'"image":["{img}/og/{index}.jpg"],"author":{{"name":"{_text(rng, 2)}"}}}}</script>',
           f"<script>{_script(rng, 16_000)}</script>",
           '<noscript><img height="1" width="1" style="display:none" src="https://tracker.example/px?id=1&amp;ev=PageView"></noscript>',
           '</head><body class="post">',
           '<header class="site-header"><a class="logo" href="/"><svg width="120" height="30" viewBox="0 0 120 30">'
           f'<path d="M0 0h20v30H0z"/><image href="{img}/logo.png" width="20" height="20"/></svg></a>',
           '<nav class="menu"><ul>']
    for s in range(8):
        out.append(f'<li class="menu__item"><a href="{page_prefix}{s}.html">Section {s}</a><ul class="submenu">')
        out += [f'<li><a href="{page_prefix}{(s * 6 + t) % pages}.html" class="c-{t}">{_text(rng, 2)}</a></li>'
                for t in range(6)]
        out.append("</ul></li>")
    out.append('</ul></nav></header><main class="content"><article class="article">')
    out.append(f'<h1 class="headline">{_text(rng, 9)}</h1>')
    kinds = [0] * 2 + [1] * 3 + [2] * 3 + [3] * 2 + [4] * 2
    rng.shuffle(kinds)
    others = [rng.randrange(pages) for _ in range(20)]
    for p in range(36):
        link = f' <a href="{page_prefix}{others[p % 20]}.html">{_text(rng, 3)}</a>' if p % 2 else ""
        spans = "".join(f' <span class="s-{q}"><em>{_text(rng, 3)}</em> <strong>{_text(rng, 2)}</strong></span>'
                        for q in range(3))
        out.append(f'<div class="block c-{p % 30}"><p class="para">{_text(rng, 90)}{link}{spans} '
                   f'{_text(rng, 30)}</p></div>')
        if p < len(kinds):
            out.append(_figure(rng, img, kinds[p], index * 100 + p))
    out.append(f'<video controls preload="none" poster="{img}/video/{index}-poster.jpg" width="640">'
               f'<source src="{img}/video/{index}.mp4" type="video/mp4"></video>')
    out.append('</article><aside class="related"><h2>Related</h2><ul>')
    for r in range(6):
        j = (index + r + 1) % pages
        out.append(f'<li class="related__item"><a href="{page_prefix}{j}.html"><img src="{img}/thumbs/{j}.jpg" '
                   f'alt="" width="120" height="80"><span>{_text(rng, 6)}</span></a></li>')
    out.append('</ul></aside></main><footer class="site-footer"><ul>')
    out += [f'<li><a href="https://other-{f}.example/path/{rng.randrange(10_000)}">{_text(rng, 2)}</a></li>'
            for f in range(20)]
    out.append("</ul>")
    out += [f'<a class="social" href="https://social-{s}.example/share?u={page_prefix}{index}.html&amp;t=1">'
            f'<svg width="16" height="16" viewBox="0 0 16 16"><g fill="none"><path d="M{s} 0h16v16H0z"/>'
            f'<circle cx="8" cy="8" r="{s + 2}"/><path d="M2 {s}l12 4"/></g></svg></a>' for s in range(6)]
    out.append('<div class="grid">' + "".join(f'<div class="cell c-{g}"><span class="label">{_text(rng, 2)}'
                                              f'</span><span class="value">{g}</span></div>' for g in range(40))
               + "</div>")
    out.append(f"</footer><script>{_script(rng, 12_000)}</script></body></html>")
    return "\n".join(out)


def write_site(root, pages: int, *, seed: int = 1, img_base: str = "https://cdn.example/media") -> list[str]:
    """`pages` pages as root/post-{i}.html (each links about 20 others); their relative paths."""
    from pathlib import Path
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(pages):
        name = f"post-{i}.html"
        (root / name).write_text(realistic_page(i, pages=pages, seed=seed, img_base=img_base), encoding="utf-8")
        names.append(name)
    return names
