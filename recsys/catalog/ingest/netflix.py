"""Reader for netflix_titles/netflix_titles.csv (Kaggle, September 2021)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recsys.catalog.ingest.common import (
    clean_text,
    drop_duplicate_ids,
    drop_missing,
    read_raw_csv,
    split_list,
)
from recsys.catalog.ingest.report import SourceReport

REQUIRED_COLUMNS = ("show_id", "type", "title")
OPTIONAL_COLUMNS = (
    "director",
    "cast",
    "country",
    "date_added",
    "release_year",
    "rating",
    "duration",
    "listed_in",
    "description",
)
TYPES = {"movie": "movie", "tv show": "tv_show", "tv_show": "tv_show"}

_MINUTES = r"^\s*(\d+)\s*min"
_SEASONS = r"^\s*(\d+)\s*Seasons?"


def read_netflix(path: Path, report: SourceReport | None = None) -> pl.DataFrame:
    """netflix_titles.csv -> one row per show_id, with catalog column names.

    Columns: netflix_id, type ("movie"/"tv_show"), title, year, genres, cast, directors,
    countries, description, maturity_rating, runtime_min, seasons, date_added.
    Rows with a missing or duplicated show_id, no title or an unknown type are dropped.
    A duration written into `rating` ("74 min") is moved to the duration.
    """
    rep = report if report is not None else SourceReport("netflix", str(path))
    raw = read_raw_csv(path, REQUIRED_COLUMNS)
    rep.rows_read = raw.height
    raw = raw.with_columns(
        [pl.lit(None, dtype=pl.Utf8).alias(c) for c in OPTIONAL_COLUMNS if c not in raw.columns]
    )
    frame = raw.with_columns(
        clean_text("show_id"),
        clean_text("title"),
        clean_text("type"),
        clean_text("rating"),
        clean_text("duration"),
        clean_text("description"),
        clean_text("date_added"),
    )
    frame = drop_missing(frame, "show_id", "missing_id", rep)
    frame = drop_duplicate_ids(frame, "show_id", rep)
    frame = drop_missing(frame, "title", "missing_title", rep)
    item_type = pl.col("type").str.to_lowercase().replace_strict(TYPES, default=None)
    frame = drop_missing(frame.with_columns(item_type.alias("type")), "type", "unknown_type", rep)

    rating_is_duration = pl.col("rating").str.contains(_MINUTES)
    rep.issue("duration_in_rating", frame.filter(rating_is_duration).height)
    frame = frame.with_columns(
        pl.when(rating_is_duration & pl.col("duration").is_null())
        .then(pl.col("rating"))
        .otherwise(pl.col("duration"))
        .alias("duration"),
        pl.when(rating_is_duration).then(None).otherwise(pl.col("rating")).alias("rating"),
    )
    date_added = pl.col("date_added").str.to_date("%B %d, %Y", strict=False)
    rep.issue(
        "unparseable_date_added",
        frame.filter(pl.col("date_added").is_not_null() & date_added.is_null()).height,
    )
    out = frame.select(
        pl.col("show_id").alias("netflix_id"),
        pl.col("type"),
        pl.col("title"),
        pl.col("release_year").str.strip_chars().cast(pl.Int32, strict=False).alias("year"),
        split_list("listed_in", ",").alias("genres"),
        split_list("cast", ",").alias("cast"),
        split_list("director", ",").alias("directors"),
        split_list("country", ",").alias("countries"),
        pl.col("description"),
        pl.col("rating").alias("maturity_rating"),
        pl.col("duration").str.extract(_MINUTES, 1).cast(pl.Int32).alias("runtime_min"),
        pl.col("duration").str.extract(_SEASONS, 1).cast(pl.Int32).alias("seasons"),
        date_added.alias("date_added"),
    )
    rep.rows_kept = out.height
    return out
