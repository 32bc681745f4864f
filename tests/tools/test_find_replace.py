from __future__ import annotations

import pytest

from executions.services import execute_tool
from tools.base import ToolContext, ToolError
from tools.builtin.find_replace import FindReplaceTool


def find_replace(text: str, find: str, replace: str = "", **options):
    tool = FindReplaceTool()
    arguments = tool.validate({"text": text, "find": find, "replace": replace, **options})
    return tool.run(arguments, ToolContext(user=None, execution_id="test"))


def apply_edits(original: str, edits) -> str:
    # Applied back to front, as an editor applies ranges, so earlier offsets stay valid.
    text = original
    for edit in reversed(edits):
        text = text[: edit.start] + edit.replacement + text[edit.end :]
    return text


def test_it_replaces_every_literal_occurrence_and_reports_offsets_into_the_original():
    original = "The cat sat. The cat ran."
    result = find_replace(original, "cat", "dog")
    assert result.text == "The dog sat. The dog ran."
    assert result.count == 2
    assert [(e.start, e.end) for e in result.edits] == [(4, 7), (17, 20)]
    for edit in result.edits:
        assert original[edit.start : edit.end] == edit.original == "cat"
        assert edit.replacement == "dog"
    assert apply_edits(original, result.edits) == result.text


def test_it_counts_offsets_in_characters_after_non_ascii_text():
    original = "Ça coûte 5 € — naïve café 😀 then café again"
    result = find_replace(original, "café", "tea")
    assert result.count == 2
    for edit in result.edits:
        assert original[edit.start : edit.end] == "café"
    assert result.text == "Ça coûte 5 € — naïve tea 😀 then tea again"


def test_it_also_gives_utf16_offsets_for_javascript_after_an_emoji():
    original = "😀 café"
    (edit,) = find_replace(original, "café", "tea").edits
    assert (edit.start, edit.end) == (2, 6)
    utf16 = original.encode("utf-16-le")
    assert utf16[edit.utf16_start * 2 : edit.utf16_end * 2].decode("utf-16-le") == "café"
    assert (edit.utf16_start, edit.utf16_end) == (3, 7)


def test_it_treats_regex_characters_literally_in_literal_mode():
    result = find_replace("Costs $5.00 (approx.) or 5x00", "$5.00 (approx.)", r"\1 about $5")
    assert result.count == 1
    assert result.text == r"Costs \1 about $5 or 5x00"


def test_it_ignores_case_when_asked():
    original = "Word, WORD and word."
    assert find_replace(original, "word", "X").count == 1
    result = find_replace(original, "word", "X", case_sensitive=False)
    assert result.text == "X, X and X."
    assert [e.original for e in result.edits] == ["Word", "WORD", "word"]


def test_it_matches_whole_words_only_when_asked():
    original = "cat concatenate cat's bobcat"
    result = find_replace(original, "cat", "dog", whole_word=True)
    assert result.text == "dog concatenate dog's bobcat"
    assert [e.start for e in result.edits] == [0, 16]


def test_it_matches_whole_words_that_end_in_punctuation():
    result = find_replace("U.S. and U.S.A.", "U.S.", "US", whole_word=True)
    assert result.text == "US and U.S.A."


def test_it_stops_at_max_replacements_and_says_so():
    result = find_replace("a a a a", "a", "b", max_replacements=2)
    assert result.text == "b b a a"
    assert result.count == 2
    assert result.limit_reached is True
    assert find_replace("a a", "a", "b", max_replacements=2).limit_reached is False


def test_it_expands_numbered_and_named_groups_in_regex_mode():
    original = "Smith, John; Doe, Jane"
    result = find_replace(original, r"(?P<last>\w+), (\w+)", r"\2 \g<last>", mode="regex")
    assert result.text == "John Smith; Jane Doe"
    assert [(e.original, e.replacement) for e in result.edits] == [
        ("Smith, John", "John Smith"),
        ("Doe, Jane", "Jane Doe"),
    ]
    for edit in result.edits:
        assert original[edit.start : edit.end] == edit.original


def test_it_reports_an_invalid_regex_with_its_message():
    with pytest.raises(ToolError, match="Invalid regular expression: missing \\)"):
        find_replace("text", "(unclosed", "", mode="regex")


def test_it_reports_a_replacement_referring_to_a_missing_group():
    with pytest.raises(ToolError, match="Invalid replacement"):
        find_replace("abc", "(b)", r"\5", mode="regex")


def test_it_stops_a_catastrophic_regex_with_a_clear_error(settings):
    settings.FIND_REPLACE_REGEX_TIMEOUT = 0.2
    # (a|aa)+$ backtracks exponentially even in the regex package, which already
    # short-cuts the textbook (a+)+$ on a short input.
    with pytest.raises(ToolError, match=r"stopped after 0.2 s"):
        find_replace("a" * 60 + "!", r"(a|aa)+$", "x", mode="regex")
    with pytest.raises(ToolError, match=r"stopped after 0.2 s"):
        find_replace("a" * 5000 + "!", r"(a+)+$", "x", mode="regex")


def test_it_finishes_the_textbook_catastrophic_case_on_a_short_input():
    result = find_replace("aaaaaaaaaaaaaaaaaaaaaaaaaaaa!", r"(a+)+$", "x", mode="regex")
    assert result.count == 0
    assert result.text == "aaaaaaaaaaaaaaaaaaaaaaaaaaaa!"


def test_it_returns_the_text_unchanged_when_nothing_matches():
    result = find_replace("nothing here", "absent", "x")
    assert (result.text, result.count, result.edits) == ("nothing here", 0, [])


@pytest.mark.django_db
def test_it_runs_through_the_execution_service(user):
    execution = execute_tool(
        user=user,
        tool_name="find_replace",
        arguments={"text": "colour and Colour", "find": "colour", "replace": "color", "case_sensitive": False},
        via="api",
    )
    assert execution.status == "success"
    assert execution.result["text"] == "color and color"
    assert [(e["start"], e["end"]) for e in execution.result["edits"]] == [(0, 6), (11, 17)]


@pytest.mark.django_db
def test_it_records_an_invalid_regex_as_an_error_execution(user):
    execution = execute_tool(
        user=user, tool_name="find_replace", arguments={"text": "x", "find": "[", "mode": "regex"}, via="api"
    )
    assert execution.status == "error"
    assert execution.error.startswith("Invalid regular expression")
