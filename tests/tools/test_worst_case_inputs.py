"""The most expensive input each built-in's schema allows, run the way users run it
(through ``execute_tool``, in a tool process): it ends as a result or a clear refusal,
never as a timeout. A worst case that a tool cannot serve in time is refused by its
schema (a lower limit) or by the tool, up front, with a message that says why."""

from __future__ import annotations

import random
import string

import pytest

from executions.policy import ArgumentsInvalid
from executions.services import execute_tool
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


# --- The text tools at their limits --------------------------------------------------------


def _distinct_words(characters: int, seed: int, length: int = 9) -> str:
    """Random lower-case non-words: nothing to look up, nothing repeated, the most work per
    character for dictionaries, syllable counters and keyword scorers."""
    rng = random.Random(seed)
    words, size = [], 0
    while size + length + 1 <= characters:
        words.append("".join(rng.choices(string.ascii_lowercase, k=length)))
        size += length + 1
    return " ".join(words)


def _sentences(count: int, seed: int, words: int = 9) -> str:
    rng = random.Random(seed)
    return " ".join(
        " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(words)).capitalize()
        + "."
        for _ in range(count)
    )


@pytest.mark.django_db
@pytest.mark.parametrize("model_path, tool_name, extra", [
    ("tools.builtin.text_statistics.TextStatisticsInput", "text_statistics", {}),
    ("tools.builtin.extract_keywords.ExtractKeywordsInput", "extract_keywords", {"max_ngram": 5, "max_keywords": 100}),
])
def test_a_text_tool_serves_its_longest_text_and_refuses_a_longer_one(user, model_path, tool_name, extra):
    module, _, name = model_path.rpartition(".")
    limit = _max_length(getattr(__import__(module, fromlist=[name]), name), "text")
    text = _distinct_words(limit, seed=len(tool_name))
    execution = execute_tool(user=user, tool_name=tool_name, arguments={"text": text, **extra}, via="api")
    assert execution.status == "success", execution.error
    with pytest.raises(ArgumentsInvalid):
        execute_tool(
            user=user, tool_name=tool_name, arguments={"text": text + " " * (limit - len(text) + 1)}, via="api"
        )


