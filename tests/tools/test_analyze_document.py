from __future__ import annotations

import base64
import io
import re
import zipfile

import docx
import pytest
from django.contrib.auth.models import Group

from executions.models import ToolExecution
from executions.services import execute_tool
from executions.toolproc import run_child
from tools.base import InvalidArguments, Mode, ToolCancelled, ToolContext, ToolError
from tools.builtin.analyze_document import OFFERED_ANALYSES, AnalyzeDocumentTool
from tools.models import ToolConfig
from tools.registry import registry

ARTICLE = """# Introduction

Gardens change with the seasons. In spring the first shoots appear and the soil warms.

Many gardeners plan their beds in winter. They order seeds and sketch the layout.

# Methods

We planted tomatoes, beans and squash in three raised beds. Each bed received the same compost.

Growth was measured every week. The tallest plant in each bed was recorded.

# Results

The beans grew fastest. The squash spread widely but produced little fruit."""


def context(events: list | None = None, on_progress=None) -> ToolContext:
    def record(done, total, message):
        if events is not None:
            events.append((done, total, message))
        if on_progress is not None:
            on_progress(done, total, message)

    return ToolContext(user=None, execution_id="test", on_progress=record, subcalls=DirectSubcalls())


class DirectSubcalls:
    """ctx.call_tool with no database: runs the child with no policy and no record (the
    service's policy and records are tested with the service, below)."""

    def call(self, ctx: ToolContext, name: str, arguments: dict):
        return run_child(ctx, execution_id="child", tool=registry.get(name), arguments=arguments,
                         record_end=lambda status, text, error: None)


def analyze(arguments: dict, ctx: ToolContext | None = None):
    tool = AnalyzeDocumentTool()
    return tool.run(tool.validate(arguments), ctx or context())


def docx_base64(build) -> str:
    document = docx.Document()
    build(document)
    buffer = io.BytesIO()
    document.save(buffer)
    return base64.b64encode(buffer.getvalue()).decode()


def build_report(document) -> None:
    document.add_heading("Field report", 0)
    document.add_paragraph("This report covers the spring survey of the northern meadow.")
    document.add_heading("Birds", 1)
    document.add_paragraph("We counted forty-two swallows. Most of them nested under the barn roof.")
    document.add_paragraph("Two owls were heard at night.")
    document.add_heading("Empty heading", 2)
    document.add_heading("Plants", 1)
    document.add_paragraph("The meadow was full of clover and buttercups.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Species"
    table.cell(0, 1).text = "Count"
    table.cell(1, 0).text = "Clover"
    table.cell(1, 1).text = "Many"


def test_it_is_a_background_tool_with_a_long_timeout():
    tool = AnalyzeDocumentTool()
    assert tool.mode == Mode.BACKGROUND
    assert tool.timeout >= 600


def test_it_analyses_each_markdown_section_of_a_text():
    result = analyze({"text": ARTICLE})
    assert result.source == "text"
    assert [s.title for s in result.sections] == ["Introduction", "Methods", "Results"]
    assert [s.level for s in result.sections] == [1, 1, 1]
    methods = result.sections[1]
    assert methods.index == 2
    assert methods.results["statistics"]["words"] == 29
    assert methods.results["statistics"]["sentences"] == 4
    assert methods.errors == {}
    assert set(methods.results) == set(OFFERED_ANALYSES)


def test_it_summarises_the_whole_text():
    result = analyze({"text": ARTICLE})
    summary = result.summary
    assert summary.sections == 3
    assert summary.words == sum(s.results["statistics"]["words"] for s in result.sections)
    assert summary.sentences == 10
    assert summary.readability is not None
    assert 0 < summary.readability["flesch_reading_ease"] <= 100
    assert summary.analyses == list(OFFERED_ANALYSES)


def test_it_groups_plain_paragraphs_into_sections_of_bounded_size():
    paragraph = "The committee met on Tuesday and discussed the budget for next year at length. "
    text = "\n\n".join(f"{paragraph * 3}Item {i}." for i in range(1, 11))  # 10 paragraphs of 44 words
    result = analyze({"text": text, "section_words": 100})
    assert [s.title for s in result.sections] == [
        "Paragraphs 1–2", "Paragraphs 3–4", "Paragraphs 5–6", "Paragraphs 7–8", "Paragraphs 9–10",
    ]
    assert all(s.results["statistics"]["words"] <= 100 for s in result.sections)
    assert result.summary.words == 440


def test_it_cuts_a_very_long_paragraph_at_sentence_ends():
    text = "This sentence has exactly eight words in it. " * 50  # one paragraph, 400 words
    result = analyze({"text": text, "section_words": 100})
    words = [s.results["statistics"]["words"] for s in result.sections]
    assert words == [96, 96, 96, 96, 16]  # 12 whole sentences fit in 100 words
    assert all(s.title == "Paragraph 1" for s in result.sections)


def test_it_runs_only_the_analyses_asked_for():
    result = analyze({"text": ARTICLE, "analyses": ["statistics"]})
    assert all(set(s.results) == {"statistics"} for s in result.sections)
    assert result.summary.analyses == ["statistics"]


def test_it_rejects_an_analysis_it_does_not_offer():
    with pytest.raises(InvalidArguments, match="analyses"):
        AnalyzeDocumentTool().validate({"text": ARTICLE, "analyses": ["astrology"]})


def test_it_splits_a_docx_at_its_headings():
    result = analyze({"docx_base64": docx_base64(build_report)})
    assert result.source == "docx"
    # The heading with nothing under it is left out; the table belongs to its section.
    assert [(s.title, s.level) for s in result.sections] == [("Field report", 0), ("Birds", 1), ("Plants", 1)]
    birds = result.sections[1]
    assert birds.results["statistics"]["words"] == 18  # "forty-two" is one word
    assert birds.results["statistics"]["paragraphs"] == 2
    plants = result.sections[2]
    assert plants.results["statistics"]["words"] == 12  # 8 words of text + 4 table cells
    assert result.summary.words == 10 + 18 + 12


def test_it_keeps_text_before_the_first_heading_of_a_docx():
    def build(document) -> None:
        document.add_paragraph("A preface without a heading.")
        document.add_heading("Chapter", 1)
        document.add_paragraph("Chapter text.")

    result = analyze({"docx_base64": docx_base64(build)})
    assert [(s.title, s.level) for s in result.sections] == [("Before the first heading", None), ("Chapter", 1)]


def test_it_accepts_a_data_url():
    encoded = "data:application/vnd.openxmlformats-officedocument.wordprocessingml.document;base64," + docx_base64(
        build_report
    )
    assert len(analyze({"docx_base64": encoded}).sections) == 3


def test_it_rejects_invalid_base64():
    with pytest.raises(ToolError, match="not valid base64"):
        analyze({"docx_base64": "this is *not* base64!"})


def test_it_rejects_base64_that_is_not_a_docx():
    with pytest.raises(ToolError, match=re.escape("not a readable .docx")):
        analyze({"docx_base64": base64.b64encode(b"just some plain text, no zip").decode()})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "a zip, but not a Word document")
    with pytest.raises(ToolError, match=re.escape("not a readable .docx")):
        analyze({"docx_base64": base64.b64encode(buffer.getvalue()).decode()})


