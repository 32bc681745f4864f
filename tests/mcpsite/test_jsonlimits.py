import pytest

from mcpsite.jsonlimits import JSONRefused, arguments_problem, loads, nesting_depth


@pytest.mark.parametrize("raw, depth", [
    (b"1", 0), (b"[]", 1), (b'{"a": [1, {"b": []}]}', 4),
    (b'{"a": "[[[[{{{{"}', 1),  # brackets inside strings do not count
    (b'{"a": "\\"[[[["}', 1),  # nor after an escaped quote
])
def test_it_measures_nesting_without_parsing(raw, depth):
    assert nesting_depth(raw) == depth


@pytest.mark.parametrize("raw, message", [
    (b"[" * 65 + b"]" * 65, "nests deeper than 64 levels"),
    (b"[" * 100_000, "nests deeper than 64 levels"),  # not even JSON: refused before parsing
    (b'{"x": NaN}', "NaN is not a JSON number"),
    (b'{"x": -Infinity}', "-Infinity is not a JSON number"),
    (b'{"x": 1e999}', "out of range"),
    (b'{"x": ', "not valid JSON"),
    (b"\xff\xfe\x00", "not valid JSON"),
])
def test_it_refuses_what_the_hub_does_not_take(raw, message):
    with pytest.raises(JSONRefused, match=message):
        loads(raw)


def test_it_reads_json_at_the_depth_limit():
    assert loads(b"[" * 64 + b"]" * 64) is not None
    assert loads('{"t": "é"}') == {"t": "é"}


def test_it_finds_arguments_too_deep_or_not_json_numbers_at_any_depth():
    deep: list = []
    for _ in range(5_000):  # deeper than anything that recurses could walk
        deep = [deep]
    assert "deeper than 32 levels" in arguments_problem({"x": deep})
    assert "nan is not a JSON number" in arguments_problem({"a": [1, {"b": float("nan")}]})
    assert "inf is not a JSON number" in arguments_problem({"a": float("inf")})
    assert arguments_problem({"a": [[1.5, "x", None, True]]}) is None
