from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from tools.base import Annotations, Tool, ToolContext
from tools.lazy import lazy_module

if TYPE_CHECKING:
    import lingua
else:
    lingua = lazy_module("lingua")

# European languages and the most spoken world languages: a bounded set keeps the
# detector's memory and first-call time small.
LANGUAGES = [
    "ARABIC", "BULGARIAN", "CATALAN", "CHINESE", "CROATIAN", "CZECH", "DANISH", "DUTCH", "ENGLISH", "ESTONIAN",
    "FINNISH", "FRENCH", "GERMAN", "GREEK", "HEBREW", "HINDI", "HUNGARIAN", "INDONESIAN", "IRISH", "ITALIAN",
    "JAPANESE", "KOREAN", "LATVIAN", "LITHUANIAN", "NYNORSK", "BOKMAL", "PERSIAN", "POLISH", "PORTUGUESE",
    "ROMANIAN", "RUSSIAN", "SERBIAN", "SLOVAK", "SLOVENE", "SPANISH", "SWAHILI", "SWEDISH", "THAI", "TURKISH",
    "UKRAINIAN", "URDU", "VIETNAMESE", "BENGALI", "BASQUE", "ICELANDIC", "WELSH",
]
MIN_LETTERS = 3
MIN_CONFIDENCE = 0.5


@functools.cache
def _detector() -> lingua.LanguageDetector:
    return lingua.LanguageDetectorBuilder.from_languages(*(getattr(lingua.Language, n) for n in LANGUAGES)).build()


class DetectLanguageInput(BaseModel):
    text: str = Field(description="The text whose language to detect.", max_length=2_000_000)
    candidates: int = Field(default=3, ge=1, le=10, description="How many candidate languages to list.")


class LanguageCandidate(BaseModel):
    code: str = Field(description="ISO 639-1 code.")
    name: str
    confidence: float


class DetectLanguageOutput(BaseModel):
    code: str = Field(description='ISO 639-1 code, or "unknown".')
    name: str
    confidence: float
    candidates: list[LanguageCandidate]
    reason: str = Field(default="", description="Why the language is unknown, when it is.")


class DetectLanguageTool(Tool):
    name = "detect_language"
    title = "Detect language"
    description = 'Detect the language of a text (lingua), with confidence values; "unknown" when too short or unclear.'
    input_model = DetectLanguageInput
    output_model = DetectLanguageOutput
    annotations = Annotations(read_only=True, idempotent=True)
    cacheable = True

    def run(self, arguments: DetectLanguageInput, ctx: ToolContext) -> DetectLanguageOutput:
        if len(re.findall(r"[^\W\d_]", arguments.text)) < MIN_LETTERS:
            return DetectLanguageOutput(code="unknown", name="unknown", confidence=0.0, candidates=[],
                                        reason="The text has too few letters to tell.")
        # Long texts: the first 20,000 characters are plenty and keep the call fast.
        values = _detector().compute_language_confidence_values(arguments.text[:20_000])
        candidates = [
            LanguageCandidate(code=v.language.iso_code_639_1.name.lower(), name=v.language.name.title(),
                              confidence=round(v.value, 4))
            for v in values[: arguments.candidates]
            if v.value > 0
        ]
        if not candidates or candidates[0].confidence < MIN_CONFIDENCE:
            return DetectLanguageOutput(code="unknown", name="unknown",
                                        confidence=candidates[0].confidence if candidates else 0.0,
                                        candidates=candidates, reason="No language is clearly more likely.")
        best = candidates[0]
        return DetectLanguageOutput(code=best.code, name=best.name, confidence=best.confidence, candidates=candidates)
