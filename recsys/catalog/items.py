"""The catalog as the engine reads it: positions, filter masks and display views.

Built once at load time from the catalog frame; every request-time lookup is an array
index or a dict lookup, never a frame scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from recsys.catalog.genres import aliases
from recsys.core.errors import InvalidParameterError, NotFoundError
from recsys.core.types import Hit, SearchFilters

NO_YEAR = -1
GENRE_ALIASES = aliases()  # any accepted spelling (casefolded) -> its canonical genre


def row_titles(row: dict[str, Any]) -> list[str]:
    """Every title a catalog row is known by, once each, in order: display, original,
    alternates, then localized titles (missing columns and empty values skipped)."""
    names = [row.get("title"), row.get("original_title"), *(row.get("alt_titles") or [])]
    names += [loc.get("title") for loc in row.get("localizations") or [] if loc]
    return list(dict.fromkeys(name for name in names if name))


class ItemTable:
    def __init__(self, catalog: pl.DataFrame) -> None:
        self.frame = catalog
        self._rows: list[dict[str, Any]] = catalog.to_dicts()
        self.ids: list[str] = [r["item_id"] for r in self._rows]
        self._position = {item_id: i for i, item_id in enumerate(self.ids)}
        self.types = np.array([r["type"] for r in self._rows], dtype=object)
        self.years = np.array(
            [r["year"] if r["year"] is not None else NO_YEAR for r in self._rows], dtype=np.int32
        )
        genre_masks: dict[str, np.ndarray] = {}
        for i, row in enumerate(self._rows):
            for genre in row["genres"] or []:
                key = genre.casefold()
                if key not in genre_masks:
                    genre_masks[key] = np.zeros(len(self._rows), dtype=bool)
                genre_masks[key][i] = True
        self._genres = genre_masks
        self.original_languages = np.array(
            [r["original_language"] or "" for r in self._rows], dtype=object
        )
        self.maturity_ratings = np.array(
            [(r["maturity_rating"] or "").casefold() for r in self._rows], dtype=object
        )
        self._localized: list[dict[str, dict[str, Any]]] = [
            {loc["lang"]: loc for loc in (r["localizations"] or [])} for r in self._rows
        ]
        self._localized_masks: dict[str, np.ndarray] = {}
        self._language_masks: dict[str, np.ndarray] = {}
        # the values filters accept (anything else is a 422 naming these)
        self._genre_display = sorted(
            {g for r in self._rows for g in (r["genres"] or [])}, key=str.casefold
        )
        self._language_values = sorted({lang for lang in self.original_languages if lang})
        self._rating_values = sorted(
            {r["maturity_rating"] for r in self._rows if r["maturity_rating"]}
        )
        self._rating_keys = {rating.casefold() for rating in self._rating_values}

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def genres(self) -> list[str]:
        """Genres as the catalog spells them (filters match them case-insensitively)."""
        return self._genre_display

    def year_of(self, position: int) -> int | None:
        year = int(self.years[position])
        return None if year == NO_YEAR else year

    def position(self, item_id: str) -> int:
        try:
            return self._position[item_id]
        except KeyError:
            raise NotFoundError(f"unknown item_id {item_id!r}") from None

    def positions(self, item_ids: Sequence[str]) -> np.ndarray:
        return np.array([self._position[i] for i in item_ids], dtype=np.int64)

    def title_variants(self) -> list[list[str]]:
        return [row_titles(row) for row in self._rows]

    def localized_mask(self, lang: str) -> np.ndarray:
        """Items with a localization in ``lang`` (computed once per language, read-only)."""
        if lang not in self._localized_masks:
            mask = np.array([lang in loc for loc in self._localized], dtype=bool)
            mask.setflags(write=False)
            self._localized_masks[lang] = mask
        return self._localized_masks[lang]

    def mask(self, filters: SearchFilters | None) -> np.ndarray | None:
        """Boolean mask of items passing the filters, or None when nothing is filtered."""
        if filters is None or filters.is_empty():
            return None
        mask = np.ones(len(self._rows), dtype=bool)
        if filters.type is not None:
            mask &= self.types == filters.type
        if filters.genre is not None:
            wanted = filters.genre.casefold()
            genre = self._genres.get(GENRE_ALIASES.get(wanted, wanted).casefold())
            if genre is None:
                raise InvalidParameterError("genre", filters.genre, self.genres)
            mask &= genre
        if filters.year_min is not None:
            mask &= self.years >= filters.year_min
        if filters.year_max is not None:
            mask &= (self.years <= filters.year_max) & (self.years != NO_YEAR)
        if filters.original_language is not None:
            if filters.original_language not in self._language_values:
                raise InvalidParameterError(
                    "original_language", filters.original_language, self._language_values
                )
            mask &= self.original_languages == filters.original_language
        if filters.maturity_ratings is not None:
            ratings = [rating.casefold() for rating in filters.maturity_ratings]
            for rating, key in zip(filters.maturity_ratings, ratings, strict=True):
                if key not in self._rating_keys:
                    raise InvalidParameterError("maturity_rating", rating, self._rating_values)
            mask &= np.isin(self.maturity_ratings, ratings)
        return mask

    def language_mask(self, lang: str) -> np.ndarray:
        """Items originally in ``lang`` or localized into it (once per language, read-only:
        search asks for it on every query in a detected non-English language)."""
        if lang not in self._language_masks:
            mask = (self.original_languages == lang) | self.localized_mask(lang)
            mask.setflags(write=False)
            self._language_masks[lang] = mask
        return self._language_masks[lang]

    def _localize(self, position: int, lang: str | None) -> tuple[str, str | None, str | None]:
        row = self._rows[position]
        if lang:
            loc = self._localized[position].get(lang)
            if loc and loc.get("title"):
                return loc["title"], loc.get("description") or row["description"], lang
            if lang == row["original_language"] and row["original_title"]:
                return row["original_title"], row["description"], lang
        return row["title"], row["description"], None

    def hit(self, position: int, score: float, lang: str | None = None) -> Hit:
        row = self._rows[position]
        title, description, shown_lang = self._localize(position, lang)
        return Hit(
            item_id=row["item_id"],
            title=title,
            original_title=row["original_title"],
            year=row["year"],
            type=row["type"],
            genres=list(row["genres"] or []),
            score=round(float(score), 6),
            description=description,
            lang=shown_lang,
            original_language=row["original_language"],
            maturity_rating=row["maturity_rating"],
        )

    def details(self, position: int, lang: str | None = None) -> dict[str, Any]:
        """Every catalog field, with ``title`` and ``description`` in the requested language
        when the item has them (``lang`` says which; null: the catalog's own), exactly as
        search, similar and recommendations show them; ``original_title`` is kept, and
        ``available_langs`` lists the localizations."""
        row = dict(self._rows[position])
        title, description, shown_lang = self._localize(position, lang)
        row.update(
            title=title,
            description=description,
            lang=shown_lang,
            available_langs=sorted(self._localized[position]),
        )
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in row.items()}