@pytest.mark.django_db
def test_summarize_ranks_its_most_sentences_and_refuses_more_up_front(user):
    from tools.builtin.summarize import MAX_SENTENCES, MAX_TEXT_CHARACTERS

    most = _sentences(MAX_SENTENCES, seed=3, words=6)
    assert len(most) <= MAX_TEXT_CHARACTERS
    execution = execute_tool(user=user, tool_name="summarize", arguments={"text": most, "sentences": 50}, via="api")
    assert execution.status == "success", execution.error
    assert execution.result["total_sentences"] == MAX_SENTENCES and len(execution.result["sentences"]) == 50

    # The most sentences the character limit allows ("A b." is a sentence): refused before
    # the quadratic part, so it answers at once rather than running into the timeout.
    many = "A b. " * (MAX_TEXT_CHARACTERS // 5)
    execution = execute_tool(user=user, tool_name="summarize", arguments={"text": many}, via="api")
    assert execution.status == "error"
    assert f"summarize ranks at most {MAX_SENTENCES:,}" in execution.error


@pytest.mark.django_db
def test_summarize_serves_its_longest_text_without_sentence_ends(user):
    from tools.builtin.summarize import MAX_TEXT_CHARACTERS

    text = _distinct_words(MAX_TEXT_CHARACTERS, seed=4)
    execution = execute_tool(user=user, tool_name="summarize", arguments={"text": text, "sentences": 50}, via="api")
    assert execution.status == "success", execution.error
    assert execution.result["total_sentences"] == 1


@pytest.mark.django_db
def test_detect_language_serves_its_longest_text_of_mixed_scripts(user):
    from tools.builtin.detect_language import DetectLanguageInput

    limit = _max_length(DetectLanguageInput, "text")
    rng = random.Random(5)
    # Mixed scripts on purpose.
    text = "".join(rng.choice("abcdeéèàü漢字かなабвгд αβγ عرب😀 .") for _ in range(limit))  # noqa: RUF001
    execution = execute_tool(
        user=user, tool_name="detect_language", arguments={"text": text, "candidates": 10}, via="api"
    )
    assert execution.status == "success", execution.error


# --- analyze_document ----------------------------------------------------------------------


def _docx(paragraphs: list[str]) -> str:
    import base64
    import io

    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.django_db(transaction=True)
def test_analyze_document_serves_its_longest_text_with_every_analysis(user):
    from tools.builtin.analyze_document import MAX_TEXT_CHARACTERS

    # Sentences of eleven words in sections of 10,000 words: just under summarize's sentence
    # cap in every section, so every analysis does its full work on every section.
    text = ""
    rng = random.Random(6)
    while True:
        paragraph = _sentences(20, seed=rng.randrange(1 << 30), words=11)
        if len(text) + len(paragraph) + 2 > MAX_TEXT_CHARACTERS:
            break
        text += paragraph + "\n\n"
    arguments = {"text": text, "section_words": 10_000}
    execution = execute_tool(user=user, tool_name="analyze_document", arguments=arguments, via="api")
    execution.refresh_from_db()  # a background tool: run by the (eager) worker on commit
    assert execution.status == "success", execution.error
    sections = execution.result["sections"]
    assert len(sections) >= 4
    assert all(not section["errors"] for section in sections), [s["errors"] for s in sections]
    assert execution.result["summary"]["top_keywords"]
    # Every word is unknown: each section lists its first issues, the count stays whole.
    assert all(len(s["results"]["spelling"]["issues"]) == 100 for s in sections)
    assert execution.result["summary"]["misspellings"] > 100 * len(sections)


@pytest.mark.django_db(transaction=True)
def test_analyze_document_refuses_a_docx_with_more_text_than_it_takes(user):
    from tools.builtin.analyze_document import MAX_TEXT_CHARACTERS

    paragraph = _sentences(10, seed=7)
    document = _docx([paragraph] * (MAX_TEXT_CHARACTERS // len(paragraph) + 2))
    execution = execute_tool(user=user, tool_name="analyze_document", arguments={"docx_base64": document}, via="api")
    execution.refresh_from_db()  # a background tool: run by the (eager) worker on commit
    assert execution.status == "error"
    assert f"analyze_document takes at most {MAX_TEXT_CHARACTERS:,}" in execution.error


@pytest.mark.django_db(transaction=True)
def test_analyze_document_refuses_a_docx_whose_xml_inflates_past_its_limit_before_parsing_it(user):
    import base64
    import io
    import zipfile

    # 60 MB of XML that deflates to a few tens of KB: the parser would build a tree of it.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:p/>" * (10 * 1024 * 1024))
    document = base64.b64encode(buffer.getvalue()).decode()
    assert len(document) < 1024 * 1024
    execution = execute_tool(user=user, tool_name="analyze_document", arguments={"docx_base64": document}, via="api")
    execution.refresh_from_db()  # a background tool: run by the (eager) worker on commit
    assert execution.status == "error"
    assert "more than 50 MB of XML" in execution.error


# --- The web tools against the worst a server can send ---------------------------------------


def _page_at_the_size_limit(row: bytes, limit: int) -> bytes:
    head, tail = b"<!doctype html><html><head><title>Big</title></head><body><table>", b"</table></body></html>"
    return head + row * ((limit - len(head) - len(tail)) // len(row)) + tail


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("row", [b"<tr><td>alpha</td><td>beta</td></tr>", b"<p>one two three four five</p>"])
def test_fetch_url_extracts_a_page_as_large_as_it_reads(user, settings, row):
    from tests.tools.local_http import serve

    settings.FETCH_URL_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    body = _page_at_the_size_limit(row, settings.FETCH_URL_MAX_BYTES)
    with serve({"/big": lambda h: h.reply(200, "text/html; charset=utf-8", body)}) as (base, _):
        arguments = {"url": f"{base}/big", "max_characters": 500_000}
        execution = execute_tool(user=user, tool_name="fetch_url", arguments=arguments, via="api")
        execution.refresh_from_db()
    assert execution.status == "success", execution.error
    assert execution.result["truncated"] and len(execution.result["text"]) == 500_000


@pytest.fixture
def search_provider_sending(settings):
    """A SearXNG stand-in on loopback whose /search answers with the given handler."""
    from contextlib import contextmanager

    from tests.tools.local_http import serve

    @contextmanager
    def sending(answer):
        with serve({"/search": answer}) as (base, seen):
            settings.WEB_SEARCH_PROVIDER = "searxng"
            settings.WEB_SEARCH_URL = base
            yield seen
    return sending


def _endless_json(h) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.end_headers()
    h.wfile.write(b'{"results": [')
    chunk = b'{"title": "t", "url": "https://example.org/", "content": "' + b"x" * 65_536 + b'"},'
    while not h.stopping.is_set():
        h.wfile.write(chunk)


@pytest.mark.django_db
def test_web_search_stops_reading_a_provider_that_answers_without_end(user, search_provider_sending):
    with search_provider_sending(_endless_json):
        execution = execute_tool(
            user=user, tool_name="web_search", arguments={"query": "q" * 400, "count": 20}, via="api"
        )
    assert execution.status == "error"
    assert "answered more than 1,048,576 bytes" in execution.error


@pytest.mark.django_db
def test_web_search_cuts_long_titles_and_snippets(user, search_provider_sending):
    import json

    results = [
        {"title": "<b>T</b>" * 2_000, "url": f"https://example.org/{i}", "content": "word " * 4_000} for i in range(20)
    ]
    answer = json.dumps({"results": results}).encode()
    assert len(answer) < 1024 * 1024
    with search_provider_sending(lambda h: h.reply(200, "application/json", answer)) as seen:
        arguments = {"query": "q" * 400, "count": 20}
        execution = execute_tool(user=user, tool_name="web_search", arguments=arguments, via="api")
    assert execution.status == "success", execution.error
    assert seen[0]["query"]["q"] == "q" * 400
    found = execution.result["results"]
    assert len(found) == 20
    assert all(len(r["title"]) == 300 and len(r["snippet"]) <= 1_000 and r["snippet"].endswith("…") for r in found)
