import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.page.srcset import Candidate, css_images, largest, srcset_candidates


@pytest.mark.parametrize("value, expected", [
    ("a.jpg 1x, b.jpg 2x", ["a.jpg", "b.jpg"]),
    ("a.jpg, b.jpg 2x", ["a.jpg", "b.jpg"]),
    ("img,with,commas.jpg 1x, b.jpg 2x", ["img,with,commas.jpg", "b.jpg"]),
    ("  ,, a.jpg  ", ["a.jpg"]),
    ("a.jpg 100w, b.jpg 200w", ["a.jpg", "b.jpg"]),
    ("a.jpg 1x 2x, b.jpg", ["b.jpg"]),                   # two densities: invalid, dropped
    ("a.jpg 100w 1x, b.jpg", ["b.jpg"]),                 # width and density: invalid
    ("a.jpg 1.5w, b.jpg -1x, c.jpg 0w", []),             # non-integer width, negative density, zero width
    ("a.jpg 100h", []),                                  # a height needs a width
    ("a.jpg 100w 50h", ["a.jpg"]),
    ("a.jpg 1e1x", ["a.jpg"]),
    ("data:image/png;base64,AAA 1x, b.jpg 2x", ["data:image/png;base64,AAA", "b.jpg"]),
    ("", []),
    ("a.jpg (foo, bar) 1x, b.jpg", ["b.jpg"]),           # an unknown descriptor drops its candidate
    ("a.jpg,b.jpg", ["a.jpg,b.jpg"]),                    # no space: one URL with a comma
    ("a.jpg,, b.jpg", ["a.jpg", "b.jpg"]),
    # the standard's valid floating-point number: a digit after the point, no leading "+"
    ("a.jpg 1.x, b.jpg +1x, c.jpg 1.5x", ["c.jpg"]),
    ("a.jpg .5x, b.jpg 2.0x, c.jpg 1E1x, d.jpg 1e+1x", ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]),
    ("a.jpg 1.x 2x, b.jpg 1.e1x, c.jpg 1x", ["c.jpg"]),
])
def test_srcset_by_the_html_standard(value, expected):
    assert [c.url for c in srcset_candidates(value)] == expected


def test_candidates_carry_their_width_or_density():
    assert srcset_candidates("a.jpg 400w, b.jpg 800w 600h, c.jpg 1.5x, d.jpg") == [
        Candidate("a.jpg", 400, 1.0), Candidate("b.jpg", 800, 1.0), Candidate("c.jpg", None, 1.5),
        Candidate("d.jpg", None, 1.0)]


@pytest.mark.parametrize("value, expected", [
    ("a.jpg 400w, b.jpg 800w, c.jpg 600w", "b.jpg"),
    ("a.jpg 1x, b.jpg 3x, c.jpg 2x", "b.jpg"),
    ("a.jpg 2x, b.jpg 2x", "a.jpg"),               # a tie: the first
    ("a.jpg 3x, b.jpg 100w", "b.jpg"),             # any width ranks above any density
    ("", None),
])
def test_largest_is_the_widest_else_densest_and_the_first_on_a_tie(value, expected):
    got = largest(srcset_candidates(value))
    assert [c.url for c in got] == ([expected] if expected else [])


@pytest.mark.parametrize("css, expected, largest_only", [
    ("background: url(a.png)", ["a.png"], None),
    ("background-image: image-set('a.png' 1x, 'b.png' 2x)", ["a.png", "b.png"], ["b.png"]),
    ('background-image: -webkit-image-set(url(a.jpg) 1x, url("b.jpg") 2x)', ["a.jpg", "b.jpg"], ["b.jpg"]),
    ('b: image-set("a.avif" type("image/avif") 2x, "b.jpg" type("image/jpeg") 1x)', ["a.avif", "b.jpg"], ["a.avif"]),
    ('b: image-set("lo.jpg" 96dpi, "hi.jpg" 2dppx, "mid.jpg" 1.5x)', ["lo.jpg", "hi.jpg", "mid.jpg"], ["hi.jpg"]),
    ('b: IMAGE-SET("a.png", "b.png" 1x)', ["a.png", "b.png"], ["a.png"]),   # no resolution: 1x
    ('b: image-set("a(1).png" 1x, "b,2.png" 2x)', ["a(1).png", "b,2.png"], ["b,2.png"]),
    (r'b: image-set("a\"q.png" 1x, "\62 .png" 2x)', ['a"q.png', "b.png"], ["b.png"]),
    ('b: image-set(linear-gradient(red, blue) 1x, "g.png" 2x)', ["g.png"], ["g.png"]),
    ('font-family: "x.png"; content: url(c.png)', ["c.png"], None),
    ("a: image-set(url(u.png) 1x, 'v.png' 2x); b: url(w.png)", ["u.png", "v.png", "w.png"], ["v.png", "w.png"]),
    ("image-set('unclosed.png' 2x", ["unclosed.png"], None),
])
def test_css_image_urls(css, expected, largest_only):
    assert css_images(css) == expected
    assert css_images(css, largest_only=True) == (expected if largest_only is None else largest_only)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab.,()'\"\\ x2wimage-set(url) \n")), max_size=80))
def test_css_and_srcset_parsers_never_raise(text):
    css_images(text)
    css_images(text, largest_only=True)
    srcset_candidates(text)


def test_a_long_run_of_unclosed_functions_is_read_in_linear_time():
    import time
    text = "image-set(" * 20_000 + "url(" * 20_000
    t0 = time.process_time()
    css_images(text)
    assert time.process_time() - t0 < 2.0
