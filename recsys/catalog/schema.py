"""Stage 1: the catalog frame, its documented schema and its validation.

Every source (MovieLens + TMDB enrichment, Netflix titles) is normalized into one
frame with exactly these columns. Later stages read only this frame.

- item_id (str): MovieLens movieId as string ("5618") or Netflix show_id ("s34")
- type (str): "movie" or "tv_show"
- title (str): display title (English where known)
- original_title (str?): title in the original language/script
- alt_titles (list[str]): other known titles (MovieLens parentheses, Netflix)
- original_language (str?): ISO 639-1 code
- year (i32?): release year
- release_date (date?)
- genres (list[str]): normalized genre names
- keywords (list[str]): TMDB keywords
- description (str?): English overview / description
- localizations (list[struct{lang, title, description}]): native-language titles and overviews
- cast (list[str])
- directors (list[str])
- countries (list[str]): production countries (names)
- spoken_languages (list[str]): ISO 639-1 codes
- runtime_min (i32?): movie runtime in minutes
- seasons (i32?): number of seasons (TV shows)
- maturity_rating (str?): e.g. "PG-13", "TV-MA"
- popularity (f64?): TMDB popularity
- vote_average (f64?): TMDB vote average
- vote_count (i64?): TMDB vote count
- movielens_id (i64?)
- tmdb_id (i64?)
- imdb_id (str?): "tt0114709"
- netflix_id (str?): Netflix show_id when the title is on Netflix
- date_added (date?): date added to Netflix
- sources (list[str]): which inputs contributed ("movielens", "tmdb_5000", ...)
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from recsys.core.errors import RecsysError

LOCALIZATION = pl.Struct({"lang": pl.Utf8, "title": pl.Utf8, "description": pl.Utf8})

CATALOG_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.Utf8(),
    "type": pl.Utf8(),
    "title": pl.Utf8(),
    "original_title": pl.Utf8(),
    "alt_titles": pl.List(pl.Utf8),
    "original_language": pl.Utf8(),
    "year": pl.Int32(),
    "release_date": pl.Date(),
    "genres": pl.List(pl.Utf8),
    "keywords": pl.List(pl.Utf8),
    "description": pl.Utf8(),
    "localizations": pl.List(LOCALIZATION),
    "cast": pl.List(pl.Utf8),
    "directors": pl.List(pl.Utf8),
    "countries": pl.List(pl.Utf8),
    "spoken_languages": pl.List(pl.Utf8),
    "runtime_min": pl.Int32(),
    "seasons": pl.Int32(),
    "maturity_rating": pl.Utf8(),
    "popularity": pl.Float64(),
    "vote_average": pl.Float64(),
    "vote_count": pl.Int64(),
    "movielens_id": pl.Int64(),
    "tmdb_id": pl.Int64(),
    "imdb_id": pl.Utf8(),
    "netflix_id": pl.Utf8(),
    "date_added": pl.Date(),
    "sources": pl.List(pl.Utf8),
}

ITEM_TYPES = ("movie", "tv_show")


class CatalogSchemaError(RecsysError):
    """The catalog frame does not follow CATALOG_SCHEMA."""


def empty_catalog() -> pl.DataFrame:
    return pl.DataFrame(schema=CATALOG_SCHEMA)


def conform(
    frame: pl.DataFrame, schema: Mapping[str, pl.DataType] = CATALOG_SCHEMA
) -> pl.DataFrame:
    """Cast to ``schema``, add missing columns as nulls / empty lists, order as the schema."""
    exprs = []
    for name, dtype in schema.items():
        if name in frame.columns:
            exprs.append(pl.col(name).cast(dtype))
        elif isinstance(dtype, pl.List):
            exprs.append(pl.lit([], dtype=dtype).alias(name))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    return frame.select(exprs)


def validate_catalog(frame: pl.DataFrame) -> pl.DataFrame:
    """Check the schema and invariants; return the frame unchanged or raise CatalogSchemaError."""
    missing = [c for c in CATALOG_SCHEMA if c not in frame.columns]
    if missing:
        raise CatalogSchemaError(f"catalog is missing columns: {', '.join(missing)}")
    wrong = [
        f"{c} is {frame.schema[c]}, expected {t}"
        for c, t in CATALOG_SCHEMA.items()
        if frame.schema[c] != t
    ]
    if wrong:
        raise CatalogSchemaError("catalog has wrong column types: " + "; ".join(wrong))
    if frame.height == 0:
        raise CatalogSchemaError("catalog is empty")
    if frame["item_id"].null_count() or frame["title"].null_count():
        raise CatalogSchemaError("catalog has items without item_id or title")
    dupes = frame["item_id"].is_duplicated().sum()
    if dupes:
        raise CatalogSchemaError(f"catalog has {dupes} rows with duplicated item_id")
    bad_types = frame.filter(~pl.col("type").is_in(ITEM_TYPES)).height
    if bad_types:
        raise CatalogSchemaError(
            f"catalog has {bad_types} rows whose type is not one of {ITEM_TYPES}"
        )
    return frame
