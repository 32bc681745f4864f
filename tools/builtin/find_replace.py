"""Find and replace in a text, returning each edit with its offsets in the original.

Nothing is changed in place: a Word add-in applies the returned edits to ranges of its
document, so every edit says where it starts and ends in the text it was given, both in
code points (Python string indices) and in UTF-16 code units (JavaScript/Office.js).
Regular expressions run under the ``regex`` package's time limit, so a pattern that
backtracks catastrophically is stopped instead of holding a worker.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from django.conf import settings
from pydantic import BaseModel, Field

from tools.base import Annotations, Tool, ToolContext, ToolError
from tools.lazy import lazy_module

if TYPE_CHECKING:
    import regex
else:
    regex = lazy_module("regex")  # 3 MB, loaded where the tool runs (tools.lazy)

# Code points outside the BMP: two UTF-16 code units each. A plain character class, with
# nothing to backtrack: the standard library's ``re`` is enough.
_ASTRAL = re.compile(r"[\U00010000-\U0010FFFF]")
# What one call can return without exhausting a tool process's memory: every edit is an
# object in the result (a one-letter pattern over 2,000,000 letters made 2,000,000), and
# a long replacement repeated that often makes a text of gigabytes.
MAX_EDITS = 100_000
MAX_RESULT_CHARACTERS = 10_000_000


class FindReplaceInput(BaseModel):
    text: str = Field(description="The text to search.", max_length=2_000_000)
    find: str = Field(description="What to look for: literal text, or a regular expression.", min_length=1,
                      max_length=10_000)
    replace: str = Field(
        default="",
        max_length=100_000,
        description=r"The replacement. In regex mode it may refer to groups: \1, \g<1>, \g<name>.",
    )
    mode: Literal["literal", "regex"] = "literal"
    case_sensitive: bool = True
    whole_word: bool = Field(default=False, description="Only match where no letter or digit touches either end.")
    max_replacements: int | None = Field(default=None, ge=1, le=100_000,
                                         description="Stop after this many (at most 100,000); all when empty.")


class Edit(BaseModel):
    start: int = Field(description="Offset of the match in the original text, in code points.")
    end: int = Field(description="End (exclusive) of the match in the original text, in code points.")
    utf16_start: int = Field(description="`start` in UTF-16 code units, as JavaScript and Office.js count.")
    utf16_end: int
    original: str = Field(description="The matched text.")
    replacement: str


class FindReplaceOutput(BaseModel):
    text: str = Field(description="The text with every edit applied.")
    count: int = Field(description="How many edits were made.")
    edits: list[Edit] = Field(description="The edits in document order, with offsets into the original text.")
    limit_reached: bool = Field(description="True when max_replacements stopped further replacements.")


class FindReplaceTool(Tool):
    name = "find_replace"
    title = "Find and replace"
    description = (
        "Find text (literally or by regular expression, optionally case-insensitive and whole words only) "
        "and replace it. Returns the new text and each edit with its start/end offsets in the original text, "
        "so that an editor can apply the edits itself."
    )
    input_model = FindReplaceInput
    output_model = FindReplaceOutput
    annotations = Annotations(read_only=True, idempotent=True)
    cacheable = True

    def run(self, arguments: FindReplaceInput, ctx: ToolContext) -> FindReplaceOutput:
        literal = arguments.mode == "literal"
        source = regex.escape(arguments.find) if literal else arguments.find
        if arguments.whole_word:
            # Lookarounds rather than \b, which fails when the search starts or ends with
            # punctuation ("U.S." as a whole word).
            source = rf"(?<!\w)(?:{source})(?!\w)"
        flags = 0 if arguments.case_sensitive else regex.IGNORECASE
        try:
            pattern = regex.compile(source, flags)
        except regex.error as exc:
            raise ToolError(f"Invalid regular expression: {exc}") from None

        text = arguments.text
        limit = arguments.max_replacements
        timeout = settings.FIND_REPLACE_REGEX_TIMEOUT
        edits: list[Edit] = []
        pieces: list[str] = []
        position = 0
        utf16_position = 0
        limit_reached = False
        grown = 0
        # Matches first, under the regex time limit; the edits are built after it, so that
        # building many edits is not mistaken for a runaway pattern.
        matches: list[regex.Match[str]] = []
        try:
            for match in pattern.finditer(text, timeout=timeout):
                if limit is not None and len(matches) >= limit:
                    limit_reached = True
                    break
                if len(matches) >= MAX_EDITS:
                    raise ToolError(
                        f"More than {MAX_EDITS:,} matches: set max_replacements (at most {MAX_EDITS:,}) or narrow "
                        "the search.")
                matches.append(match)
        except TimeoutError:
            raise ToolError(
                f"The regular expression was stopped after {timeout:g} s without finishing. Nested "
                "repetition such as (a+)+ can take exponential time; simplify the pattern."
            ) from None
        for match in matches:
            start, end = match.span()
            replacement = arguments.replace if literal else self._expand(match, arguments.replace)
            grown += len(replacement) - (end - start)
            if len(text) + grown > MAX_RESULT_CHARACTERS:
                raise ToolError(
                    f"The replaced text would exceed {MAX_RESULT_CHARACTERS:,} characters: use a shorter "
                    "replacement or set max_replacements.")
            utf16_start = utf16_position + (start - position) + len(_ASTRAL.findall(text, position, start))
            utf16_end = utf16_start + (end - start) + len(_ASTRAL.findall(text, start, end))
            edits.append(
                Edit(start=start, end=end, utf16_start=utf16_start, utf16_end=utf16_end,
                     original=match.group(), replacement=replacement)
            )
            pieces.append(text[position:start])
            pieces.append(replacement)
            position, utf16_position = end, utf16_end
        pieces.append(text[position:])
        return FindReplaceOutput(text="".join(pieces), count=len(edits), edits=edits, limit_reached=limit_reached)

    @staticmethod
    def _expand(match: regex.Match[str], template: str) -> str:
        try:
            return match.expand(template)
        except (IndexError, regex.error) as exc:
            raise ToolError(f"Invalid replacement {template!r}: {exc}") from None