def test_it_rejects_a_docx_without_text():
    with pytest.raises(ToolError, match="no text"):
        analyze({"docx_base64": docx_base64(lambda document: None)})


@pytest.mark.parametrize("arguments", [{}, {"text": "a", "docx_base64": "YQ=="}])
def test_it_needs_exactly_one_of_text_and_docx(arguments):
    with pytest.raises(InvalidArguments, match="either text or docx_base64"):
        AnalyzeDocumentTool().validate(arguments)


def test_it_reports_progress_section_by_section_in_order():
    events: list = []
    analyze({"text": ARTICLE}, context(events))
    assert events == [
        (0, 4, "Section 1 of 3: Introduction"),
        (1, 4, "Section 2 of 3: Methods"),
        (2, 4, "Section 3 of 3: Results"),
        (3, 4, "Whole document"),
        (4, 4, "Done"),
    ]


def test_it_stops_with_tool_cancelled_when_cancelled_between_sections():
    events: list = []
    ctx: ToolContext

    def cancel_at_section_two(done, total, message):
        if message.startswith("Section 2"):
            ctx.cancel_event.set()

    ctx = context(events, cancel_at_section_two)
    with pytest.raises(ToolCancelled):
        analyze({"text": ARTICLE}, ctx)
    assert [m for _, _, m in events] == ["Section 1 of 3: Introduction", "Section 2 of 3: Methods"]


@pytest.mark.django_db(transaction=True)
def test_it_runs_in_the_background_through_the_execution_service(user):
    execution = execute_tool(
        user=user, tool_name="analyze_document", arguments={"docx_base64": docx_base64(build_report)}, via="api"
    )
    execution.refresh_from_db()
    assert execution.mode == "background"
    assert execution.status == ToolExecution.Status.SUCCESS, execution.error
    assert [s["title"] for s in execution.result["sections"]] == ["Field report", "Birds", "Plants"]
    assert execution.result["summary"]["words"] == 40
    assert execution.progress == 4
    assert execution.progress_total == 4
    assert execution.progress_message == "Done"
    # The other tools ran as sub-calls: child executions of this one.
    children = ToolExecution.objects.filter(parent=execution)
    assert children.count() == ToolExecution.objects.count() - 1 > 0


@pytest.mark.django_db(transaction=True)
def test_it_records_a_broken_docx_as_an_error_execution(user):
    execution = execute_tool(
        user=user, tool_name="analyze_document", arguments={"docx_base64": "bm90IGEgZG9jeA=="}, via="api"
    )
    execution.refresh_from_db()
    assert execution.status == ToolExecution.Status.ERROR
    assert "not a readable .docx" in execution.error


