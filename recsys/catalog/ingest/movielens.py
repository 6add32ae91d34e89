"""MovieLens readers: movies.csv (the item backbone) and links.csv (ids into TMDB/IMDb)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recsys.catalog.ingest.common import (
    STR_LIST,
    clean_ids,
    clean_text,
    drop_duplicate_ids,
    drop_missing,
    read_raw_csv,
)
from recsys.catalog.ingest.report import SourceReport
from recsys.catalog.ingest.titles import parse_movielens_title

MOVIES_COLUMNS = ("movieId", "title", "genres")
LINKS_COLUMNS = ("movieId", "imdbId", "tmdbId")
NO_GENRES = "(no genres listed)"


def _report(report: SourceReport | None, name: str, path: Path) -> SourceReport:
    return report if report is not None else SourceReport(name=name, path=str(path))


def read_movielens_movies(path: Path, report: SourceReport | None = None) -> pl.DataFrame:
    """movies.csv -> movielens_id (i64), title, alt_titles, year (i32), genres (list[str]).

    Titles are un-inverted ("Matrix, The" -> "The Matrix"); trailing "(YYYY)" becomes `year`
    and other trailing parenthesized groups become `alt_titles`. Rows with a missing or
    non-numeric movieId, a duplicated movieId or no title are dropped and counted.
    """
    rep = _report(report, "movielens_movies", path)
    raw = read_raw_csv(path, MOVIES_COLUMNS)
    rep.rows_read = raw.height
    frame = clean_ids(raw, "movieId", rep, out="movielens_id")
    frame = drop_duplicate_ids(frame, "movielens_id", rep)
    frame = drop_missing(frame.with_columns(clean_text("title")), "title", "missing_title", rep)

    parsed = [parse_movielens_title(t) for t in frame["title"].to_list()]
    for problem in ("year_missing", "year_range"):
        rep.issue(problem, sum(p.year_problem == problem for p in parsed))
    genres = (
        pl.col("genres")
        .fill_null("")
        .str.split("|")
        .list.eval(pl.element().str.strip_chars())
        .list.eval(
            pl.element().filter((pl.element().str.len_chars() > 0) & (pl.element() != NO_GENRES))
        )
    )
    out = frame.select(
        pl.col("movielens_id"),
        pl.Series("title", [p.title for p in parsed], dtype=pl.Utf8),
        pl.Series("alt_titles", [p.alt_titles for p in parsed], dtype=STR_LIST),
        pl.Series("year", [p.year for p in parsed], dtype=pl.Int32),
        genres.alias("genres"),
    )
    rep.rows_kept = out.height
    return out


def read_movielens_links(path: Path, report: SourceReport | None = None) -> pl.DataFrame:
    """links.csv -> movielens_id (i64), imdb_id ("tt0114709"), tmdb_id (i64, null if absent).

    Rows without a usable movieId or with a duplicated movieId are dropped. A missing or
    non-numeric tmdbId/imdbId keeps the row with a null id (issue "missing_tmdb_id" /
    "missing_imdb_id"); tmdbIds shared by several movies are kept (issue "shared_tmdb_id").
    """
    rep = _report(report, "movielens_links", path)
    raw = read_raw_csv(path, LINKS_COLUMNS)
    rep.rows_read = raw.height
    frame = clean_ids(raw, "movieId", rep, out="movielens_id")
    frame = drop_duplicate_ids(frame, "movielens_id", rep)
    imdb = pl.col("imdbId").str.strip_chars()
    tmdb = pl.col("tmdbId").str.strip_chars()
    out = frame.select(
        pl.col("movielens_id"),
        pl.when(imdb.str.contains(r"^\d+$"))
        .then(pl.lit("tt") + imdb.str.zfill(7))
        .otherwise(None)
        .alias("imdb_id"),
        pl.when(tmdb.str.contains(r"^\d+(\.0+)?$"))
        .then(tmdb.cast(pl.Float64).cast(pl.Int64))
        .otherwise(None)
        .alias("tmdb_id"),
    )
    rep.issue("missing_tmdb_id", out["tmdb_id"].null_count())
    rep.issue("missing_imdb_id", out["imdb_id"].null_count())
    shared = out.filter(pl.col("tmdb_id").is_not_null() & pl.col("tmdb_id").is_duplicated())
    rep.issue("shared_tmdb_id", shared.height)
    rep.rows_kept = out.height
    return out
