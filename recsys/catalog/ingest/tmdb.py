"""TMDB enrichment readers: tmdb_5000 (JSON cells) and The Movies Dataset (Python literals).

Every reader returns the same enrichment frame (ENRICHMENT_SCHEMA), one row per tmdb_id, so
that merge.py can apply the source precedence field by field.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recsys.catalog.ingest.common import (
    STR_LIST,
    clean_ids,
    clean_text,
    drop_duplicate_ids,
    parse_json_names,
    parse_literal_names,
    read_raw_csv,
    to_date,
    to_float,
    to_int,
)
from recsys.catalog.ingest.report import SourceReport
from recsys.catalog.schema import conform

ENRICHMENT_SCHEMA: dict[str, pl.DataType] = {
    "tmdb_id": pl.Int64(),
    "title": pl.Utf8(),
    "original_title": pl.Utf8(),
    "original_language": pl.Utf8(),
    "description": pl.Utf8(),
    "genres": STR_LIST,
    "keywords": STR_LIST,
    "countries": STR_LIST,
    "spoken_languages": STR_LIST,
    "runtime_min": pl.Int32(),
    "release_date": pl.Date(),
    "popularity": pl.Float64(),
    "vote_average": pl.Float64(),
    "vote_count": pl.Int64(),
    "imdb_id": pl.Utf8(),
}

# TMDB production-country names that differ from the names Netflix uses
COUNTRY_ALIASES = {
    "United States of America": "United States",
    "Libyan Arab Jamahiriya": "Libya",
    "Kyrgyz Republic": "Kyrgyzstan",
    "Russian Federation": "Russia",
}

# (CSV column, list key) of the list columns, per catalog column
_LIST_COLUMNS = {
    "genres": ("genres", "name"),
    "keywords": ("keywords", "name"),
    "countries": ("production_countries", "name"),
    "spoken_languages": ("spoken_languages", "iso_639_1"),
}
# (CSV column, parse expression) of the scalar columns, per catalog column
_SCALARS = {
    "title": ("title", clean_text),
    "original_title": ("original_title", clean_text),
    "original_language": ("original_language", clean_text),
    "description": ("overview", clean_text),
    "runtime_min": ("runtime", lambda c: to_int(c, pl.Int32())),
    "release_date": ("release_date", to_date),
    "popularity": ("popularity", to_float),
    "vote_average": ("vote_average", to_float),
    "vote_count": ("vote_count", to_int),
    "imdb_id": ("imdb_id", clean_text),
}


def conform_enrichment(frame: pl.DataFrame) -> pl.DataFrame:
    """Columns of ENRICHMENT_SCHEMA in order; absent ones as nulls / empty lists."""
    return conform(frame, ENRICHMENT_SCHEMA)


def _read_enrichment(path: Path, report: SourceReport, *, json_cells: bool) -> pl.DataFrame:
    raw = read_raw_csv(path, ("id", "title"))
    report.rows_read = raw.height
    frame = clean_ids(raw, "id", report, out="tmdb_id")
    frame = drop_duplicate_ids(frame, "tmdb_id", report)

    columns: dict[str, pl.Series | pl.Expr] = {"tmdb_id": pl.col("tmdb_id")}
    for name, (src, parse) in _SCALARS.items():
        if src in frame.columns:
            columns[name] = parse(src).alias(name)
    out = frame.select(**columns)
    for name, (src, key) in _LIST_COLUMNS.items():
        if src not in frame.columns:
            continue
        cells = frame[src]
        parsed = (
            parse_json_names(cells, key, report)
            if json_cells
            else parse_literal_names(cells, key, report)
        )
        out = out.with_columns(parsed.alias(name))
    if "countries" in out.columns:
        aliases = pl.element().replace(COUNTRY_ALIASES)
        out = out.with_columns(pl.col("countries").list.eval(aliases))
    out = out.with_columns(
        # runtime 0 means "unknown" in TMDB
        pl.when(pl.col("runtime_min") > 0).then(pl.col("runtime_min")).alias("runtime_min")
        if "runtime_min" in out.columns
        else pl.lit(None, dtype=pl.Int32).alias("runtime_min")
    )
    report.rows_kept = out.height
    return conform_enrichment(out)


def read_tmdb_5000(path: Path, report: SourceReport | None = None) -> pl.DataFrame:
    """tmdb_5000_movies.csv (JSON list cells) -> enrichment frame."""
    rep = report if report is not None else SourceReport("tmdb_5000", str(path))
    return _read_enrichment(path, rep, json_cells=True)


def read_movies_metadata_small(path: Path, report: SourceReport | None = None) -> pl.DataFrame:
    """movies_metadata_small.csv (Python-literal list cells) -> enrichment frame."""
    rep = report if report is not None else SourceReport("movies_metadata_small", str(path))
    return _read_enrichment(path, rep, json_cells=False)


def read_movies_metadata_cleaned(path: Path, report: SourceReport | None = None) -> pl.DataFrame:
    """movies_metadata_cleaned.csv (id,title,overview,genres,vote_average,vote_count)."""
    rep = report if report is not None else SourceReport("movies_metadata_cleaned", str(path))
    return _read_enrichment(path, rep, json_cells=False)
