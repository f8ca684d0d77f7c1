import re

import pytest
from hypothesis import given, settings, strategies as st

from crawler.naming import TEMP_SUFFIX, relative_path, safe_join, url_hash
from crawler.urls import normalize_url

WINDOWS_RESERVED = re.compile(r"(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?\Z", re.I)


def valid_component(name: str) -> bool:
    """A file or folder name valid on Linux and on Windows."""
    return (bool(name) and name not in (".", "..") and not re.search(r'[<>:"/\\|?*\x00-\x1f\x7f]', name)
            and not name.endswith((".", " ")) and not WINDOWS_RESERVED.match(name)
            and len(name.encode()) <= 255)


def check_safe(path: str) -> None:
    assert not path.startswith("/") and "\\" not in path and len(path) <= 240
    for part in path.split("/"):
        assert valid_component(part), (path, part)
    assert not path.endswith(TEMP_SUFFIX)


@pytest.mark.parametrize("url, kind, expected", [
    ("http://h.example/img/cat.jpg", "jpeg", "h.example/img/cat.jpg"),
    ("http://h.example/img/cat.jpeg", "jpeg", "h.example/img/cat.jpeg"),
    ("http://h.example:8080/a/b.png", "png", "h.example_8080/a/b.png"),
    ("http://h.example/deep/er/still/x.gif", "gif", "h.example/deep/er/still/x.gif"),
])
def test_plain_urls_mirror_host_and_path(url, kind, expected):
    assert relative_path(url, kind) == expected


@pytest.mark.parametrize("url, kind, pattern", [
    ("http://h/a.jpg?x=1", "jpeg", r"h/a~[0-9a-f]{10}\.jpg"),                         # query: hashed
    ("http://h/photo.png", "jpeg", r"h/photo~[0-9a-f]{10}\.jpg"),                     # extension follows the type
    ("http://h/image.php?id=3", "jpeg", r"h/image\.php~[0-9a-f]{10}\.jpg"),
    ("http://h/dir/", "gif", r"h/dir/index~[0-9a-f]{10}\.gif"),                       # no name
    ("http://h/", "png", r"h/index~[0-9a-f]{10}\.png"),
    ("http://h/a/../../etc/passwd", "png", r"h/a/_/_/etc/passwd~[0-9a-f]{10}\.png"),
    ("http://h/a/%2e%2e/%2e%2e/x.png", "png", r"h/a/_/_/x~[0-9a-f]{10}\.png"),
    ("http://h//etc/passwd", "png", r"h/etc/passwd~[0-9a-f]{10}\.png"),
    ("http://h/a%2Fb.png", "png", r"h/a_b~[0-9a-f]{10}\.png"),
    ("http://h/nul%00byte.png", "png", r"h/nul_byte~[0-9a-f]{10}\.png"),
    ("http://h/back%5Cslash.png", "png", r"h/back_slash~[0-9a-f]{10}\.png"),
    ("http://h/ctl%01%1F.png", "png", r"h/ctl__~[0-9a-f]{10}\.png"),
    ("http://h/con.jpg", "jpeg", r"h/_con~[0-9a-f]{10}\.jpg"),
    ("http://h/CON", "jpeg", r"h/_CON~[0-9a-f]{10}\.jpg"),
    ("http://h/lpt1/x.png", "png", r"h/_lpt1/x~[0-9a-f]{10}\.png"),
    ("http://h/nul.png", "png", r"h/_nul~[0-9a-f]{10}\.png"),
    ("http://h/trailing.%20/x.png", "png", r"h/trailing/x~[0-9a-f]{10}\.png"),
    ("http://h/Cat.JPG", "jpeg", r"h/Cat~[0-9a-f]{10}\.JPG"),                          # upper case: hashed
    ("http://h/caf%C3%A9.png", "png", r"h/café~[0-9a-f]{10}\.png"),
    ("http://h/a.jpg/b.jpg", "jpeg", r"h/a\.jpg~d/b~[0-9a-f]{10}\.jpg"),              # folder never a file name
    ("http://[::1]:8080/x.png", "png", r"ipv6_--1_8080/x\.png"),
    ("http://h/.hidden.png", "png", r"h/_hidden~[0-9a-f]{10}\.png"),
])
def test_unsafe_or_lossy_urls_are_sanitised_and_hashed(url, kind, pattern):
    path = relative_path(url, kind)
    assert re.fullmatch(pattern, path), path
    check_safe(path)


