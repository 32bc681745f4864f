from __future__ import annotations

import pytest

from executions.policy import ArgumentsInvalid
from executions.services import execute_tool
from tools.base import ToolContext
from tools.builtin.spell_check import SpellCheckInput, SpellCheckTool


def check(text: str, **kw) -> dict:
    return SpellCheckTool().run(SpellCheckInput(text=text, **kw), ToolContext(user=None, execution_id="t")).model_dump()


def test_it_finds_misspellings_at_exact_offsets_with_suggestions():
    text = "I recieve the letter and beleive it."
    result = check(text)
    assert [i["word"] for i in result["issues"]] == ["recieve", "beleive"]
    for issue in result["issues"]:
        assert text[issue["start"]:issue["end"]] == issue["word"]
    assert result["issues"][0]["suggestions"][0] == "receive"
    assert result["issues"][1]["suggestions"][0] == "believe"


def test_offsets_count_characters_after_accents_and_emoji():
    text = "Café 😀 naïve — the wrold is big."
    issue = next(i for i in check(text)["issues"] if i["word"] == "wrold")
    assert text[issue["start"]:issue["end"]] == "wrold"
    assert "world" in issue["suggestions"]


def test_it_skips_acronyms_numbers_urls_and_emails():
    text = "NASA sent 42 mails to bob@exmaple.com via https://exmaple.com/xyzq and covid19 data."
    assert check(text)["issues"] == []


def test_it_checks_other_languages():
    text = "Je suis très contnet de vous voir."
    result = check(text, language="fr")
    assert [i["word"] for i in result["issues"]] == ["contnet"]
    assert "content" in result["issues"][0]["suggestions"]


def test_empty_text_has_no_issues():
    assert check("") == {"language": "en", "words_checked": 0, "issue_count": 0, "issues": [], "long_words_skipped": 0,
                         "notes": []}


@pytest.mark.django_db
def test_it_runs_through_the_service_and_rejects_an_unknown_language(user):
    execution = execute_tool(user=user, tool_name="spell_check", arguments={"text": "A smal test."}, via="api")
    assert execution.status == "success" and execution.result["issues"][0]["word"] == "smal"
    with pytest.raises(ArgumentsInvalid):
        execute_tool(user=user, tool_name="spell_check", arguments={"text": "x", "language": "klingon"}, via="api")
