"""Analyse a whole document section by section with the other text tools.

The document (plain text, or a .docx sent as base64) is split into sections: at
headings in a .docx (and at Markdown ``#`` headings in plain text), otherwise into
groups of blank-line-separated paragraphs of bounded size. Each section goes through
the text tools that exist (text_statistics, spell_check, extract_keywords, summarize,
detect_language). Each is a sub-call (``ctx.call_tool``): it meets the same policy as a
call of that tool from a door (enabled, role, arguments, rate limit) and is recorded as
a child execution of this one; it shares this execution's time limit and cancellation
and reports no progress of its own. A refused or failed sub-call does not fail the
analysis: that section's entry in ``errors`` says why (e.g. "spell_check is disabled."),
and the other analyses stand.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import io
import logging
import re
import zipfile
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from tools.base import Annotations, InvalidArguments, Mode, Tool, ToolCancelled, ToolContext, ToolError
from tools.builtin import BUILTIN_MODULES
from tools.lazy import lazy_module

segmenter = lazy_module("segtok.segmenter")

logger = logging.getLogger(__name__)

# Analysis name -> the built-in tool (and module) that performs it.
ANALYSIS_TOOLS = {
    "statistics": "text_statistics",
    "spelling": "spell_check",
    "keywords": "extract_keywords",
    "summary": "summarize",
    "language": "detect_language",
}
# Only analyses whose tool ships with this build are offered in the input schema.
OFFERED_ANALYSES = tuple(
    analysis
    for analysis, module in ANALYSIS_TOOLS.items()
    if module in BUILTIN_MODULES and importlib.util.find_spec(f"tools.builtin.{module}") is not None
)
AnalysisName = Literal[OFFERED_ANALYSES]  # type: ignore[valid-type]

MAX_DOCX_BYTES = 20 * 1024 * 1024
# A .docx is a zip; refuse one whose parts inflate past this (a zip bomb) before parsing.
MAX_DOCX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
# Of that, the XML that python-docx parses into a tree (images and fonts are not parsed): a
# tree takes several times its text in memory, and the text it can hold is capped anyway.
MAX_DOCX_XML_BYTES = 50 * 1024 * 1024
# The whole document is measured and searched for keywords in one piece, so it may be no
# longer than those tools take (extract_keywords' limit); a .docx is held to it once its
# text is out.
MAX_TEXT_CHARACTERS = 300_000

_HEADING_STYLE = re.compile(r"^(?:heading\s*(\d)|title)$", re.IGNORECASE)
_MARKDOWN_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_BLANK_LINES = re.compile(r"\n[ \t]*\n+")


class AnalyzeDocumentInput(BaseModel):
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARACTERS, description="The document as plain text.")
    docx_base64: str | None = Field(
        default=None,
        max_length=MAX_DOCX_BYTES * 4 // 3 + 4,
        description="The document as a .docx file, base64-encoded (a data: URL prefix is accepted).",
    )
    analyses: list[AnalysisName] | None = Field(
        default=None, description="Which analyses to run on each section; all of them when omitted."
    )
    section_words: int = Field(
        default=400, ge=50, le=10_000,
        description="Plain text without headings is split into groups of paragraphs of about this many words.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> AnalyzeDocumentInput:
        if (self.text is None) == (self.docx_base64 is None):
            raise ValueError("give either text or docx_base64, not both or neither")
        return self


class SectionResult(BaseModel):
    index: int = Field(description="1-based position in the document.")
    title: str
    level: int | None = Field(description="Heading level: 0 for a Title, 1 for Heading 1, ...; null without a heading.")
    characters: int
    results: dict[str, Any] = Field(description="Each analysis' result, keyed by analysis name.")
    errors: dict[str, str] = Field(default_factory=dict, description="Analyses that failed on this section.")


class LanguageShare(BaseModel):
    language: str
    sections: int
    characters: int


class DocumentSummary(BaseModel):
    sections: int
    analyses: list[str]
    characters: int
    words: int | None = None
    sentences: int | None = None
    paragraphs: int | None = None
    reading_time_seconds: int | None = None
    readability: dict[str, float] | None = Field(
        default=None, description="Readability scores of the whole document."
    )
    top_keywords: list[dict[str, Any]] | None = Field(
        default=None, description="Keywords of the whole document, as extract_keywords gives them."
    )
    languages: list[LanguageShare] | None = Field(
        default=None, description="Languages detected in the sections, by share of the text."
    )
    misspellings: int | None = Field(default=None, description="Possible misspellings over all sections.")
    errors: dict[str, str] = Field(default_factory=dict)


class AnalyzeDocumentOutput(BaseModel):
    source: Literal["text", "docx"]
    sections: list[SectionResult]
    summary: DocumentSummary


# --- Splitting --------------------------------------------------------------------------


@dataclass
class Section:
    title: str
    level: int | None
    text: str


def _decode_docx(data: str) -> bytes:
    if data.startswith("data:"):
        data = data.partition(",")[2]
    try:
        raw = base64.b64decode(re.sub(r"\s+", "", data), validate=True)
    except (binascii.Error, ValueError):
        raise ToolError("docx_base64 is not valid base64.") from None
    if len(raw) > MAX_DOCX_BYTES:
        raise ToolError(f"The .docx is larger than {MAX_DOCX_BYTES // (1024 * 1024)} MB.")
    return raw


def _docx_blocks(raw: bytes) -> list[tuple[str, int | None]]:
    """The document's paragraphs and tables in order, as (text, heading level or None).

    Title is level 0, "Heading N" level N.
    """
    import docx
    from docx.table import Table

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            # The sizes the archive declares bound what zipfile will inflate: it stops at
            # the declared size, and a part that lies about it fails its CRC check.
            parts = archive.infolist()
            if sum(info.file_size for info in parts) > MAX_DOCX_UNCOMPRESSED_BYTES:
                raise ToolError("The .docx expands to more than 200 MB; it is refused.")
            if sum(info.file_size for info in parts if info.filename.endswith((".xml", ".rels"))) > MAX_DOCX_XML_BYTES:
                raise ToolError("The .docx holds more than 50 MB of XML; it is refused.")
        document = docx.Document(io.BytesIO(raw))
    except ToolError:
        raise
    except Exception as exc:  # python-docx raises a range of types for a broken package
        raise ToolError(f"docx_base64 is not a readable .docx file ({type(exc).__name__}).") from None

    blocks: list[tuple[str, int | None]] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    # A merged cell is returned once per grid column it spans.
                    if cell.text and (not cells or cells[-1] != cell.text):
                        cells.append(cell.text)
                if cells:
                    blocks.append(("\t".join(cells), None))
            continue
        style_name = block.style.name if block.style is not None else ""
        match = _HEADING_STYLE.match(style_name or "")
        level = (int(match.group(1)) if match.group(1) else 0) if match else None
        blocks.append((block.text, level))
    return blocks


def _sections_from_docx(raw: bytes) -> list[Section]:
    sections: list[Section] = []
    current = Section(title="Before the first heading", level=None, text="")
    body: list[str] = []
    for text, level in _docx_blocks(raw):
        if level is not None and text.strip():
            current.text = "\n\n".join(body)
            sections.append(current)
            current, body = Section(title=text.strip(), level=level, text=""), []
        elif text.strip():
            body.append(text)
    current.text = "\n\n".join(body)
    sections.append(current)
    # A heading directly followed by another heading has nothing to analyse.
    return [s for s in sections if s.text.strip()]


def _word_count(text: str) -> int:
    return len(text.split())


def _bounded_pieces(paragraph: str, limit: int) -> list[str]:
    """A paragraph, cut at sentence ends into pieces of at most ``limit`` words if it is longer."""
    if _word_count(paragraph) <= limit:
        return [paragraph]
    pieces: list[str] = []
    current: list[str] = []
    words = 0
    for sentence in segmenter.split_multi(paragraph):
        count = _word_count(sentence)
        if current and words + count > limit:
            pieces.append(" ".join(current))
            current, words = [], 0
        current.append(sentence)
        words += count
    if current:
        pieces.append(" ".join(current))
    return pieces


def _sections_from_text(text: str, section_words: int) -> list[Section]:
    """Sections at Markdown headings, and groups of paragraphs of at most ``section_words``."""
    sections: list[Section] = []
    group: list[str] = []
    group_words = 0
    heading: tuple[str, int] | None = None
    continued = False
    first = last = 0  # paragraph numbers in the current group, for titles without a heading
    number = 0

    def close() -> None:
        nonlocal group, group_words, continued
        if group:
            if heading is not None:
                title = heading[0] + (" (continued)" if continued else "")
                level: int | None = heading[1]
            else:
                title = f"Paragraph {first}" if first == last else f"Paragraphs {first}–{last}"
                level = None
            sections.append(Section(title=title, level=level, text="\n\n".join(group)))
            continued = True
        group, group_words = [], 0

    for paragraph in _BLANK_LINES.split(text.replace("\r\n", "\n")):
        paragraph = paragraph.strip()
        first_line, _, rest = paragraph.partition("\n")
        match = _MARKDOWN_HEADING.match(first_line)
        if match:
            close()
            heading, continued = (match.group(2), len(match.group(1))), False
            paragraph = rest.strip()
        if not paragraph:
            continue
        number += 1
        for piece in _bounded_pieces(paragraph, section_words):
            words = _word_count(piece)
            if group and group_words + words > section_words:
                close()
            if not group:
                first = number
            last = number
            group.append(piece)
            group_words += words
    close()
    return sections


# --- Running the other tools -------------------------------------------------------------


# A section's spelling result lists at most this many issues (its issue_count stays whole):
# a long document full of unknown words would otherwise outgrow TOOL_MAX_RESULT_BYTES.
MAX_SECTION_SPELLING_ISSUES = 100


def _analyse(analysis: str, text: str, ctx: ToolContext, errors: dict[str, str]) -> dict[str, Any] | None:
    """One analysis of one text; a failure is noted in ``errors`` and gives None."""
    try:
        result = ctx.call_tool(ANALYSIS_TOOLS[analysis], {"text": text})
        issues = result.get("issues")
        if analysis == "spelling" and isinstance(issues, list) and len(issues) > MAX_SECTION_SPELLING_ISSUES:
            result["issues"] = issues[:MAX_SECTION_SPELLING_ISSUES]
            result.setdefault("notes", []).append(
                f"The first {MAX_SECTION_SPELLING_ISSUES} of {len(issues):,} issues are listed; "
                "run spell_check on the section for all of them."
            )
        return result
    except ToolCancelled:
        raise
    except (ToolError, InvalidArguments) as exc:
        errors[analysis] = str(exc)
    except Exception as exc:
        # One analysis failing on one section must not lose the whole document's.
        logger.exception("analysis %s failed", analysis)
        errors[analysis] = f"{ANALYSIS_TOOLS[analysis]} failed: {type(exc).__name__}"
    return None


def _language_of(result: dict[str, Any]) -> str | None:
    # detect_language gives {"code", "name", ...}; "unknown" is no language to count.
    code = result.get("code")
    return code if isinstance(code, str) and code and code != "unknown" else None


def _misspelling_count(result: dict[str, Any]) -> int:
    # spell_check gives {"issue_count", "issues", ...}.
    if isinstance(result.get("issue_count"), int):
        return result["issue_count"]
    return len(result.get("issues") or [])


def _keywords_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    return list(result.get("keywords") or [])


class AnalyzeDocumentTool(Tool):
    name = "analyze_document"
    title = "Analyze document"
    description = (
        "Analyse a whole document (plain text or a base64 .docx) section by section: statistics and "
        "readability" + (", spelling" if "spelling" in OFFERED_ANALYSES else "")
        + (", keywords" if "keywords" in OFFERED_ANALYSES else "")
        + (", a summary" if "summary" in OFFERED_ANALYSES else "")
        + (", language" if "language" in OFFERED_ANALYSES else "")
        + " for each section, and a summary of the whole document. Sections follow the headings of a "
        ".docx, or groups of paragraphs in plain text. Runs in the background and reports progress."
    )
    input_model = AnalyzeDocumentInput
    output_model = AnalyzeDocumentOutput
    annotations = Annotations(read_only=True, idempotent=True)
    mode = Mode.BACKGROUND
    timeout = 600.0

    def run(self, arguments: AnalyzeDocumentInput, ctx: ToolContext) -> AnalyzeDocumentOutput:
        if arguments.docx_base64 is not None:
            source: Literal["text", "docx"] = "docx"
            sections = _sections_from_docx(_decode_docx(arguments.docx_base64))
        else:
            source = "text"
            sections = _sections_from_text(arguments.text or "", arguments.section_words)
        if not sections:
            raise ToolError("The document has no text to analyse.")
        characters = sum(len(section.text) for section in sections)
        if characters > MAX_TEXT_CHARACTERS:
            raise ToolError(
                f"The document has {characters:,} characters of text; analyze_document takes at most "
                f"{MAX_TEXT_CHARACTERS:,}. Analyse it in parts."
            )
        analyses = list(dict.fromkeys(arguments.analyses)) if arguments.analyses is not None else list(OFFERED_ANALYSES)

        total = len(sections) + 1  # and one step for the whole document
        results: list[SectionResult] = []
        for index, section in enumerate(sections, start=1):
            ctx.report_progress(index - 1, total, f"Section {index} of {len(sections)}: {section.title}")
            ctx.raise_if_cancelled()
            section_result = SectionResult(
                index=index, title=section.title, level=section.level, characters=len(section.text), results={}
            )
            for analysis in analyses:
                ctx.raise_if_cancelled()
                result = _analyse(analysis, section.text, ctx, section_result.errors)
                if result is not None:
                    section_result.results[analysis] = result
            results.append(section_result)

        ctx.report_progress(len(sections), total, "Whole document")
        ctx.raise_if_cancelled()
        summary = self._summarise(sections, results, analyses, ctx)
        ctx.report_progress(total, total, "Done")
        return AnalyzeDocumentOutput(source=source, sections=results, summary=summary)

    def _summarise(
        self, sections: list[Section], results: list[SectionResult], analyses: list[str], ctx: ToolContext
    ) -> DocumentSummary:
        whole = "\n\n".join(s.text for s in sections)
        summary = DocumentSummary(sections=len(sections), analyses=analyses, characters=len(whole))
        if "statistics" in analyses:
            stats = _analyse("statistics", whole, ctx, summary.errors)
            if stats is not None:
                summary.words = stats["words"]
                summary.sentences = stats["sentences"]
                summary.paragraphs = stats["paragraphs"]
                summary.reading_time_seconds = stats["reading_time_seconds"]
                summary.readability = {
                    key: stats[key]
                    for key in ("flesch_reading_ease", "flesch_kincaid_grade", "gunning_fog", "smog_index",
                                "coleman_liau_index")
                }
        if "keywords" in analyses:
            ctx.raise_if_cancelled()
            # Keywords of the whole text, not a merge of the sections': a term that runs
            # through every section should rank above one that dominates a single one.
            keywords = _analyse("keywords", whole, ctx, summary.errors)
            if keywords is not None:
                summary.top_keywords = _keywords_of(keywords)
        if "language" in analyses:
            sections_by_language: Counter[str] = Counter()
            characters_by_language: Counter[str] = Counter()
            for result in results:
                language = _language_of(result.results.get("language") or {})
                if language:
                    sections_by_language[language] += 1
                    characters_by_language[language] += result.characters
            summary.languages = [
                LanguageShare(language=language, sections=sections_by_language[language], characters=characters)
                for language, characters in characters_by_language.most_common()
            ]
        checked = [r.results["spelling"] for r in results if "spelling" in r.results]
        if "spelling" in analyses and checked:
            # None, not 0, when no section was checked: "no misspellings" would be untrue.
            summary.misspellings = sum(_misspelling_count(result) for result in checked)
        for analysis in analyses:
            # An analysis refused or failed on every section for one reason (its tool is
            # disabled, say) is said once for the document, not only section by section.
            reasons = {r.errors.get(analysis) for r in results}
            if analysis not in summary.errors and len(reasons) == 1 and (reason := reasons.pop()) is not None:
                summary.errors[analysis] = reason
        return summary
