"""Facet counts over result positions: known answers, multi-valued genres, order, limits."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from recsys.catalog.facets import (
    FACET_FIELDS,
    FacetTable,
    decade,
    decade_bounds,
)
from tests.recsys.lexical_catalog import catalog_frame

ROWS: list[dict[str, Any]] = [
    {"item_id": "0", "type": "movie", "year": 1994, "genres": ["Drama", "Crime"],
     "original_language": "en", "maturity_rating": "R"},
    {"item_id": "1", "type": "movie", "year": 1999, "genres": ["Drama"],
     "original_language": "fr", "maturity_rating": "r"},
    {"item_id": "2", "type": "tv_show", "year": 2005, "genres": ["Comedy", "drama"],
     "original_language": "en", "maturity_rating": "TV-MA"},
    {"item_id": "3", "type": "movie", "year": None, "genres": [],
     "original_language": None, "maturity_rating": None},
    {"item_id": "4", "type": "tv_show", "year": 2010, "genres": None,
     "original_language": "ja", "maturity_rating": "TV-MA"},
    {"item_id": "5", "type": "movie", "year": 2001, "genres": ["Animation", "Comedy"],
     "original_language": "ja", "maturity_rating": "PG"},
]  # fmt: skip
ALL = np.arange(len(ROWS))


@pytest.fixture(scope="module")
def table() -> FacetTable:
    return FacetTable.from_frame(catalog_frame(ROWS))


def test_known_counts_over_every_item(table: FacetTable) -> None:
    assert len(table) == 6
    assert table.counts(ALL) == {
        # Drama in 3 items (one spelled "drama": grouped, shown as the most frequent spelling)
        "genre": [("Drama", 3), ("Comedy", 2), ("Animation", 1), ("Crime", 1)],
        "type": [("movie", 4), ("tv_show", 2)],
        "year": [("1990s", 2), ("2000s", 2), ("2010s", 1), ("unknown", 1)],
        "original_language": [("en", 2), ("ja", 2), ("fr", 1), ("unknown", 1)],
        "maturity_rating": [("R", 2), ("TV-MA", 2), ("PG", 1), ("unknown", 1)],
    }


def test_counts_follow_the_positions(table: FacetTable) -> None:
    counts = table.counts(np.array([5, 2]), ["genre", "type", "year"])
    assert counts == {
        "genre": [("Comedy", 2), ("Animation", 1), ("Drama", 1)],
        "type": [("movie", 1), ("tv_show", 1)],
        "year": [("2000s", 2)],
    }


def test_a_multi_genre_item_counts_once_in_each_genre(table: FacetTable) -> None:
    assert table.counts(np.array([0]), ["genre"]) == {"genre": [("Crime", 1), ("Drama", 1)]}
    assert table.counts(np.array([3, 4]), ["genre"]) == {"genre": []}  # no genres at all


@pytest.mark.parametrize("positions", [ALL, np.array([0, 3, 4]), np.array([4, 1, 2, 5])])
def test_single_valued_fields_add_up_to_the_positions(
    table: FacetTable, positions: np.ndarray
) -> None:
    counts = table.counts(positions, [f for f in FACET_FIELDS if f != "genre"])
    assert {field: sum(n for _, n in values) for field, values in counts.items()} == {
        "type": len(positions),
        "year": len(positions),
        "original_language": len(positions),
        "maturity_rating": len(positions),
    }


def test_empty_positions(table: FacetTable) -> None:
    empty = np.array([], dtype=np.int64)
    assert table.counts(empty) == {field: [] for field in FACET_FIELDS}


def test_top_limits_each_field(table: FacetTable) -> None:
    counts = table.counts(ALL, ["genre", "year"], top=2)
    assert counts == {"genre": [("Drama", 3), ("Comedy", 2)], "year": [("1990s", 2), ("2000s", 2)]}
    with pytest.raises(ValueError, match="top"):
        table.counts(ALL, ["genre"], top=0)


def test_fields_come_back_in_the_order_asked(table: FacetTable) -> None:
    assert list(table.counts(ALL, ["year", "genre"])) == ["year", "genre"]
    assert table.counts(ALL, []) == {}


def test_unknown_field_names_the_allowed_ones(table: FacetTable) -> None:
    with pytest.raises(ValueError, match="unknown facet fields") as error:
        table.counts(ALL, ["genre", "country"])
    assert all(field in str(error.value) for field in FACET_FIELDS)


def test_positions_as_a_list(table: FacetTable) -> None:
    positions: Any = [0, 1]
    assert table.counts(positions, ["type"]) == {"type": [("movie", 2)]}


def test_missing_columns_count_as_unknown() -> None:
    table = FacetTable.from_frame(pl.DataFrame({"item_id": ["a", "b"], "year": [1985, 2020]}))
    counts = table.counts(np.array([0, 1]))
    assert counts["year"] == [("1980s", 1), ("2020s", 1)]
    assert counts["type"] == [("unknown", 2)]
    assert counts["genre"] == []


def test_counting_many_positions_in_a_large_table() -> None:
    n = 20_000
    rng = np.random.default_rng(0)
    frame = pl.DataFrame(
        {
            "type": rng.choice(["movie", "tv_show"], n).tolist(),
            "year": rng.integers(1950, 2025, n).tolist(),
            "genres": [["Drama", "Comedy"][: i % 3] for i in range(n)],
        }
    )
    table = FacetTable.from_frame(frame)
    positions = rng.choice(n, 300, replace=False)
    counts = table.counts(positions)
    genres = dict(counts["genre"])
    assert genres["Drama"] == int(np.sum(positions % 3 >= 1))
    assert genres["Comedy"] == int(np.sum(positions % 3 == 2))
    assert sum(count for _, count in counts["year"]) == 300


@pytest.mark.parametrize(
    ("year", "bucket"), [(1994, "1990s"), (2000, "2000s"), (2009, "2000s"), (None, "unknown")]
)
def test_decade(year: int | None, bucket: str) -> None:
    assert decade(year) == bucket


@pytest.mark.parametrize(
    ("bucket", "bounds"),
    [("1990s", (1990, 1999)), ("2020s", (2020, 2029)), ("unknown", None), ("1995s", None)],
)
def test_decade_bounds(bucket: str, bounds: tuple[int, int] | None) -> None:
    assert decade_bounds(bucket) == bounds
