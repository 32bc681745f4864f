from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.base import Annotations, Tool, ToolContext, ToolError
from tools.lazy import lazy_module, preload

segmenter = lazy_module("segtok.segmenter")
tokenizer = lazy_module("segtok.tokenizer")


@preload
@functools.cache
def _sumy() -> Any:
    """sumy (with NumPy and NLTK), loaded where the tool runs (tools.lazy)."""
    from sumy.nlp import stemmers
    from sumy.parsers import plaintext
    from sumy.summarizers import lex_rank, text_rank

    return stemmers, plaintext, {"lexrank": lex_rank.LexRankSummarizer, "textrank": text_rank.TextRankSummarizer}

# Both methods compare every sentence with every other one, in Python: 1,000 sentences
# take a few seconds, 1,500 took 20 s and a 2,000,000-character text would take hours.
# Longer texts are refused up front; analyze_document summarises a long text per section.
MAX_TEXT_CHARACTERS = 200_000
MAX_SENTENCES = 1_000


class SegtokTokenizer:
    """sumy's tokenizer interface on segtok: sumy's own needs NLTK data downloaded at run time."""

    language = "any"

    @staticmethod
    def to_sentences(paragraph: str) -> tuple[str, ...]:
        return tuple(s.strip() for s in segmenter.split_multi(paragraph) if s.strip())

    @staticmethod
    def to_words(sentence: str) -> tuple[str, ...]:
        return tuple(w for w in tokenizer.word_tokenizer(sentence) if any(ch.isalnum() for ch in w))


class SummarizeInput(BaseModel):
    text: str = Field(description=f"The text to summarize (at most {MAX_SENTENCES:,} sentences).",
                      max_length=MAX_TEXT_CHARACTERS)
    sentences: int = Field(default=3, ge=1, le=50, description="How many sentences the summary has at most.")
    method: Literal["lexrank", "textrank"] = Field(default="lexrank")


class SummarySentence(BaseModel):
    index: int = Field(description="The sentence's position in the text (0-based).")
    text: str


class SummarizeOutput(BaseModel):
    summary: str
    sentences: list[SummarySentence] = Field(description="The chosen sentences, in document order.")
    total_sentences: int


class SummarizeTool(Tool):
    name = "summarize"
    title = "Summarize"
    description = (
        "Extractive summary: picks the most central sentences of a text (LexRank or TextRank) and returns "
        "them in document order. Works offline; no model download."
    )
    input_model = SummarizeInput
    output_model = SummarizeOutput
    annotations = Annotations(read_only=True, idempotent=True)
    cacheable = True

    def run(self, arguments: SummarizeInput, ctx: ToolContext) -> SummarizeOutput:
        stemmers, plaintext, summarizers = _sumy()
        document = plaintext.PlaintextParser.from_string(arguments.text, SegtokTokenizer()).document
        all_sentences = [str(s) for s in document.sentences]
        if not all_sentences:
            return SummarizeOutput(summary="", sentences=[], total_sentences=0)
        if len(all_sentences) > MAX_SENTENCES:
            raise ToolError(
                f"The text has {len(all_sentences):,} sentences; summarize ranks at most {MAX_SENTENCES:,} "
                "(the work grows with the square of the count). Summarize it in parts, or use "
                "analyze_document, which summarises each section."
            )
        summarizer = summarizers[arguments.method](stemmers.null_stemmer)
        chosen = {str(s) for s in summarizer(document, arguments.sentences)}
        picked = [SummarySentence(index=i, text=s) for i, s in enumerate(all_sentences) if s in chosen]
        picked = picked[: arguments.sentences]  # a sentence repeated verbatim is taken once
        return SummarizeOutput(summary=" ".join(p.text for p in picked), sentences=picked,
                               total_sentences=len(all_sentences))
