from __future__ import annotations

import bisect
import functools
import re
from typing import Literal

from pydantic import BaseModel, Field
from spellchecker import SpellChecker

from tools.base import Annotations, Tool, ToolContext
from tools.lazy import preload

# The dictionaries pyspellchecker ships (no download).
Language = Literal["en", "es", "fr", "pt", "de", "it", "ru", "ar", "lv", "eu", "nl", "fa"]

# Words: letters with inner apostrophes or hyphens ("don't", "well-known").
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)
# Spans that are not prose: URLs and tokens mixing letters and digits. Each alternative
# starts with a literal or a word boundary, so a long run without a match costs linear
# time (``\w*\d\w*`` alone retried at every position of a 200,000-letter word: quadratic).
_SKIP = re.compile(r"https?://\S+|www\.\S+|\b\w*\d\w*", re.UNICODE)
# E-mail addresses are whole whitespace-separated tokens, checked without a regex (the
# former ``\S+@\S+\.\S+`` backtracked quadratically over a long token).
_TOKEN = re.compile(r"\S+")
# Deterministic bound on suggestion work per call, in candidate strings generated (edit
# distance 1 of an n-letter word is about 2n x alphabet strings; distance 2 squares that).
# Around a few seconds of work; past it, issues are still reported, without suggestions.
SUGGESTION_BUDGET = 1_000_000
# Distance-2 suggestions only for words up to this length (longer ones: distance 1).
_DISTANCE_2_MAX_LENGTH = 12


@functools.cache
def _checker(language: str) -> SpellChecker:
    # Loading a dictionary takes a fraction of a second: once per language and process.
    return SpellChecker(language=language)


@preload
def _english() -> None:
    """The default language's dictionary, loaded in the tool processes' fork server: every
    tool process starts with it (loaded in each new one, it took 100 ms of its first call)."""
    _checker("en")


class SpellCheckInput(BaseModel):
    text: str = Field(description="The text to check (up to 200,000 characters, a long document).",
                      max_length=200_000)
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
    long_words_skipped: int = Field(
        default=0, description="Words longer than any word of the language's dictionary, not checked.")
    notes: list[str] = Field(default_factory=list, description="What was skipped or cut short, and why.")


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
        longest = checker.word_frequency.longest_word_length
        text = arguments.text
        skipped = _merge([m.span() for m in _SKIP.finditer(text)] + _email_spans(text))
        skipped_starts = [s for s, _ in skipped]
        words = []
        long_words = 0
        for match in _WORD.finditer(text):
            start, end = match.span()
            i = bisect.bisect_right(skipped_starts, start) - 1
            if i >= 0 and start < skipped[i][1]:
                continue
            word = match.group()
            if len(word) > 1 and word.isupper():  # acronyms: NASA, HTML
                continue
            if len(word) > longest:
                # No real word is this long: pyspellchecker would silently pass it, and
                # suggestions for it cost time without helping anyone.
                long_words += 1
                continue
            words.append((word, start, end))
        unknown = checker.unknown([w for w, _, _ in words])
        issues = []
        budget = _Budget(SUGGESTION_BUDGET, len(checker.word_frequency.letters))
        cache: dict[str, list[str]] = {}
        for word, start, end in words:
            lower = word.lower()
            if lower not in unknown:
                continue
            ctx.raise_if_cancelled()
            if lower not in cache:
                cache[lower] = self._suggestions(checker, lower, arguments.max_suggestions, budget)
            suggestions = cache[lower]
            if word[:1].isupper():
                suggestions = [c[:1].upper() + c[1:] for c in suggestions]
            issues.append(SpellingIssue(word=word, start=start, end=end, suggestions=suggestions))
        notes = []
        if long_words:
            notes.append(f"{long_words} word(s) longer than {longest} letters (the longest word of the "
                         f"'{arguments.language}' dictionary) were not checked.")
        if budget.exhausted:
            notes.append("Suggestions stopped after a fixed amount of work: later issues have none or fewer. "
                         "Check a shorter text for full suggestions.")
        return SpellCheckOutput(language=arguments.language, words_checked=len(words), issue_count=len(issues),
                                issues=issues, long_words_skipped=long_words, notes=notes)

    @staticmethod
    def _suggestions(checker: SpellChecker, lower: str, limit: int, budget: _Budget) -> list[str]:
        if limit == 0 or not budget.spend_distance_1(lower):
            return []
        candidates = checker.known(checker.edit_distance_1(lower))
        if not candidates and len(lower) <= _DISTANCE_2_MAX_LENGTH and budget.spend_distance_2(lower):
            candidates = checker.candidates(lower) or set()
        candidates.discard(lower)
        # Most frequent first: pyspellchecker's own notion of the likeliest correction.
        return sorted(candidates, key=lambda c: (-checker.word_usage_frequency(c), c))[:limit]


class _Budget:
    """Counts candidate strings generated, so one call's suggestion work stays bounded."""

    def __init__(self, limit: int, alphabet: int) -> None:
        self.left = limit
        self.alphabet = max(alphabet, 1)
        self.exhausted = False

    def _distance_1(self, length: int) -> int:
        return (2 * length + 1) * self.alphabet + 2 * length

    def _spend(self, cost: int) -> bool:
        if cost > self.left:
            self.exhausted = True
            return False
        self.left -= cost
        return True

    def spend_distance_1(self, word: str) -> bool:
        return self._spend(self._distance_1(len(word)))

    def spend_distance_2(self, word: str) -> bool:
        first = self._distance_1(len(word))
        return self._spend(first * self._distance_1(len(word) + 1))


def _email_spans(text: str) -> list[tuple[int, int]]:
    # A token is an address when it has an "@" after its first character and a "." at
    # least one character after that and before its last character (as ``\S+@\S+\.\S+``).
    spans = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        at = token.find("@", 1)
        if at != -1 and token.rfind(".", 0, len(token) - 1) >= at + 2:
            spans.append(match.span())
    return spans


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
