"""Text normalisation shared by ingestion (title matching) and retrieval (title lexicon)."""

from __future__ import annotations

import re
import unicodedata

_ARTICLES = (
    "the",
    "a",
    "an",
    "les",
    "la",
    "le",
    "l'",
    "il",
    "lo",
    "der",
    "die",
    "das",
    "el",
    "los",
    "las",
    "un",
    "une",
    "i",
    "gli",
    "de",
    "het",
    "en",
    "ett",
    "o",
    "os",
    "as",
)
_INVERTED = re.compile(
    r"^(?P<body>.+?),\s*(?P<article>" + "|".join(re.escape(a) for a in _ARTICLES) + r")\s*$",
    re.IGNORECASE,
)
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def uninvert_title(title: str) -> str:
    """'Matrix, The' -> 'The Matrix'; "Homme, L'" -> "L'Homme"; otherwise unchanged."""
    match = _INVERTED.match(title.strip())
    if not match:
        return title.strip()
    article = match.group("article")
    joiner = "" if article.endswith("'") else " "
    return f"{article}{joiner}{match.group('body')}"


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalize_title(title: str) -> str:
    """Casefolded, accent-free, punctuation-free, single-spaced; articles un-inverted.

    Non-Latin scripts survive (千と千尋の神隠し stays as it is, NFKC-normalised).
    """
    text = unicodedata.normalize("NFKC", uninvert_title(title)).casefold().replace("&", " and ")
    text = strip_accents(text)
    return " ".join(_NON_WORD.sub(" ", text).split())


_LEADING_ARTICLE = re.compile(r"^(?:the|a|an|le|la|les|l|el|los|las|il|lo|der|die|das)\s+")


def strip_leading_article(normalized: str) -> str:
    """'the godfather' -> 'godfather' (input already normalized); keeps one-word titles."""
    stripped = _LEADING_ARTICLE.sub("", normalized, count=1)
    return stripped or normalized
