from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tools.base import Annotations, Tool, ToolContext
from tools.lazy import lazy_module

yake = lazy_module("yake")

Language = Literal["en", "es", "fr", "pt", "de", "it", "nl", "ru", "ar", "pl", "sv", "da", "fi", "no", "tr"]

# YAKE's cost grows with the text and with max_ngram: at 2,000,000 characters and five-word
# phrases it took 36 s and 1.6 GB; 300,000 characters stay within a few seconds.
MAX_TEXT_CHARACTERS = 300_000


class ExtractKeywordsInput(BaseModel):
    text: str = Field(description="The text to find keywords in.", max_length=MAX_TEXT_CHARACTERS)
    language: Language = Field(default="en", description="The text's language, for YAKE's stop words.")
    max_keywords: int = Field(default=10, ge=1, le=100)
    max_ngram: int = Field(default=3, ge=1, le=5, description="Longest key phrase, in words.")


class Keyword(BaseModel):
    keyword: str
    relevance: float = Field(description="0-1, higher is more relevant (1 for the best keyword).")
    yake_score: float = Field(description="YAKE's raw score: lower is more relevant.")


class ExtractKeywordsOutput(BaseModel):
    keywords: list[Keyword]


class ExtractKeywordsTool(Tool):
    name = "extract_keywords"
    title = "Extract keywords"
    description = "Find the keywords and key phrases of a text (YAKE, unsupervised; no model download)."
    input_model = ExtractKeywordsInput
    output_model = ExtractKeywordsOutput
    annotations = Annotations(read_only=True, idempotent=True)
    cacheable = True

    def run(self, arguments: ExtractKeywordsInput, ctx: ToolContext) -> ExtractKeywordsOutput:
        if not arguments.text.strip():
            return ExtractKeywordsOutput(keywords=[])
        extractor = yake.KeywordExtractor(lan=arguments.language, n=arguments.max_ngram, top=arguments.max_keywords)
        found = extractor.extract_keywords(arguments.text)
        # YAKE scores are positive and lower-is-better with no upper bound; relevance is
        # best_score / score, so the best keyword gets 1 and the others their ratio to it.
        best = min((float(score) for _, score in found), default=0.0)
        keywords = [
            Keyword(keyword=kw, yake_score=float(score), relevance=round(best / float(score), 4) if score else 1.0)
            for kw, score in found
        ]
        return ExtractKeywordsOutput(keywords=keywords)