def test_long_names_and_deep_paths_are_bounded():
    for url in ("http://h/" + "x" * 300 + ".jpg", "http://h/" + "/".join(["d"] * 60) + "/a.jpg",
                "http://h/" + "/".join(["é" * 40] * 10) + "/a.jpg"):
        path = relative_path(url, "jpeg")
        check_safe(path)
        assert url_hash(url) in path


def test_same_url_same_path_and_hash_is_of_the_whole_url():
    assert relative_path("http://h/a.jpg?x=1", "jpeg") == relative_path("http://h/a.jpg?x=1", "jpeg")
    assert relative_path("http://h/a.jpg?x=1", "jpeg") != relative_path("http://h/a.jpg?x=2", "jpeg")


def test_lossy_look_alikes_do_not_collide_even_on_case_insensitive_disks():
    urls = ["http://h/a%3Fb.jpg", "http://h/a_b.jpg", "http://h/a%5Fb.jpg", "http://h/A_b.jpg", "http://h/a_b.JPG",
            "http://h/a_b.png", "http://h/a_b.jpg?", "http://h/a_b.jpg?x", "http://h/a_b~0123456789.jpg",
            "http://h/a_b.jpeg", "http://h/" + "y" * 300 + ".jpg", "http://h/" + "y" * 301 + ".jpg"]
    urls = {normalize_url(u) for u in urls}  # naming takes normalised URLs ("a.jpg?" is "a.jpg")
    paths = [relative_path(u, "jpeg").casefold() for u in urls]
    assert len(set(paths)) == len(urls) == 10, paths


URLISH = st.builds(
    lambda host, port, segs, query: f"http://{host}{port}/" + "/".join(segs) + query,
    st.sampled_from(["h.example", "xn--bcher-kva.de", "[::1]", "127.0.0.1"]),
    st.sampled_from(["", ":8080", ":1"]),
    st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
             .map(lambda s: s.replace("/", "%2F")), max_size=8),
    st.sampled_from(["", "?x=1", "?", "?a=%2F"]),
)


@settings(max_examples=400, deadline=None)
@given(URLISH, st.sampled_from([None, "jpeg", "png", "gif", "svg", "tiff"]))
def test_any_url_gives_a_safe_relative_path_inside_the_root(url, kind):
    path = relative_path(url, kind)
    check_safe(path)
    assert str(safe_join("/srv/root", path)).startswith("/srv/root/")


@settings(max_examples=50, deadline=None)
@given(st.lists(URLISH, min_size=2, max_size=40, unique=True))
def test_distinct_urls_never_share_a_path(urls):
    paths = {relative_path(u, "jpeg").casefold() for u in urls}
    assert len(paths) == len(urls)


@pytest.mark.parametrize("rel", ["../../etc/passwd", "/etc/passwd", "C:\\x", "C:/x", "a/../../b", "a\\b", "a\x00b",
                                 "", "a//b", "./a", "a/./b", "a/"])
def test_safe_join_refuses_anything_that_could_leave_the_root(tmp_path, rel):
    with pytest.raises(ValueError):
        safe_join(tmp_path, rel)


def test_safe_join_accepts_a_plain_relative_path(tmp_path):
    assert safe_join(tmp_path, "h/a/b.jpg") == tmp_path / "h" / "a" / "b.jpg"


@settings(max_examples=300, deadline=None)
@given(st.text(), st.sampled_from(["jpeg", "png", None]))
def test_any_string_that_normalises_to_a_url_gets_a_safe_path(text, kind):
    url = normalize_url(text, "http://base.example/dir/")
    if url is not None:
        path = relative_path(url, kind)
        check_safe(path)
        assert str(safe_join("/srv/root", path)).startswith("/srv/root/")
