import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.errors import ConfigError
from crawler.rules.urls import Scope, host_of, normalize_url, parse_seeds


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
    ("http://h/a/..", None, "http://h/"),
    ("http://h/a/.", None, "http://h/a/"),
    ("http://h/%2e%2E/x/%2e", None, "http://h/x/"),
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
    ("http://B\u00dcCHER.DE/x", None, "http://xn--bcher-kva.de/x"),
    ("http://%41.com/", None, "http://a.com/"),                  # hosts are percent-decoded first
    ("http://a%2Fb.com/", None, None),                           # to a character a host cannot hold
    ("http://exa mple.com/", None, None),
    ("http://\u200b/", None, None),                              # IDNA maps it to nothing: no host
    ("HTTPS://H.:443", None, "https://h/"),                      # trailing dot of a FQDN
    # IPv6, ports, userinfo
    ("http://[::1]:8080/x", None, "http://[::1]:8080/x"),
    ("http://[::1]:80/x", None, "http://[::1]/x"),
    ("http://h:0080/", None, "http://h/"),
    ("http://h:/", None, "http://h/"),
    ("http://u:p w@H:80/", None, "http://u:p%20w@h/"),
    # empty query and repeated delimiters
    ("http://h/a.jpg?", None, "http://h/a.jpg"),
    ("http://h/a?b?c#d#e", None, "http://h/a?b?c"),
    # backslashes before the query are slashes, as browsers read http(s) URLs
    ("http://h\\a\\b?x\\y", None, "http://h/a/b?x\\y"),
    # resolution against a base
    ("../img/a.png", "http://h/x/y/page.html", "http://h/x/img/a.png"),
    ("//cdn.example/x.jpg", "https://h/", "https://cdn.example/x.jpg"),
    ("/root.png", "http://h/x/y/", "http://h/root.png"),
    ("?q=1", "http://h/p?x=2", "http://h/p?q=1"),
    ("a.png", "http://h/dir/", "http://h/dir/a.png"),
    ("../../x.png", "http://h/a/b/c/p.html", "http://h/a/x.png"),
    ("../../../../../x.png", "http://h/a/p.html", "http://h/x.png"),  # never above the root
    ("#frag", "http://h/p?q=1", "http://h/p?q=1"),
    ("?", "http://h/p?q=1", "http://h/p"),
    ("http:x", "http://h/d/p", "http://h/d/x"),                # same scheme, no slashes: relative
    ("https:x", "http://h/d/p", "https://x/"),                 # another scheme: slashes are optional
    ("\\\\cdn.example\\x.jpg", "https://h/", "https://cdn.example/x.jpg"),
    ("a b.png", "http://h/d/", "http://h/d/a%20b.png"),
    ("a.png", "HTTP://H:80/d/", "http://h/d/a.png"),           # the base is normalised too
    ("a.png", "not a url", None),
    ("http://h/abs.png", "not a url", "http://h/abs.png"),
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
    ("http:///x", None, "http://x/"),                          # browsers skip extra slashes
    ("http:/h/x", None, "http://h/x"),
    ("http://h:80:80/", None, None),
    ("http://[::1/", None, None),
    ("http://h/\ud800", None, None),                            # a lone surrogate cannot be UTF-8
    ("\x00 http://h/ \x1f", None, "http://h/"),                 # C0 controls around are stripped
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


def test_the_rule_that_leaves_a_page_out_is_named():
    s = Scope(seed_hosts=frozenset({"h"}), include=(r"/blog/",), exclude=(r"\?print=", r"/draft/"))
    assert s.page_left_out("http://h/blog/1") is None
    assert s.page_left_out("http://other/blog/1") == "its host is not a seed's, nor under --allow-domain"
    assert s.page_left_out("http://h/") == "it matches no --include"
    assert s.page_left_out("http://h/blog/draft/2") == "it matches --exclude '/draft/'"


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


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("aZ09./?#%:@[]\\ -_~eE2fF") + ["%2e", "%7E", "..", "//", "\u00e9", "\t"]))
       .map(lambda parts: "http://h/" + "".join(parts)))
def test_normalising_is_idempotent(url):
    once = normalize_url(url)
    assert once is None or normalize_url(once) == once


@pytest.mark.parametrize("url, domain, allowed", [
    ("http://example.com/", "example.com", True),
    ("http://a.b.example.com/", "example.com", True),
    ("http://notexample.com/", "example.com", False),
    ("http://example.com.evil/", "example.com", False),
    ("http://x.example.com/", ".Example.COM", True),   # a leading dot and case do not matter
])
def test_allowed_domain_covers_itself_and_subdomains_only(url, domain, allowed):
    assert Scope(seed_hosts=frozenset({"seed.example"}), allow_domains=(domain,)).page_in_scope(url) is allowed


def test_exclude_pattern_error_names_the_flag_and_pattern():
    with pytest.raises(ConfigError, match=r"--exclude '\[a-'"):
        Scope(seed_hosts=frozenset({"h"}), exclude=("[a-",))


def test_images_under_an_allowed_domain_pass_same_host_only():
    assert SCOPE.image_allowed("http://img.cdn.example/x.jpg", same_host_only=True)


@pytest.mark.parametrize("line, problem", [
    ("example.com/page", "missing scheme (http:// or https://)"),
    ("example.com:8080/page", "missing scheme (http:// or https://)"),  # "example.com" is no scheme
    ("ftp://h/x", "not an http(s) URL"),
    ("javascript:alert(1)", "not an http(s) URL"),
    ("http://", "malformed URL"),
    ("http://h:99999/", "malformed URL"),
])
def test_seed_line_problems(line, problem):
    assert parse_seeds([line]) == ([], [f"line 1: {problem}: {line!r}"])


def test_seed_problem_shows_at_most_200_characters():
    _, problems = parse_seeds(["x" * 500])
    assert problems == [f"line 1: missing scheme (http:// or https://): {'x' * 200!r}"]


def test_only_whole_line_comments_are_comments():
    assert parse_seeds(["  # indented comment", "http://h/a#b # not a comment"]) == (["http://h/a"], [])
