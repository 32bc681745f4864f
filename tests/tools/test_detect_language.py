from __future__ import annotations

import pytest

from executions.policy import ArgumentsInvalid
from executions.services import execute_tool


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text, code",
    [
        ("The committee will publish its final report next week.", "en"),
        ("Le comité publiera son rapport final la semaine prochaine.", "fr"),
        ("Der Ausschuss wird seinen Abschlussbericht nächste Woche veröffentlichen.", "de"),
        ("El comité publicará su informe final la próxima semana.", "es"),
    ],
)
def test_it_detects_the_language_with_candidates(user, text, code):
    result = execute_tool(user=user, tool_name="detect_language", arguments={"text": text}, via="api").result
    assert result["code"] == code
    assert result["confidence"] >= 0.5
    assert result["candidates"][0]["code"] == code


@pytest.mark.django_db
def test_too_little_text_is_unknown_with_a_reason(user):
    result = execute_tool(user=user, tool_name="detect_language", arguments={"text": "42 !"}, via="api").result
    assert result["code"] == "unknown" and result["reason"]
    with pytest.raises(ArgumentsInvalid):
        execute_tool(user=user, tool_name="detect_language", arguments={"text": None}, via="api")
