import pytest

from crawler.config import CrawlConfig, parse_accept, parse_address
from crawler.errors import ConfigError


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:5000", ("127.0.0.1", 5000)),
    ("0.0.0.0:50000", ("0.0.0.0", 50000)),
    ("master.lan", ("master.lan", 50000)),
    (":7000", ("127.0.0.1", 7000)),
    ("[::1]:7000", ("::1", 7000)),
    ("[::]", ("::", 50000)),
])
def test_addresses_parse(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("h:port", "not a number"), ("h:70000", "0..65535"), ("::1:5", "brackets"), ("[::1", "unclosed"),
])
def test_bad_addresses_say_what_is_wrong(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_address(text)


@pytest.mark.parametrize("over, message", [
    ({"seeds": ()}, "no usable seed"), ({"max_pages": 0}, "--max-pages"), ({"max_depth": -1}, "--max-depth"),
    ({"timeout": 0}, "--timeout"), ({"max_bytes": -5}, "--max-bytes"), ({"user_agent": " "}, "--user-agent"),
])
def test_config_validation_names_the_flag(over, message):
    kwargs = {"seeds": ("http://h/",), **over}
    with pytest.raises(ConfigError, match=message):
        CrawlConfig(**kwargs)


def test_lease_defaults_to_a_multiple_of_the_timeout():
    assert CrawlConfig(seeds=("http://h/",), timeout=5).effective_lease_seconds == 30
    assert CrawlConfig(seeds=("http://h/",), lease_seconds=3).effective_lease_seconds == 3


@pytest.mark.parametrize("names, kinds", [
    ("jpg,JPEG,jpe,jfif", ("jpeg",)), ("tif,tiff", ("tiff",)), ("png, svg", ("png", "svg")), ("ico", ("ico",)),
])
def test_accept_takes_each_kind_and_each_extension_a_stored_file_keeps(names, kinds):
    assert parse_accept(names) == kinds
