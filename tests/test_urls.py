import pytest
from hypothesis import given, settings, strategies as st

from crawler.errors import ConfigError
from crawler.urls import Scope, host_of, is_http_url, normalize_url, parse_seeds


@pytest.mark.parametrize("url, base, expected", [
    # scheme and host case, default ports, fragments
    ("HTTP://Example.COM/a", None, "http://example.com/a"),
    ("http://example.com:80/a", None, "http://example.com/a"),
    ("https://example.com:443/a", None, "https://example.com/a"),
    ("https://example.com:80/a", None, "https://example.com:80/a"),
    ("http://example.com:8080", None, "http://example.com:8080/"),
    ("http://example.com/a#frag", None, "http://example.com/a"),
    ("http://example.com", None, "http://example.com/"),
    # dot segments, literal and escaped
    ("http://h/a/./b/../c", None, "http://h/a/c"),
    ("http://h/a/%2e%2e/b", None, "http://h/b"),
    ("http://h/a/%2E/b", None, "http://h/a/b"),
    ("http://h/../../x", None, "http://h/x"),
    # percent-encoding
    ("http://h/%7euser", None, "http://h/~user"),
    ("http://h/a%2fb", None, "http://h/a%2Fb"),
    ("http://h/a b", None, "http://h/a%20b"),
    ("http://h/caf\u00e9.png", None, "http://h/caf%C3%A9.png"),
    ("http://h/caf%c3%a9.png", None, "http://h/caf%C3%A9.png"),
    ("http://h/x?q=a b&r=%2f", None, "http://h/x?q=a%20b&r=%2F"),
    ("http://h/x?b=2&a=1", None, "http://h/x?b=2&a=1"),  # query order kept: it can matter
    # IDN host
    ("http://b\u00fccher.de/x", None, "http://xn--bcher-kva.de/x"),
    # resolution against a base
    ("../img/a.png", "http://h/x/y/page.html", "http://h/x/img/a.png"),
    ("//cdn.example/x.jpg", "https://h/", "https://cdn.example/x.jpg"),
    ("/root.png", "http://h/x/y/", "http://h/root.png"),
    ("?q=1", "http://h/p?x=2", "http://h/p?q=1"),
    ("a.png", "http://h/dir/", "http://h/dir/a.png"),
    # whitespace browsers strip
    ("  http://h/a  ", None, "http://h/a"),
    ("http://h/a\n/b\t", None, "http://h/a/b"),
    # unusable
    ("data:image/png;base64,AAAA", None, None),
    ("javascript:alert(1)", None, None),
    ("mailto:a@b.c", None, None),
    ("ftp://h/x.png", None, None),
    ("file:///etc/passwd", None, None),
    ("", None, None),
    ("   ", None, None),
    ("http://", None, None),
    ("http:///x", None, None),
    ("http://h:99999/", None, None),
    ("http://h:port/", None, None),
    ("javascript:void(0)", "http://h/", None),
])
def test_normalize_url(url, base, expected):
    assert normalize_url(url, base) == expected


def test_normalising_twice_changes_nothing():
    for url in ("http://h/a%20b/caf%C3%A9.png?x=%2F", "https://xn--bcher-kva.de:8443/~u/"):
        assert normalize_url(normalize_url(url)) == normalize_url(url) == url


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalize_never_raises_and_returns_only_http_urls(text):
    out = normalize_url(text, "http://base.example/dir/page.html")
    assert out is None or out.startswith(("http://", "https://"))


def test_host_and_scheme_helpers():
    assert host_of("http://Example.com:8080/x") == "example.com"
    assert is_http_url("https://h/") and not is_http_url("ftp://h/") and not is_http_url("http://")


SCOPE = Scope(seed_hosts=frozenset({"site.example"}), allow_domains=("cdn.example",))


@pytest.mark.parametrize("url, in_scope", [
    ("http://site.example/a", True),
    ("https://site.example:8443/a", True),    # any port, any of http/https
    ("http://other.example/a", False),
    ("http://cdn.example/a", True),           # allowed domain
    ("http://img.cdn.example/a", True),       # and its subdomains
    ("http://notcdn.example/a", False),       # but not a look-alike
    ("http://sub.site.example/a", False),     # a seed host is not a domain
])
def test_page_scope(url, in_scope):
    assert SCOPE.page_in_scope(url) is in_scope


def test_include_and_exclude_patterns():
    s = Scope(seed_hosts=frozenset({"h"}), include=(r"/blog/",), exclude=(r"\?print=",))
    assert s.page_in_scope("http://h/blog/1")
    assert not s.page_in_scope("http://h/shop/1")
    assert not s.page_in_scope("http://h/blog/1?print=1")
    assert s.image_allowed("http://elsewhere/x.jpg")  # include narrows pages, not images
    assert not s.image_allowed("http://elsewhere/x.jpg?print=1")


def test_images_come_from_any_host_unless_restricted():
    assert SCOPE.image_allowed("http://cdn.other/x.jpg")
    assert not SCOPE.image_allowed("http://cdn.other/x.jpg", same_host_only=True)
    assert SCOPE.image_allowed("http://site.example/x.jpg", same_host_only=True)


def test_bad_regex_is_a_config_error_naming_the_pattern():
    with pytest.raises(ConfigError, match=r"--include '\(unclosed'"):
        Scope(seed_hosts=frozenset({"h"}), include=("(unclosed",))


def test_seed_file_lines():
    lines = [
        "# comment", "", "   ", "http://Site.example/", "http://site.example:80/",  # a duplicate once normalised
        "ftp://site.example/x", "site.example/page", "http://", "  https://b.example/x  ", "mailto:a@b",
    ]
    seeds, problems = parse_seeds(lines)
    assert seeds == ["http://site.example/", "https://b.example/x"]
    assert problems == [
        "line 6: not an http(s) URL: 'ftp://site.example/x'",
        "line 7: missing scheme (http:// or https://): 'site.example/page'",
        "line 8: malformed URL: 'http://'",
        "line 10: not an http(s) URL: 'mailto:a@b'",
    ]
