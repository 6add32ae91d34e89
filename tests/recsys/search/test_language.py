"""Query script and language detection."""

from __future__ import annotations

import pytest

from recsys.search.language import LanguageDetector, script_of

LANGS = ["en", "fr", "de", "es", "it", "ja", "ko", "zh", "ru"]


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector(LANGS)


@pytest.mark.parametrize(
    ("text", "script"),
    [("Amélie", "LATIN"), ("千と千尋", "HIRAGANA"), ("霸王别姬", "CJK"), ("기생충", "HANGUL"),
     ("Кин-дза-дза", "CYRILLIC"), ("123 !", None)],
)  # fmt: skip
def test_script(text: str, script: str | None) -> None:
    assert script_of(text) == script


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("千と千尋の神隠し", "ja"),
        ("기생충", "ko"),
        ("un film sur un garçon qui rêve de devenir cuisinier", "fr"),
        ("ein Film über einen Spion in Ost-Berlin", "de"),
        ("una famiglia povera in una grande città", "it"),
    ],
)
def test_language_of_clear_queries(detector: LanguageDetector, text: str, lang: str) -> None:
    assert detector.detect(text).lang == lang


def test_single_latin_word_is_not_guessed(detector: LanguageDetector) -> None:
    guess = detector.detect("amelie")
    assert guess.lang is None and guess.script == "LATIN"


def test_only_the_given_languages_are_answered() -> None:
    detector = LanguageDetector(["en", "fr", "xx"])  # "xx" is not a language: skipped
    assert detector.languages == ["en", "fr"]
    assert detector.detect("ein Film über einen Spion in Berlin").lang in {None, "en", "fr"}


def test_no_letters_no_language(detector: LanguageDetector) -> None:
    assert detector.detect("1984 !!").lang is None
