"""Reading --header lines, cookies.txt files, --proxy and the settings that travel to workers."""

import pytest

from crawler.errors import ConfigError
from crawler.net import httpopts, transport


@pytest.mark.parametrize("line, expected", [
    ("X-Api-Key: abc", ("X-Api-Key", "abc")),
    ("Authorization:Bearer  t0k:en ", ("Authorization", "Bearer  t0k:en")),
    ("Accept-Language: fr-CH, fr;q=0.9", ("Accept-Language", "fr-CH, fr;q=0.9")),
    ("X-Empty:", ("X-Empty", "")),
])
def test_header_lines(line, expected):
    assert httpopts.parse_header(line, "--header 1") == expected


@pytest.mark.parametrize("line, words", [
    ("Bearer sekrit", "found no colon"),
    ("Bad Name: sekrit", "is not a header name"),
    ("Host: example.com", "Host is set by the crawler itself"),
    ("accept-encoding: br", "accept-encoding is set by the crawler itself"),
    ("X-Key: sek\nrit", "has a line break"),
    ("X-Key: sekrit\u2603", "only ASCII and Latin-1"),
])
def test_bad_header_lines_name_the_line_and_never_the_value(line, words):
    with pytest.raises(ConfigError, match=words) as err:
        httpopts.parse_header(line, "--header 3")
    assert str(err.value).startswith("--header 3:") and "sekrit" not in str(err.value)


def test_a_header_given_twice_is_an_error():
    with pytest.raises(ConfigError, match="--header 2: x-key is given twice"):
        httpopts.parse_headers(["X-Key: a", "x-key: b"])


COOKIES = (
    "# Netscape HTTP Cookie File\n"
    "# https://curl.se/docs/http-cookies.html\n"
    "\n"
    ".example.com\tTRUE\t/\tFALSE\t0\tsession\tabc\n"           # curl's session cookie: expiry 0
    "#HttpOnly_shop.example.com\tFALSE\t/cart\tTRUE\t4102444800\tcart\tx=1\n"
    "old.example.com\tFALSE\t/\tFALSE\t1000\tgone\tv\r\n"        # expired long ago, CRLF line end
)


def test_a_cookies_txt_as_curl_writes_it():
    cookies, expired = httpopts.parse_cookies_txt(COOKIES, "c.txt", now=2_000_000_000)
    assert expired == 1
    assert cookies == [
        {"domain": ".example.com", "path": "/", "secure": False, "expires": None, "name": "session", "value": "abc",
         "http_only": False},
        {"domain": "shop.example.com", "path": "/cart", "secure": True, "expires": 4102444800, "name": "cart",
         "value": "x=1", "http_only": True}]


def test_cookies_in_a_jar_go_where_their_fields_say():
    import requests
    jar = httpopts.fill_jar(transport.new_jar(), httpopts.parse_cookies_txt(COOKIES, "c.txt")[0])

    def sent(url):
        req = requests.Request("GET", url, cookies=jar).prepare()
        return req.headers.get("Cookie")

    assert sent("http://example.com/") == "session=abc" and sent("http://www.example.com/a") == "session=abc"
    assert sent("http://shop.example.com/cart/1") == "session=abc"  # the secure one: https only
    assert sent("https://shop.example.com/cart/1") == "cart=x=1; session=abc"
    assert sent("https://shop.example.com/") == "session=abc"  # outside the path
    assert sent("https://a.shop.example.com/cart/") == "session=abc"  # host-only: not for subdomains
    assert sent("http://example.org/") is None


@pytest.mark.parametrize("line, words", [
    ("example.com\tFALSE\t/\tFALSE\t0\tname", "line 1: expected 7 tab-separated fields"),
    ("example.com FALSE / FALSE 0 name secret", "line 1: expected 7 tab-separated fields"),
    ("example.com\tMAYBE\t/\tFALSE\t0\tname\tsecret", "line 1: the subdomains and secure fields"),
    ("example.com\tFALSE\tnope\tFALSE\t0\tname\tsecret", "line 1: the path field"),
    ("example.com\tFALSE\t/\tFALSE\tsoon\tname\tsecret", "line 1: the expiry field"),
    ("example.com\tFALSE\t/\tFALSE\t0\tname\tsec;ret", "line 1: the cookie's name or value"),
])
def test_a_bad_cookie_line_names_the_file_and_line_and_never_the_value(line, words):
    with pytest.raises(ConfigError, match=words) as err:
        httpopts.parse_cookies_txt(line + "\n", "c.txt")
    assert str(err.value).startswith("c.txt line 1:") and "secret" not in str(err.value)


def test_an_unreadable_or_empty_cookies_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the cookies file .*missing.txt"):
        httpopts.read_cookies_file(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("# Netscape HTTP Cookie File\n")
    with pytest.raises(ConfigError, match="empty.txt has no cookies"):
        httpopts.read_cookies_file(tmp_path / "empty.txt")


def test_proxy_urls_and_their_passwords():
    assert httpopts.check_proxy("proxy.lan:3128") == "http://proxy.lan:3128"
    assert httpopts.check_proxy("https://u:p@proxy.lan:443") == "https://u:p@proxy.lan:443"
    with pytest.raises(ConfigError, match=r"--proxy socks5://u:\*\*\*@p:1080: expected http"):
        httpopts.check_proxy("socks5://u:secret@p:1080")
    assert httpopts.redact_proxy("http://u:secret@proxy.lan:3128") == "http://u:***@proxy.lan:3128"


def test_settings_travel_as_plain_data_and_bad_ones_are_refused():
    cookies, _ = httpopts.parse_cookies_txt(COOKIES, "c.txt")
    wire = httpopts.to_wire((("X-Key", "v"),), cookies, "PEM")
    assert httpopts.from_wire(wire) == ((("X-Key", "v"),), cookies, "PEM")
    assert httpopts.from_wire({"trusted_hosts": []}) == ((), [], None)  # a master from before
    for bad in ({"headers": [["Host", "x"]]}, {"headers": [["X", 1]]}, {"headers": "X: y"},
                {"cookies": [{"name": "a"}]}, {"cookies": [dict(cookies[0], expires="0")]}, {"ca_bundle": b"PEM"}):
        with pytest.raises(ValueError):
            httpopts.from_wire(bad)


def test_describe_names_headers_and_counts_cookies_but_shows_no_value():
    cookies, _ = httpopts.parse_cookies_txt(COOKIES, "c.txt")
    line = httpopts.describe((("X-Key", "secret"),), cookies, "http://u:secret@p:3128", "/ca.pem", {})
    assert line == ("requests carry header(s) X-Key and 2 cookie(s) for 2 site(s); all go through the proxy "
                    "http://u:***@p:3128; TLS trusts the CA certificates in /ca.pem")
    assert httpopts.describe((), [], None, None, {}) is None