def test_its_summary_counts_the_misspellings_and_languages_the_sections_found():
    text = (
        "# One\n\nThe gardn was ful of flowrs and the sun was warm on the old stone wall all afternoon.\n\n"
        "# Two\n\nWe wrote a lettr to our friends about the hedge that grows across the narrow path."
    )
    result = analyze({"text": text, "analyses": ["spelling", "language"]})
    per_section = [s.results["spelling"]["issue_count"] for s in result.sections]
    assert per_section == [3, 1]
    assert result.summary.misspellings == 4
    assert [s.results["language"]["code"] for s in result.sections] == ["en", "en"]
    [english] = result.summary.languages
    assert (english.language, english.sections) == ("en", 2)
    assert english.characters == sum(s.characters for s in result.sections)


def test_its_summary_leaves_out_sections_whose_language_is_unknown():
    result = analyze({"text": "# A\n\nOk.\n\n# B\n\nThe weather today is lovely and the garden is in bloom again.",
                      "analyses": ["language"]})
    assert [s.results["language"]["code"] for s in result.sections] == ["unknown", "en"]
    assert [(share.language, share.sections) for share in result.summary.languages] == [("en", 1)]


@pytest.mark.django_db(transaction=True)
def test_it_reports_spelling_as_refused_when_spell_check_is_disabled(user):
    # The analysis the user asked for still stands; the refused check says why, in each
    # section and once for the document, and is not counted as "no misspellings".
    ToolConfig.objects.create(tool_name="spell_check", enabled=False)
    execution = execute_tool(user=user, tool_name="analyze_document", arguments={"text": ARTICLE}, via="api")
    execution.refresh_from_db()
    assert execution.status == ToolExecution.Status.SUCCESS, execution.error
    sections = execution.result["sections"]
    assert [s["errors"] for s in sections] == [{"spelling": "spell_check is disabled."}] * 3
    assert all("spelling" not in s["results"] and "statistics" in s["results"] for s in sections)
    assert execution.result["summary"]["errors"] == {"spelling": "spell_check is disabled."}
    assert execution.result["summary"]["misspellings"] is None
    assert execution.result["summary"]["words"] > 0
    assert not ToolExecution.objects.filter(tool_name="spell_check").exists()


@pytest.mark.django_db(transaction=True)
def test_it_reports_a_sub_tool_limited_to_groups_the_user_is_not_in_as_refused(user):
    config = ToolConfig.objects.create(tool_name="spell_check")
    config.groups.add(Group.objects.create(name="editors"))
    execution = execute_tool(
        user=user, tool_name="analyze_document", arguments={"text": ARTICLE, "analyses": ["spelling", "statistics"]},
        via="api",
    )
    execution.refresh_from_db()
    assert execution.result["summary"]["errors"]["spelling"].startswith("spell_check is not available to this user")
    assert set(ToolExecution.objects.filter(parent=execution).values_list("tool_name", flat=True)) == {
        "text_statistics"
    }


@pytest.mark.django_db(transaction=True)
def test_its_sub_calls_through_rest_are_child_executions_of_the_users_call(api_client, user):
    response = api_client.post(
        "/api/v1/tools/analyze_document/execute/",
        {"arguments": {"text": ARTICLE, "analyses": ["statistics", "spelling"]}}, format="json",
    )
    assert response.status_code in (200, 202), response.content
    parent = ToolExecution.objects.get(pk=response.json()["id"])
    assert parent.status == ToolExecution.Status.SUCCESS, parent.error
    children = list(parent.children.order_by("created"))
    # Three sections with two analyses each, and the whole document's statistics.
    assert [c.tool_name for c in children].count("spell_check") == 3
    assert [c.tool_name for c in children].count("text_statistics") == 4
    assert {(c.user_id, c.session_id, c.via, c.status) for c in children} == {
        (user.pk, parent.session_id, "api", ToolExecution.Status.SUCCESS)
    }
    detail = api_client.get(f"/api/v1/executions/{children[0].pk}/").json()
    assert detail["parent"] == str(parent.pk)
    assert api_client.get(f"/api/v1/executions/{parent.pk}/").json()["parent"] is None


@pytest.mark.django_db(transaction=True)
def test_its_sub_calls_count_against_the_users_rate_limit_once_per_analysis(user):
    ToolConfig.objects.create(tool_name="spell_check", rate_limit="2/h")
    arguments = {"text": ARTICLE, "analyses": ["spelling"]}
    for _ in range(2):  # one use of spell_check each, however many sections
        execution = execute_tool(user=user, tool_name="analyze_document", arguments=arguments, via="api")
        execution.refresh_from_db()
        assert not any(s["errors"].get("spelling") for s in execution.result["sections"])
    assert ToolExecution.objects.filter(parent=execution, tool_name="spell_check").count() == len(
        execution.result["sections"]
    ) > 2
    execution = execute_tool(user=user, tool_name="analyze_document", arguments=arguments, via="api")
    execution.refresh_from_db()
    errors = [s["errors"].get("spelling") for s in execution.result["sections"]]
    assert all(e.startswith("spell_check was refused: Rate limit exceeded") for e in errors)
    assert not ToolExecution.objects.filter(parent=execution).exists()
