"""Title handling: MovieLens title parsing, article un-inversion, match keys."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import polars as pl

from recsys.core.text import normalize_title, uninvert

__all__ = [
    "ParsedTitle",
    "normalize_series",
    "normalize_title",
    "parse_movielens_title",
    "uninvert",
]

# "(1995)" or "(2006–2007)" at the end, possibly followed by spaces
_YEAR = re.compile(r"\s*\((?P<year>\d{4})(?P<range>\s*[–-]\s*(?:\d{4})?)?\)\s*$")
# trailing parenthesized groups: " (Cité des enfants perdus, La) (a.k.a. X)"
_TRAILING_GROUP = re.compile(r"\s+\((?P<alt>[^()]*)\)\s*$")
_AKA = re.compile(r"^(?:a\.k\.a\.|aka)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedTitle:
    title: str
    alt_titles: list[str] = field(default_factory=list)
    year: int | None = None
    year_problem: str | None = None  # None, "year_missing" or "year_range"


def parse_movielens_title(raw: str) -> ParsedTitle:
    """Split a MovieLens title into display title, alternative titles and year.

    "Léon: The Professional (a.k.a. The Professional) (Léon) (1994)"
      -> ParsedTitle("Léon: The Professional", ["The Professional", "Léon"], 1994)
    A year range "(2006–2007)" gives the first year; no year gives None.
    """
    text = " ".join(raw.split())
    year: int | None = None
    problem: str | None = None
    m = _YEAR.search(text)
    if m:
        year = int(m.group("year"))
        if m.group("range"):
            problem = "year_range"
        text = text[: m.start()]
    else:
        problem = "year_missing"
    alts: list[str] = []
    while True:
        g = _TRAILING_GROUP.search(text)
        # keep the group when nothing would be left of the title, e.g. "(500) Days of Summer"
        if not g or not text[: g.start()].strip():
            break
        alt = _AKA.sub("", g.group("alt").strip())
        if alt:
            alts.insert(0, uninvert(alt))
        text = text[: g.start()]
    title = uninvert(text.strip()) or raw.strip()
    unique_alts: list[str] = []
    for alt in alts:
        if alt != title and alt not in unique_alts:
            unique_alts.append(alt)
    return ParsedTitle(title, unique_alts, year, problem)


def normalize_series(values: pl.Series) -> pl.Series:
    """normalize_title over a string Series, computing each distinct value once."""
    cache = {v: normalize_title(v) for v in values.unique().to_list() if v is not None}
    return values.replace_strict(cache, default=None, return_dtype=pl.Utf8)
