"""Title text handling shared by ingestion (matching Netflix to MovieLens) and retrieval
(the title lexicon): article un-inversion and the normalized match key."""

from __future__ import annotations

import re
import unicodedata

# Articles that MovieLens (and library-style catalogs) move to the end: "Matrix, The".
ARTICLES = (
    "The", "A", "An",
    "Le", "La", "Les", "L'", "L’", "Un", "Une",
    "Il", "I", "Lo", "Gli", "Una", "Uno",
    "El", "Los", "Las",
    "Der", "Die", "Das", "Ein", "Eine",
    "De", "Den", "Det", "En", "Het", "Een",
    "Da",
)  # fmt: skip
_ARTICLE_ALT = "|".join(re.escape(a) for a in sorted(ARTICLES, key=len, reverse=True))
# "Body, The" or "Body, The: Subtitle" (articles case-sensitive: "Good, the Bad..." stays)
_INVERTED = re.compile(rf"^(?P<body>.+?),\s*(?P<art>{_ARTICLE_ALT})(?P<rest>:\s.*)?$")
_APOSTROPHES = re.compile(r"['’`´]")
# scripts whose combining marks are accents (é -> e); elsewhere marks are letters
_ACCENTED_SCRIPTS_END = 0x0530  # Latin, IPA, Greek, Cyrillic
_LATIN_EXTENDED_ADDITIONAL = range(0x1E00, 0x2000)
# a leading article dropped for a second lexicon key ("the godfather" -> "godfather");
# German "die" is left out on purpose: "die hard" is no article
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an|le|la|les|el|los|las|il|lo|der|das)\s+")


def uninvert(title: str) -> str:
    """Move a trailing article to the front.

    "City of Lost Children, The" -> "The City of Lost Children"; "Ours, L'" -> "L'Ours";
    "Crow, The: Wicked Prayer" -> "The Crow: Wicked Prayer".
    """
    title = " ".join(title.split())
    match = _INVERTED.match(title)
    if not match:
        return title
    art, body, rest = match.group("art"), match.group("body"), match.group("rest") or ""
    sep = "" if art.endswith(("'", "’")) else " "
    return f"{art}{sep}{body}{rest}"


uninvert_title = uninvert


def strip_accents(text: str) -> str:
    """Drop accents from Latin, Greek and Cyrillic letters; other scripts are untouched
    (Japanese dakuten, Devanagari vowel signs and Hangul syllables are letters, not accents)."""
    out: list[str] = []
    for char in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(char) and out:
            base = ord(out[-1][-1])
            if base < _ACCENTED_SCRIPTS_END or base in _LATIN_EXTENDED_ADDITIONAL:
                continue
        out.append(char)
    return unicodedata.normalize("NFC", "".join(out))


def is_word_char(char: str) -> bool:
    """A letter, digit or combining mark (Unicode categories L, N, M)."""
    return unicodedata.category(char)[0] in "LNM"


def fold(text: str) -> str:
    """NFKC, casefold, accents stripped, apostrophes dropped, "&" spelled "and": the
    form both titles and search tokens are compared in ("Amélie" and "amelie" agree)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _APOSTROPHES.sub("", strip_accents(text).replace("&", " and "))


def normalize_title(title: str | None) -> str:
    """Match key: un-invert articles, NFKC, casefold, strip accents, drop punctuation.

    "Amélie, The" -> "the amelie"; "Schindler's List" -> "schindlers list";
    "Spider-Man" -> "spider man"; "Dumb & Dumber" -> "dumb and dumber";
    "千と千尋の神隠し" and "パプリカ" stay as they are.
    """
    if not title:
        return ""
    text = fold(uninvert(title.strip()))
    return " ".join("".join(c if is_word_char(c) else " " for c in text).split())


def strip_leading_article(normalized: str) -> str:
    """'the godfather' -> 'godfather' (input already normalized); keeps one-word titles."""
    stripped = _LEADING_ARTICLE.sub("", normalized, count=1)
    return stripped or normalized


def is_unsegmented(char: str) -> bool:
    """Scripts written without spaces between words (Han, kana, Hangul syllables, Thai,
    Lao, Khmer, Myanmar): tokenized as character bigrams."""
    code = ord(char)
    if code < _UNSEGMENTED_RANGES[0][0]:  # Latin, Greek, Cyrillic, Arabic, Indic...: fast
        return False
    return any(low <= code <= high for low, high in _UNSEGMENTED_RANGES)


_UNSEGMENTED_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x31FF),  # Bopomofo, Hangul compatibility Jamo, Katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x2FA1F),  # CJK extensions B..F, compatibility supplement
)


def search_tokens(text: str | None) -> list[str]:
    """Lexical tokens: folded words for spaced scripts, overlapping character bigrams for
    CJK, Thai and the like ("千と千尋" -> 千と, と千, 千尋), so a query matches inside
    unsegmented text. A lone unsegmented character stays a unigram."""
    if not text:
        return []
    tokens: list[str] = []
    for run in "".join(c if is_word_char(c) else " " for c in fold(text)).split():
        start = 0
        for i in range(1, len(run) + 1):
            if i < len(run) and is_unsegmented(run[i]) == is_unsegmented(run[start]):
                continue
            piece = run[start:i]
            if is_unsegmented(piece[0]) and len(piece) > 1:
                tokens.extend(piece[j : j + 2] for j in range(len(piece) - 1))
            else:
                tokens.append(piece)
            start = i
    return tokens
