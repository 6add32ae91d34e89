"""Query language: the script from the characters, the language from lingua.

Search uses it to prefer documents in the query's language (items whose original language
or one of whose localizations matches) and reports it in the response. Detection is
restricted to the languages the catalog actually has, which makes lingua both faster and
more accurate; short Latin-script queries ("amelie", "the godfather") are genuinely
ambiguous and get no language unless lingua is confident.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

# scripts that name their language outright (Han alone is Chinese or Japanese: lingua decides)
SCRIPT_LANGUAGE = {"HIRAGANA": "ja", "KATAKANA": "ja", "HANGUL": "ko", "THAI": "th"}
MIN_CONFIDENCE = 0.5
MIN_LATIN_WORDS = 2  # one Latin word is as likely a name as a sentence in any language


@dataclass(frozen=True)
class QueryLanguage:
    lang: str | None  # ISO 639-1, None when unsure
    script: str | None  # Unicode script of most letters: "LATIN", "CJK", "HANGUL", ...
    confidence: float


def script_of(text: str) -> str | None:
    """The script most letters of ``text`` belong to (from their Unicode names)."""
    counts: Counter[str] = Counter()
    for char in text:
        if unicodedata.category(char).startswith("L"):
            name = unicodedata.name(char, "")
            if name:
                counts[name.split(" ")[0]] += 1
    if not counts:
        return None
    if counts.get("HIRAGANA") or counts.get("KATAKANA"):
        return "HIRAGANA" if counts["HIRAGANA"] >= counts["KATAKANA"] else "KATAKANA"
    return counts.most_common(1)[0][0]


def lingua_language(code: str) -> Language | None:
    try:
        return Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))
    except (AttributeError, ValueError):
        return None


class LanguageDetector:
    """Detects among ``languages`` (ISO 639-1 codes; those lingua does not know are
    skipped). Models load lazily on first use, per language."""

    def __init__(self, languages: Iterable[str]) -> None:
        known = {lang for code in set(languages) if (lang := lingua_language(code))}
        self.languages = sorted(lang.iso_code_639_1.name.lower() for lang in known)
        self._detector = (
            LanguageDetectorBuilder.from_languages(*known).build() if len(known) >= 2 else None
        )
        self._fixed = self.languages[0] if len(known) == 1 else None

    def detect(self, text: str) -> QueryLanguage:
        script = script_of(text)
        if script is None:
            return QueryLanguage(None, None, 0.0)
        if script in SCRIPT_LANGUAGE:
            return QueryLanguage(SCRIPT_LANGUAGE[script], script, 1.0)
        if script == "LATIN" and len(text.split()) < MIN_LATIN_WORDS:
            return QueryLanguage(None, script, 0.0)
        if self._detector is None:
            return QueryLanguage(self._fixed, script, 1.0 if self._fixed else 0.0)
        values = self._detector.compute_language_confidence_values(text)
        if not values or values[0].value < MIN_CONFIDENCE:
            return QueryLanguage(None, script, values[0].value if values else 0.0)
        best = values[0]
        return QueryLanguage(best.language.iso_code_639_1.name.lower(), script, best.value)
