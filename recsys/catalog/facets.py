"""Facet counts: how the items of a result set spread over genres, types, decades,
languages and maturity ratings ("Drama 120, Comedy 85, ...").

Counted on every search response, over the few hundred positions of the result set, so the
catalog is turned into integer codes once, at load time, and a call is a gather and a
``numpy.bincount`` per field, well under a millisecond:

- single-valued fields (type, decade, original language, maturity rating) hold one code
  per item; an item without a value gets the "unknown" code, so a field's counts add up to
  the number of positions;
- genres are multi-valued: a CSR layout (``genre_starts`` offsets into ``genre_codes``), so
  an item with two genres counts once in each; an item without genres counts in none.

Values are coded in ascending order, so a stable sort by count gives the documented order
(count descending, then value ascending) for free. Genres and maturity ratings are grouped
case-insensitively, as the item table's filters compare them, and shown in their most
frequent spelling, so a facet value is always a valid filter value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

FACET_FIELDS = ("genre", "type", "year", "original_language", "maturity_rating")
UNKNOWN = "unknown"
# field -> (column, grouped case-insensitively?), as ItemTable.mask compares them
_TEXT_FIELDS = {
    "type": ("type", False),
    "original_language": ("original_language", False),
    "maturity_rating": ("maturity_rating", True),
}


def decade(year: int | None) -> str:
    """1994 -> "1990s"; None -> "unknown"."""
    return UNKNOWN if year is None else f"{year // 10 * 10}s"


def decade_bounds(bucket: str) -> tuple[int, int] | None:
    """ "1990s" -> (1990, 1999), the year filter a decade facet value stands for; None for
    "unknown" or anything that is no decade."""
    digits = bucket.removesuffix("s")
    if bucket == digits or not digits.isdigit() or int(digits) % 10:
        return None
    return int(digits), int(digits) + 9


class FacetTable:
    def __init__(
        self,
        single: dict[str, tuple[np.ndarray, list[str]]],
        genre_starts: np.ndarray,
        genre_codes: np.ndarray,
        genre_values: list[str],
    ) -> None:
        """Use :meth:`from_frame`: ``single`` maps a field to (code per item, values)."""
        self._single = single
        self._genre_starts = genre_starts
        self._genre_codes = genre_codes
        self._genre_values = genre_values

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> FacetTable:
        """Codes for the catalog frame's rows, in row (item position) order; missing
        columns read as all unknown."""
        single = {
            field: _encode([_text(v) for v in _column(frame, column)], fold_case)
            for field, (column, fold_case) in _TEXT_FIELDS.items()
        }
        single["year"] = _encode([decade(v) for v in _column(frame, "year")], fold_case=False)
        lists = [[g for g in genres or [] if g] for genres in _column(frame, "genres")]
        lengths = np.array([len(genres) for genres in lists], dtype=np.int64)
        starts = np.zeros(len(lists) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        flat, values = _encode([g for genres in lists for g in genres], fold_case=True)
        return cls(single, starts, flat, values)

    def __len__(self) -> int:
        return len(self._genre_starts) - 1

    def counts(
        self, positions: np.ndarray, fields: Sequence[str] = FACET_FIELDS, top: int = 20
    ) -> dict[str, list[tuple[str, int]]]:
        """Per field, (value, number of positions with it), most frequent first, ties by
        value, at most ``top``; values no position has are left out. A position listed
        twice counts twice."""
        unknown = [field for field in fields if field not in FACET_FIELDS]
        if unknown:
            raise ValueError(f"unknown facet fields {unknown}; expected some of {FACET_FIELDS}")
        if top < 1:
            raise ValueError(f"top must be at least 1, got {top}")
        positions = np.asarray(positions, dtype=np.int64)
        out: dict[str, list[tuple[str, int]]] = {}
        for field in fields:
            if field == "genre":
                codes, values = (
                    self._genre_codes[self._genre_offsets(positions)],
                    self._genre_values,
                )
            else:
                item_codes, values = self._single[field]
                codes = item_codes[positions]
            out[field] = _top(np.bincount(codes, minlength=len(values)), values, top)
        return out

    def _genre_offsets(self, positions: np.ndarray) -> np.ndarray:
        """Indexes into ``genre_codes`` of every genre of every position (CSR gather)."""
        starts = self._genre_starts[positions]
        lengths = self._genre_starts[positions + 1] - starts
        total = int(lengths.sum())
        # each position's run start, minus where its run begins in the output
        shifts = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        return shifts + np.arange(total, dtype=np.int64)


def _top(counts: np.ndarray, values: list[str], top: int) -> list[tuple[str, int]]:
    order = np.argsort(-counts, kind="stable")[:top]  # codes ascend with values: ties by value
    return [(values[code], int(counts[code])) for code in order.tolist() if counts[code] > 0]


def _encode(raw: list[str], fold_case: bool) -> tuple[np.ndarray, list[str]]:
    """(code per value, the values sorted); with ``fold_case`` values equal but for case
    share a code, shown in their most frequent spelling (ties: the first sorted)."""
    keys = [value.casefold() for value in raw] if fold_case else raw
    spellings: dict[str, Counter[str]] = {}
    for key, value in zip(keys, raw, strict=True):
        spellings.setdefault(key, Counter())[value] += 1
    shown = {key: max(sorted(c), key=c.__getitem__) for key, c in spellings.items()}
    ordered = sorted(set(shown.values()))
    code_of = {value: code for code, value in enumerate(ordered)}
    codes = np.array([code_of[shown[key]] for key in keys], dtype=np.int64)
    return codes, ordered


def _column(frame: pl.DataFrame, name: str) -> list[Any]:
    return frame[name].to_list() if name in frame.columns else [None] * frame.height


def _text(value: str | None) -> str:
    return value.strip() if value and value.strip() else UNKNOWN
