"""Stage 1a: read every raw source under a data directory into one catalog frame.

    frame, report = build_catalog(Path("data"))

Required inputs (a missing or unreadable one raises recsys.core.errors.InputDataError):
movielens/movies.csv, movielens/links.csv, netflix_titles/netflix_titles.csv.
Optional enrichment inputs are used when present and noted as skipped otherwise:
tmdb_5000/tmdb_5000_movies.csv, the_movies_dataset/movies_metadata_small.csv,
the_movies_dataset/movies_metadata_cleaned.csv, tmdb_language_specific/top*_<lang>_films.csv.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from recsys.catalog.genres import normalize_genres
from recsys.catalog.ingest.localized import (
    discover_localized_files,
    empty_localized,
    read_localized_file,
    unknown_localized_files,
)
from recsys.catalog.ingest.merge import (
    assemble,
    attach_localizations,
    enrich_movielens,
    match_netflix,
    merge_netflix,
)
from recsys.catalog.ingest.movielens import read_movielens_links, read_movielens_movies
from recsys.catalog.ingest.netflix import read_netflix
from recsys.catalog.ingest.report import IngestReport, SourceReport
from recsys.catalog.ingest.tmdb import (
    conform_enrichment,
    read_movies_metadata_cleaned,
    read_movies_metadata_small,
    read_tmdb_5000,
)
from recsys.catalog.schema import validate_catalog
from recsys.core.errors import InputDataError

__all__ = ["IngestReport", "SourceReport", "build_catalog"]

MOVIES = Path("movielens/movies.csv")
LINKS = Path("movielens/links.csv")
NETFLIX = Path("netflix_titles/netflix_titles.csv")
LOCALIZED_DIR = Path("tmdb_language_specific")
# optional enrichment sources, highest precedence first
ENRICHMENT: tuple[tuple[str, Path, Callable[[Path, SourceReport], pl.DataFrame]], ...] = (
    ("tmdb_5000", Path("tmdb_5000/tmdb_5000_movies.csv"), read_tmdb_5000),
    (
        "movies_metadata_small",
        Path("the_movies_dataset/movies_metadata_small.csv"),
        read_movies_metadata_small,
    ),
    (
        "movies_metadata_cleaned",
        Path("the_movies_dataset/movies_metadata_cleaned.csv"),
        read_movies_metadata_cleaned,
    ),
)


def _read_optional(
    report: IngestReport,
    name: str,
    path: Path,
    reader: Callable[[Path, SourceReport], pl.DataFrame],
) -> pl.DataFrame | None:
    rep = report.source(name, str(path))
    if not path.is_file():
        rep.status, rep.note = "skipped", "missing file"
        return None
    try:
        return reader(path, rep)
    except InputDataError as exc:
        report.sources[name] = SourceReport(name, str(path), status="skipped", note=exc.problem)
        return None


def _localized_reader(lang: str) -> Callable[[Path, SourceReport], pl.DataFrame]:
    def read(path: Path, report: SourceReport) -> pl.DataFrame:
        return read_localized_file(path, lang, report)

    return read


def build_catalog(data_dir: Path) -> tuple[pl.DataFrame, IngestReport]:
    """Read, clean, enrich and merge every source under `data_dir` into one catalog frame.

    Returns the frame (CATALOG_SCHEMA, validated, sorted: MovieLens ids in numeric order,
    then Netflix show ids in numeric order) and the report of rows read/kept/dropped/merged.
    """
    data_dir = Path(data_dir)
    report = IngestReport(data_dir=str(data_dir))
    movies = read_movielens_movies(
        data_dir / MOVIES, report.source("movielens_movies", str(data_dir / MOVIES))
    )
    links = read_movielens_links(
        data_dir / LINKS, report.source("movielens_links", str(data_dir / LINKS))
    )
    netflix_report = SourceReport("netflix", str(data_dir / NETFLIX))
    netflix = read_netflix(data_dir / NETFLIX, netflix_report)

    sources: list[tuple[str, pl.DataFrame]] = []
    for name, rel, reader in ENRICHMENT:
        frame = _read_optional(report, name, data_dir / rel, reader)
        if frame is not None:
            sources.append((name, frame))

    localized = [empty_localized()]
    files = discover_localized_files(data_dir / LOCALIZED_DIR)
    if not files:
        rep = report.source("tmdb_language_specific", str(data_dir / LOCALIZED_DIR))
        rep.status, rep.note = "skipped", "no top*_<language>_films.csv files"
    for path in unknown_localized_files(data_dir / LOCALIZED_DIR):
        rep = report.source(f"tmdb_language_specific/{path.name}", str(path))
        rep.status, rep.note = "skipped", "unknown language"
    for lang, path in files.items():
        frame = _read_optional(report, f"tmdb_lang_{lang}", path, _localized_reader(lang))
        if frame is None:
            continue
        if lang == "en":  # lowest-precedence English fallback for title/overview/date/vote
            sources.append(("tmdb_lang_en", conform_enrichment(frame.drop("lang"))))
        else:
            localized.append(frame)
    report.sources["netflix"] = netflix_report

    items = enrich_movielens(movies, links, sources, report)
    items = attach_localizations(items, pl.concat(localized), report)
    matches = match_netflix(items, netflix, report)
    items, netflix_only = merge_netflix(items, netflix, matches, report)
    catalog, report.unmapped_genres = normalize_genres(assemble(items, netflix_only))
    catalog = validate_catalog(catalog)

    report.merged["items"] = catalog.height
    report.merged["movielens_items"] = items.height
    report.merged["netflix_items"] = netflix_only.height
    return catalog, report
