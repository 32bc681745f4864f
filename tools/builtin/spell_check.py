from __future__ import annotations

import functools
import re
from typing import Literal

from pydantic import BaseModel, Field
from spellchecker import SpellChecker

from tools.base import Annotations, Tool, ToolContext

# The dictionaries pyspellchecker ships (no download).
Language = Literal["en", "es", "fr", "pt", "de", "it", "ru", "ar", "lv", "eu", "nl", "fa"]

# Words: letters with inner apostrophes or hyphens ("don't", "well-known").
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)
# Spans that are not prose: URLs, e-mail addresses, and tokens mixing letters and digits.
_SKIP = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\S+|\w*\d\w*", re.UNICODE)


@functools.cache
def _checker(language: str) -> SpellChecker:
    # Loading a dictionary takes a fraction of a second: once per language and process.
    return SpellChecker(language=language)


class SpellCheckInput(BaseModel):
    text: str = Field(description="The text to check.", max_length=2_000_000)
    language: Language = Field(default="en", description="The text's language (ISO 639-1).")
    max_suggestions: int = Field(default=5, ge=0, le=20, description="Suggestions per issue, best first.")


class SpellingIssue(BaseModel):
    word: str
    start: int = Field(description="Offset of the word's first character in the text.")
    end: int = Field(description="Offset just past the word's last character.")
    suggestions: list[str]


class SpellCheckOutput(BaseModel):
    language: str
    words_checked: int
    issue_count: int
    issues: list[SpellingIssue]


class SpellCheckTool(Tool):
    name = "spell_check"
    title = "Spell check"
    description = (
        "Find misspelled words with their character offsets and ranked suggestions. Skips numbers, URLs, "
        "e-mail addresses and all-caps acronyms. Languages: en, es, fr, pt, de, it, ru, ar, lv, eu, nl, fa."
    )
    input_model = SpellCheckInput
    output_model = SpellCheckOutput
    annotations = Annotations(read_only=True, idempotent=True)
    cacheable = True

    def run(self, arguments: SpellCheckInput, ctx: ToolContext) -> SpellCheckOutput:
        checker = _checker(arguments.language)
        text = arguments.text
        skipped = [m.span() for m in _SKIP.finditer(text)]
        words = []
        for match in _WORD.finditer(text):
            start, end = match.span()
            if any(s <= start < e for s, e in skipped):
                continue
            word = match.group()
            if len(word) > 1 and word.isupper():  # acronyms: NASA, HTML
                continue
            words.append((word, start, end))
        unknown = checker.unknown([w for w, _, _ in words])
        issues = []
        for word, start, end in words:
            if word.lower() not in unknown:
                continue
            ctx.raise_if_cancelled()
            suggestions = self._suggestions(checker, word, arguments.max_suggestions)
            issues.append(SpellingIssue(word=word, start=start, end=end, suggestions=suggestions))
        return SpellCheckOutput(language=arguments.language, words_checked=len(words), issue_count=len(issues),
                                issues=issues)

    @staticmethod
    def _suggestions(checker: SpellChecker, word: str, limit: int) -> list[str]:
        if limit == 0:
            return []
        lower = word.lower()
        candidates = checker.candidates(lower) or set()
        candidates.discard(lower)
        # Most frequent first: pyspellchecker's own notion of the likeliest correction.
        ranked = sorted(candidates, key=lambda c: (-checker.word_usage_frequency(c), c))[:limit]
        if word[:1].isupper():
            ranked = [c[:1].upper() + c[1:] for c in ranked]
        return ranked
