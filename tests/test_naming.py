import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.rules.naming import HASH_HEX_DIGITS, TEMP_SUFFIX, is_temp_name, relative_path, safe_join, url_hash
from crawler.rules.urls import normalize_url

H = rf"~[0-9a-f]{{{HASH_HEX_DIGITS}}}"  # the hash suffix of a sanitised name
WINDOWS_RESERVED = re.compile(r"(con|prn|aux|nul|conin\$|conout\$|com[0-9¹²³]|lpt[0-9¹²³]) *(\..*)?\Z", re.I)


def valid_component(name: str) -> bool:
    """A file or folder name valid on Linux and on Windows."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate cannot be written
        return False
    return (0 < size <= 255 and name not in (".", "..") and not re.search(r'[<>:"/\\|?*\x00-\x1f\x7f]', name)
            and not name.endswith((".", " ")) and not WINDOWS_RESERVED.match(name))


def check_safe(path: str) -> None:
    assert not path.startswith("/") and "\\" not in path and len(path) <= 240, path
    for part in path.split("/"):
        assert valid_component(part), (path, part)
    assert len(path.split("/")) >= 2 and not is_temp_name(path)


def folders_and_files(paths):
    """(every folder path, every file path), case-folded as Windows and macOS compare them."""
    folders = {"/".join(p.split("/")[:i]).casefold() for p in paths for i in range(1, p.count("/") + 1)}
    return folders, {p.casefold() for p in paths}


@pytest.mark.parametrize("url, kind, expected", [
    ("http://h.example/img/cat.jpg", "jpeg", "h.example/img/cat.jpg"),
    ("https://h.example/img/cat.jpeg", "jpeg", "h.example/img/cat.jpeg"),
    ("http://h.example/img/cat.jfif", "jpeg", "h.example/img/cat.jfif"),
    ("http://h.example/scan.tiff", "tiff", "h.example/scan.tiff"),
    ("http://h.example:8080/a/b.png", "png", "h.example_8080/a/b.png"),
    ("https://h.example:80/a/b.png", "png", "h.example_80/a/b.png"),           # 80 is not https's default
    ("http://127.0.0.1/x.gif", "gif", "127.0.0.1/x.gif"),
    ("http://[::1]:8080/x.png", "png", "ipv6_--1_8080/x.png"),
    ("http://[2001:db8::7]/x.png", "png", "ipv6_2001-db8--7/x.png"),
    ("http://h.example/deep/er/still/x.gif", "gif", "h.example/deep/er/still/x.gif"),
    ("http://h.example/a-b_c/1.2.webp", "webp", "h.example/a-b_c/1.2.webp"),
    ("http://h.example/x.svg", None, "h.example/x.svg"),                        # kind unknown: own extension
])
def test_plain_urls_mirror_host_and_path(url, kind, expected):
    assert relative_path(url, kind) == expected


@pytest.mark.parametrize("url, kind, pattern", [
    # query: the hash tells a.jpg?x=1 from a.jpg?x=2
    ("http://h/a.jpg?x=1", "jpeg", rf"h/a{H}\.jpg"),
    # trailing slash: no name, so `index`
    ("http://h/dir/", "gif", rf"h/dir/index{H}\.gif"),
    ("http://h/", "png", rf"h/index{H}\.png"),
    ("http://h", "png", rf"h/index{H}\.png"),
    # the extension follows the real type; a known image extension is replaced, another one kept
    ("http://h/photo.png", "jpeg", rf"h/photo{H}\.jpg"),
    ("http://h/image.php?id=3", "jpeg", rf"h/image\.php{H}\.jpg"),
    ("http://h/noext", "png", rf"h/noext{H}\.png"),
    ("http://h/noext", None, rf"h/noext{H}"),
    ("http://h/page.html", None, rf"h/page{H}\.html"),
    # nothing climbs out
    ("http://h/a/../../etc/passwd", "png", rf"h/a/_/_/etc/passwd{H}\.png"),
    ("http://h/a/%2e%2e/%2E%2E/x.png", "png", rf"h/a/_/_/x{H}\.png"),
    ("http://h/./x.png", "png", rf"h/_/x{H}\.png"),
    ("http://h/..", "png", rf"h/_{H}\.png"),
    ("http://h//etc/passwd", "png", rf"h/etc/passwd{H}\.png"),
    ("http://h/a%2Fb.png", "png", rf"h/a_b{H}\.png"),
    ("http://h/a%2F..%2F..%2Fb.png", "png", rf"h/a_.._.._b{H}\.png"),
    # characters invalid somewhere
    ("http://h/nul%00byte.png", "png", rf"h/nul_byte{H}\.png"),
    ("http://h/back%5Cslash.png", "png", rf"h/back_slash{H}\.png"),
    ("http://h/raw\\slash.png", "png", rf"h/raw_slash{H}\.png"),
    ("http://h/ctl%01%1F%7F.png", "png", rf"h/ctl___{H}\.png"),
    ("http://h/a%3Ab%2Ac%3F%22%3C%3E%7C.png", "png", rf"h/a_b_c_____{H}\.png"),
    # Windows device names, with or without an extension, any case
    ("http://h/con", "jpeg", rf"h/_con{H}\.jpg"),
    ("http://h/CON.jpg", "jpeg", rf"h/_CON{H}\.jpg"),
    ("http://h/lpt1/x.png", "png", rf"h/_lpt1/x{H}\.png"),
    ("http://h/nul.png", "png", rf"h/_nul{H}\.png"),
    ("http://h/com0.tar.gz", None, rf"h/_com0\.tar{H}\.gz"),
    ("http://h/COM%C2%B9.png", "png", rf"h/_COM¹{H}\.png"),
    ("http://con/x.jpg", "jpeg", rf"_con/x{H}\.jpg"),
    # Windows drops trailing dots and spaces; leading dots hide files
    ("http://h/trailing.%20/x.png", "png", rf"h/trailing/x{H}\.png"),
    ("http://h/dots.../x.png", "png", rf"h/dots/x{H}\.png"),
    ("http://h/.hidden.png", "png", rf"h/_hidden{H}\.png"),
    # lossless but not plain: unicode, upper case (case-insensitive disks), escapes
    ("http://h/caf%C3%A9.png", "png", rf"h/café{H}\.png"),
    ("http://h/Cat.JPG", "jpeg", rf"h/Cat{H}\.JPG"),
    ("http://H/cat.jpg", "jpeg", rf"h/cat{H}\.jpg"),
    ("http://h/a%20b.png", "png", rf"h/a b{H}\.png"),
    ("http://h/a~b.png", "png", rf"h/a~b{H}\.png"),
    # a folder never takes a file's name (rule 4 in crawler/rules/naming.py)
    ("http://h/a.jpg/b.jpg", "jpeg", rf"h/a\.jpg~d/b{H}\.jpg"),
    ("http://h/a.JPG/b.jpg", "jpeg", rf"h/a\.JPG~d/b{H}\.jpg"),
    ("http://h/abcdef~1/b.jpg", "jpeg", rf"h/abcdef~1~d/b{H}\.jpg"),
    # hosts and authorities that do not map back unambiguously
    ("http://h_8080/x.png", "png", rf"h_8080/x{H}\.png"),
    ("http://h:80/x.png", "png", rf"h/x{H}\.png"),                             # default port spelled out
    ("http://user:pw@h/x.png", "png", rf"h/x{H}\.png"),                         # credentials never on disk
    ("http://h.example./x.png", "png", rf"h\.example/x{H}\.png"),
    ("http://h/x.png#frag", "png", rf"h/x{H}\.png"),
])
def test_unsafe_or_lossy_urls_are_sanitised_and_hashed(url, kind, pattern):
    path = relative_path(url, kind)
    assert re.fullmatch(pattern, path), path
    assert "~" + url_hash(url) in path.rsplit("/", 1)[1]
    check_safe(path)


@pytest.mark.parametrize("url", [
    "http://h/" + "x" * 300 + ".jpg",
    "http://h/" + "é" * 300 + ".jpg",
    "http://h/" + "/".join(["d"] * 60) + "/a.jpg",
    "http://h/" + "/".join(["é" * 40] * 10) + "/a.jpg",
    "http://h/" + "/".join(["x" * 99] * 3) + "/a.jpg",
    "http://" + "a" * 250 + ":65535/" + "b" * 250 + ".jpg",
    "http://h/" + "%41" * 300 + ".jpg",
])
def test_long_names_and_deep_paths_are_bounded(url):
    path = relative_path(url, "jpeg")
    check_safe(path)
    assert url_hash(url) in path and path.endswith(".jpg")


def test_long_plain_urls_stay_plain_up_to_the_limits():
    assert relative_path("http://h/" + "/".join(["d"] * 20) + "/a.jpg", "jpeg") == "h/" + "d/" * 20 + "a.jpg"
    assert relative_path("http://h/" + "x" * 96 + ".jpg", "jpeg") == "h/" + "x" * 96 + ".jpg"
    assert "~" in relative_path("http://h/" + "x" * 97 + ".jpg", "jpeg")       # 101 characters
    assert "~" in relative_path("http://h/" + "/".join(["d"] * 21) + "/a.jpg", "jpeg")


def test_same_url_same_path_and_the_hash_is_of_the_whole_url():
    assert relative_path("http://h/a.jpg?x=1", "jpeg") == relative_path("http://h/a.jpg?x=1", "jpeg")
    assert relative_path("http://h/a.jpg?x=1", "jpeg") != relative_path("http://h/a.jpg?x=2", "jpeg")
    assert relative_path("http://h/a.jpg?x=1", "jpeg") != relative_path("https://h/a.jpg?x=1", "jpeg")


def test_http_and_https_share_a_plain_path_by_design():
    # The scheme is not part of the layout: both spellings name one image in practice.
    assert relative_path("http://h/a.jpg", "jpeg") == relative_path("https://h/a.jpg", "jpeg") == "h/a.jpg"


def test_a_download_in_progress_is_never_a_final_name():
    assert is_temp_name("a.jpg.123-abcd" + TEMP_SUFFIX) and not is_temp_name("a.jpg")
    for url in ("http://h/a" + TEMP_SUFFIX, "http://h/a.jpg" + TEMP_SUFFIX, "http://h/a/" + TEMP_SUFFIX):
        for kind in (None, "jpeg"):
            assert not is_temp_name(relative_path(url, kind))


LOOK_ALIKES = [
    "http://h/a_b.jpg", "http://h/a%3Fb.jpg", "http://h/a%5Fb.jpg", "http://h/a?b.jpg", "http://h/A_b.jpg",
    "http://h/a_b.JPG", "http://h/a_b.png", "http://h/a_b.jpg?", "http://h/a_b.jpg?x", "http://h/a_b.jpeg",
    "http://h/a_b.jpg#", "http://h/a_b.jpg/", "http://h/a_b", "http://h/a_b.jpg.", "http://h/a_b.jpg%20",
    "http://h:80/a_b.jpg", "http://H/a_b.jpg", "http://h./a_b.jpg", "http://u@h/a_b.jpg", "http://h/a_b.jp%67",
    # a pretty name that looks like a hashed one: it has no `~`, so it stays plain (rule 2)
    "http://h/a_b-" + url_hash("http://h/a_b.png") + ".jpg",
    # a URL that spells out another URL's hashed name: it has a `~`, so it is hashed itself
    "http://h/a_b" + "~" + url_hash("http://h/a_b.png") + ".jpg",
    # folders against files of the same name
    "http://h/a_b.jpg/x.jpg", "http://h/A_B.JPG/x.jpg", "http://h/a_b.jp%67/x.jpg",
    "http://h/a_b" + "~" + url_hash("http://h/a_b.png") + ".jpg/x.jpg",
    "http://h/a_b" + "~" + url_hash("http://h/a_b") + "/x.jpg",
    # hosts and ports
    "http://h:8080/a_b.jpg", "http://h_8080/a_b.jpg", "http://[::1]/a_b.jpg", "http://ipv6_--1/a_b.jpg",
    "http://ipv6:1/a_b.jpg", "http://h:08080/a_b.jpg",
    # long names cut to the same prefix
    "http://h/" + "y" * 300 + ".jpg", "http://h/" + "y" * 301 + ".jpg",
]


@pytest.mark.parametrize("kind", ["jpeg", "png", None])
def test_lossy_look_alikes_never_share_a_path_even_ignoring_case(kind):
    paths = [relative_path(u, kind) for u in LOOK_ALIKES]
    folders, files = folders_and_files(paths)
    assert len(files) == len(LOOK_ALIKES), sorted(paths)
    assert not folders & files


def test_normalising_first_merges_only_spellings_of_one_url():
    urls = {normalize_url(u) for u in LOOK_ALIKES}
    assert len({relative_path(u, "jpeg").casefold() for u in urls}) == len(urls)


# Segments a crawler meets, and segments built to collide with each other after sanitising.
TRICKY_SEGMENTS = ["", ".", "..", "%2e%2E", "a", "A", "a.jpg", "A.JPG", "a.jpeg", "a.png", "a~d", "a.jpg~d",
                   "con", "CON.jpg", "com1", "nul.png", "a.", "a ", "a%20", " a", "%00", "a%2Fb", "a_b", "a%5Fb",
                   "a\\b", "café", "cafe%CC%81", "caf%C3%A9", "ſ.jpg", "s.jpg", "x" * 120, "x" * 121,
                   "index", "index.jpg", "a" + TEMP_SUFFIX, "a~" + "0" * HASH_HEX_DIGITS, "abcdef~1"]
SEGMENT = st.one_of(st.sampled_from(TRICKY_SEGMENTS),
                    st.text(alphabet="abAB.-_~%2eE0 ", max_size=8),
                    st.text(max_size=20).map(lambda s: s.replace("/", "%2F").replace("?", "%3F").replace("#", "%23")))
URLISH = st.builds(
    lambda scheme, host, port, segs, query: f"{scheme}://{host}{port}/" + "/".join(segs) + query,
    st.sampled_from(["http", "https"]),
    st.sampled_from(["h.example", "H.example", "h_8080", "con", "ipv6_--1", "[::1]", "127.0.0.1", "xn--bcher-kva.de"]),
    st.sampled_from(["", ":8080", ":80", ":1"]),
    st.lists(SEGMENT, max_size=25),
    st.sampled_from(["", "?x=1", "?", "?a=%2F", "#f"]),
)
KINDS = st.sampled_from([None, "jpeg", "png", "gif", "svg", "tiff", "unknown"])


@settings(max_examples=600, deadline=None)
@given(URLISH, KINDS)
def test_any_url_gives_a_safe_relative_path_inside_the_root(url, kind):
    path = relative_path(url, kind)
    check_safe(path)
    assert safe_join("/srv/root", path).is_relative_to("/srv/root")


@settings(max_examples=200, deadline=None)
@given(st.lists(URLISH.filter(lambda u: u.startswith("http:")), min_size=2, max_size=60, unique=True), KINDS)
def test_distinct_urls_never_share_a_path_and_no_file_is_a_folder(urls, kind):
    paths = [relative_path(u, kind) for u in urls]
    folders, files = folders_and_files(paths)
    assert len(files) == len(urls)
    assert not folders & files


@settings(max_examples=300, deadline=None)
@given(st.text(), KINDS)
def test_any_string_that_normalises_to_a_url_gets_a_safe_path(text, kind):
    url = normalize_url(text, "http://base.example/dir/")
    if url is not None:
        check_safe(relative_path(url, kind))


@pytest.mark.parametrize("rel", ["../../etc/passwd", "/etc/passwd", "C:\\x", "C:/x", "c:x", "a/C:x", "a/b:stream",
                                 "a/../../b", "a/..", "..", "a\\b", "a\x00b", "", "a//b", "./a", "a/./b", "a/",
                                 "//server/share"])
def test_safe_join_refuses_anything_that_could_leave_the_root(tmp_path, rel):
    with pytest.raises(ValueError):
        safe_join(tmp_path, rel)


def test_safe_join_accepts_a_plain_relative_path(tmp_path):
    assert safe_join(tmp_path, "h/a/b.jpg") == tmp_path / "h" / "a" / "b.jpg"
    assert safe_join(str(tmp_path), "h/..a/b..jpg") == tmp_path / "h" / "..a" / "b..jpg"
