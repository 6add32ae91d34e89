"""The catalog table: rows read from the frame on demand (localized hits and details),
filter masks and title variants built from columns, on known rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys.catalog.items import ItemTable
from recsys.core.types import SearchFilters
from tests.recsys.lexical_catalog import catalog_frame

ROWS: list[dict[str, Any]] = [
    {
        "item_id": "a",
        "title": "Amelie",
        "original_title": "Le Fabuleux Destin d'Amélie Poulain",
        "original_language": "fr",
        "year": 2001,
        "genres": ["Comedy", "Romance"],
        "description": "A shy waitress.",
        "maturity_rating": "R",
        "alt_titles": ["Amélie"],
        "localizations": [
            {"lang": "de", "title": "Die fabelhafte Welt der Amélie", "description": None},
            {"lang": "es", "title": "Amélie", "description": "Una camarera tímida."},
        ],
    },
    {
        "item_id": "b",
        "type": "tv_show",
        "title": "Dark",
        "original_language": "de",
        "genres": ["Drama"],
        "description": "Four families.",
        "maturity_rating": "tv-ma",
    },
    {"item_id": "c", "title": "Untitled", "year": 1999},
]


def table() -> ItemTable:
    return ItemTable(catalog_frame(ROWS))


def test_hits_read_their_row_in_the_requested_language() -> None:
    items = table()
    assert len(items) == 3 and items.ids == ["a", "b", "c"]
    hit = items.hit(0, 0.5, "es")
    assert (hit.title, hit.description, hit.lang) == ("Amélie", "Una camarera tímida.", "es")
    assert hit.genres == ["Comedy", "Romance"] and hit.year == 2001 and hit.score == 0.5
    german = items.hit(0, 0.0, "de")  # a localized title without a description
    assert (german.title, german.description) == (
        "Die fabelhafte Welt der Amélie",
        "A shy waitress.",
    )
    original = items.hit(0, 0.0, "fr")  # no localization, but the original language
    assert (original.title, original.lang) == ("Le Fabuleux Destin d'Amélie Poulain", "fr")
    plain = items.hit(2, 0.0, "ja")
    assert (plain.title, plain.lang, plain.genres, plain.year) == ("Untitled", None, [], 1999)


def test_details_show_every_field_and_the_available_languages() -> None:
    details = table().details(0, "es")
    assert details["available_langs"] == ["de", "es"] and details["lang"] == "es"
    assert details["title"] == "Amélie" and details["alt_titles"] == ["Amélie"]
    assert details["original_title"] == "Le Fabuleux Destin d'Amélie Poulain"


def test_filters_and_language_masks_come_from_columns() -> None:
    items = table()

    def ids(mask: np.ndarray | None) -> list[str]:
        assert mask is not None
        return [items.ids[i] for i in np.flatnonzero(mask)]

    assert ids(items.mask(SearchFilters(genre="comedies"))) == ["a"]
    assert ids(items.mask(SearchFilters(type="tv_show"))) == ["b"]
    assert ids(items.mask(SearchFilters(maturity_ratings=["TV-MA", "r"]))) == ["a", "b"]
    assert ids(items.mask(SearchFilters(year_max=2000))) == ["c"]
    assert ids(items.mask(SearchFilters(original_language="de"))) == ["b"]
    assert ids(items.language_mask("de")) == ["a", "b"]  # localized into, or originally in
    assert ids(items.localized_mask("es")) == ["a"] and not items.localized_mask("ja").any()
    assert items.genres == ["Comedy", "Drama", "Romance"]
    assert items.year_of(1) is None and items.year_of(2) == 1999


def test_title_variants_list_every_name_once() -> None:
    variants = table().title_variants()
    assert variants[0] == [
        "Amelie",
        "Le Fabuleux Destin d'Amélie Poulain",
        "Amélie",
        "Die fabelhafte Welt der Amélie",
    ]
    assert variants[1:] == [["Dark"], ["Untitled"]]
