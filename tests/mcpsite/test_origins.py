import pytest

from mcpsite.origins import Origin, origin_matches, parse_origin


@pytest.mark.parametrize("value, origin", [
    ("https://word.example.com", Origin("https", "word.example.com", None)),
    ("HTTP://LocalHost:6274", Origin("http", "localhost", 6274)),
    ("http://[::1]:8000", Origin("http", "[::1]", 8000)),
])
def test_it_parses_an_origin(value, origin):
    assert parse_origin(value) == origin


@pytest.mark.parametrize("value", [
    "http://127.0.0.1:1@evil", "http://user@localhost", "http://localhost/", "http://localhost/path",
    "http://localhost?x", "http://localhost#x", "http://localhost:0", "http://localhost:65536", "http://localhost:*",
    "null", "", "localhost", "//localhost", "http://-bad-.example", "http://local host",
])
def test_it_refuses_what_is_not_exactly_an_origin(value):
    assert parse_origin(value) is None


@pytest.mark.parametrize("origin, allowed, matches", [
    ("http://127.0.0.1:6274", "http://127.0.0.1:*", True),
    ("https://127.0.0.1:6274", "http://127.0.0.1:*", False),
    ("http://127.0.0.10:6274", "http://127.0.0.1:*", False),
    ("https://word.example.com", "https://word.example.com:443", True),
    ("https://word.example.com:8443", "https://word.example.com", False),
    ("http://anything.example", "*", True),
])
def test_it_matches_setting_entries_by_scheme_host_and_port(origin, allowed, matches):
    assert origin_matches(parse_origin(origin), allowed) is matches
