"""The genre vocabulary: mapping known answers, aliases for filters, the documented table."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recsys.catalog.genres import (
    CANONICAL,
    SOURCE_GENRES,
    aliases,
    canonical_genres,
    markdown_table,
    normalize_genres,
)
from recsys.catalog.items import ItemTable
from recsys.core.types import SearchFilters
from tests.recsys.lexical_catalog import catalog_frame

README = Path(__file__).parents[3] / "data" / "README.md"


def test_inception_gets_one_vocabulary() -> None:
    # MovieLens + TMDB genres of Inception, as ingest used to keep them
    genres, unknown = canonical_genres(
        ["Action", "Crime", "Drama", "Mystery", "Sci-Fi", "Thriller", "IMAX", "Science Fiction"]
    )
    assert genres == ["Action", "Crime", "Drama", "Mystery", "Science Fiction", "Thriller"]
    assert unknown == []


def test_netflix_genres_map_to_canonical_ones() -> None:
    assert canonical_genres(["Comedies", "International Movies"])[0] == ["Comedy", "International"]
    assert canonical_genres(["TV Sci-Fi & Fantasy"])[0] == ["Science Fiction", "Fantasy"]
    assert canonical_genres(["Movies"])[0] == []


def test_unknown_source_genres_are_kept_and_reported() -> None:
    frame = pl.DataFrame({"genres": [["Dramas", "Space Opera"], None, ["Sci-Fi"]]})
    out, unknown = normalize_genres(frame)
    assert out["genres"].to_list() == [["Drama", "Space Opera"], [], ["Science Fiction"]]
    assert unknown == {"Space Opera": 1}


def test_every_mapping_lands_in_the_vocabulary() -> None:
    for mapped in SOURCE_GENRES.values():
        assert set(mapped) <= set(CANONICAL)
    assert set(aliases().values()) <= set(CANONICAL)


def test_filters_accept_every_alias() -> None:
    rows = [
        {"item_id": "a", "title": "A", "genres": ["Comedy"]},
        {"item_id": "b", "title": "B", "genres": ["Science Fiction", "Fantasy"]},
    ]
    items = ItemTable(catalog_frame(rows))
    for alias, expected in [
        ("comedy", ["a"]),
        ("Comedies", ["a"]),
        ("TV Comedies", ["a"]),
        ("sci-fi", ["b"]),
        ("SCIFI", ["b"]),
        ("Sci-Fi & Fantasy", ["b"]),
    ]:
        mask = items.mask(SearchFilters(genre=alias))
        assert mask is not None
        assert [items.ids[i] for i in mask.nonzero()[0]] == expected, alias


def test_the_documented_table_is_the_mapping() -> None:
    assert markdown_table() in README.read_text(encoding="utf-8")
