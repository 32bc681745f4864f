from __future__ import annotations

import itertools

import pytest

from executions.policy import ArgumentsInvalid
from executions.services import execute_tool

TEXT = (
    "Solar panels convert sunlight into electricity. Modern solar panels reach high efficiency, "
    "and the price of solar panels has fallen sharply. Batteries store the electricity for the night."
)


@pytest.mark.django_db
def test_it_ranks_the_main_topic_first_with_relevance_one(user):
    result = execute_tool(user=user, tool_name="extract_keywords", arguments={"text": TEXT, "max_keywords": 5},
                          via="api").result
    keywords = result["keywords"]
    assert len(keywords) == 5
    assert "solar panels" in [k["keyword"].lower() for k in keywords]
    assert all("solar" in k["keyword"].lower() or "sunlight" in k["keyword"].lower() for k in keywords[:3])
    assert keywords[0]["relevance"] == 1.0
    assert all(a["relevance"] >= b["relevance"] for a, b in itertools.pairwise(keywords))


@pytest.mark.django_db
def test_single_words_only_when_max_ngram_is_one(user):
    result = execute_tool(user=user, tool_name="extract_keywords", arguments={"text": TEXT, "max_ngram": 1},
                          via="api").result
    assert all(" " not in k["keyword"] for k in result["keywords"])


@pytest.mark.django_db
def test_empty_text_has_no_keywords_and_bad_arguments_are_refused(user):
    assert execute_tool(user=user, tool_name="extract_keywords", arguments={"text": "  "}, via="api").result == {
        "keywords": []}
    with pytest.raises(ArgumentsInvalid):
        execute_tool(user=user, tool_name="extract_keywords", arguments={"text": TEXT, "max_keywords": 0}, via="api")
