from __future__ import annotations

import pytest

from executions.policy import ArgumentsInvalid
from executions.services import execute_tool

TEXT = (
    "The city council met on Monday to discuss the new park. "
    "The new park will have a playground, a pond and walking paths. "
    "Several residents spoke in favour of the park and its playground. "
    "One resident asked about parking near the park. "
    "The weather on Monday was cold. "
    "The council approved the park plan and the playground budget."
)


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["lexrank", "textrank"])
def test_it_picks_sentences_from_the_text_in_document_order(user, method):
    result = execute_tool(user=user, tool_name="summarize", arguments={"text": TEXT, "sentences": 2, "method": method},
                          via="api").result
    assert result["total_sentences"] == 6
    assert len(result["sentences"]) == 2
    indexes = [s["index"] for s in result["sentences"]]
    assert indexes == sorted(indexes)
    for sentence in result["sentences"]:
        assert sentence["text"] in TEXT
    # The off-topic sentence about the weather is not central.
    assert "weather" not in result["summary"]


@pytest.mark.django_db
def test_a_short_text_is_its_own_summary_and_empty_text_is_empty(user):
    one = execute_tool(user=user, tool_name="summarize", arguments={"text": "Only one sentence here."}, via="api")
    assert one.result["summary"] == "Only one sentence here."
    assert execute_tool(user=user, tool_name="summarize", arguments={"text": ""}, via="api").result["summary"] == ""
    with pytest.raises(ArgumentsInvalid):
        execute_tool(user=user, tool_name="summarize", arguments={"text": TEXT, "method": "gpt"}, via="api")
