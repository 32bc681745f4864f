"""The most expensive input each built-in's schema allows, run the way users run it
(through ``execute_tool``, in a tool process): it ends as a result or a clear refusal,
never as a timeout. A worst case that a tool cannot serve in time is refused by its
schema (a lower limit) or by the tool, up front, with a message that says why."""

from __future__ import annotations

import random
import string

import pytest

from executions.services import ArgumentsInvalid, execute_tool
from tools.builtin.spell_check import SpellCheckInput


def _max_length(model, field: str) -> int:
    return next(m.max_length for m in model.model_fields[field].metadata if hasattr(m, "max_length"))


@pytest.mark.django_db
def test_it_answers_the_200000_character_spell_check_word_and_says_it_was_not_checked(user):
    execution = execute_tool(user=user, tool_name="spell_check", arguments={"text": "x" * 200_000}, via="api")
    assert execution.status == "success", execution.error
    assert execution.result["issues"] == [] and execution.result["long_words_skipped"] == 1
    assert "not checked" in execution.result["notes"][0]


@pytest.mark.django_db
def test_it_spell_checks_a_longest_text_of_distinct_misspellings_within_its_timeout(user):
    limit = _max_length(SpellCheckInput, "text")
    rng = random.Random(9)
    words, size = [], 0
    while size + 13 <= limit:  # distinct 12-letter non-words: the most suggestion work per character
        words.append("".join(rng.choices(string.ascii_lowercase, k=12)))
        size += 13
    execution = execute_tool(user=user, tool_name="spell_check", arguments={"text": " ".join(words)}, via="api")
    assert execution.status == "success", execution.error
    assert execution.result["issue_count"] == len(words)
    assert any("Suggestions stopped" in note for note in execution.result["notes"])


@pytest.mark.django_db
def test_it_refuses_a_spell_check_text_past_its_limit(user):
    limit = _max_length(SpellCheckInput, "text")
    with pytest.raises(ArgumentsInvalid):
        execute_tool(user=user, tool_name="spell_check", arguments={"text": "a " * limit}, via="api")


@pytest.mark.django_db
def test_it_refuses_a_find_replace_that_would_make_too_many_edits_with_a_clear_message(user):
    arguments = {"text": "a" * 2_000_000, "find": "a", "replace": "b" * 100_000}
    execution = execute_tool(user=user, tool_name="find_replace", arguments=arguments, via="api")
    assert execution.status == "error"
    assert "More than 100,000 matches" in execution.error


@pytest.mark.django_db
def test_it_refuses_a_find_replace_whose_result_would_be_too_large(user):
    arguments = {"text": "a" * 2_000_000, "find": "a", "replace": "b" * 100_000, "max_replacements": 1_000}
    execution = execute_tool(user=user, tool_name="find_replace", arguments=arguments, via="api")
    assert execution.status == "error"
    assert "would exceed 10,000,000 characters" in execution.error


@pytest.mark.django_db
def test_it_stops_a_catastrophic_find_replace_pattern_with_a_clear_message(user):
    arguments = {"text": "a" * 50_000 + "!", "find": "(a|aa)+$", "mode": "regex"}
    execution = execute_tool(user=user, tool_name="find_replace", arguments=arguments, via="api")
    assert execution.status in {"success", "error"}
    if execution.status == "error":
        assert "regular expression was stopped" in execution.error


@pytest.mark.django_db
@pytest.mark.parametrize("expression, message", [
    ("9**9**9", "Exponents are limited"),
    ("(" * 249 + "1" + ")" * 249, "nested"),
    ("-" * 499 + "1", "too deeply nested"),
    ("9" * 500, "The number"),
    ("1 km^1000000000 to m^1000000000", "Exponents are limited"),
])
def test_it_refuses_the_most_expensive_calculations_with_a_clear_message(user, expression, message):
    execution = execute_tool(user=user, tool_name="calculate", arguments={"expression": expression}, via="api")
    assert execution.status == "error"
    assert message in execution.error
