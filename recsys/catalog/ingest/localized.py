"""Readers for tmdb_language_specific/top*_<language>_films.csv (titles/overviews per language).

The files are `;`-separated with CRLF line endings. The French, German and Italian files
quote with `'` (doubling `''` inside quoted cells), the others with `"`. Some cells are still
wrapped in a second layer of CSV quoting ('"text ""quoted"" text"'), some carry a stray
leading `"`, and one Italian row is mis-split (its title swallowed the overview). These are
parsed with Python's csv module and repaired cell by cell; rows that stay misaligned are
dropped as "misaligned_row".
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import polars as pl

from recsys.catalog.ingest.common import clean_ids, drop_duplicate_ids
from recsys.catalog.ingest.report import SourceReport
from recsys.core.errors import InputDataError

LANGUAGE_CODES = {
    "american": "en",
    "english": "en",
    "french": "fr",
    "german": "de",
    "italian": "it",
    "spanish": "es",
    "portuguese": "pt",
    "danish": "da",
    "polish": "pl",
}
SINGLE_QUOTED = frozenset({"fr", "de", "it"})
COLUMNS = ("id", "title", "overview", "release_date", "vote_average")
FILE_PATTERN = re.compile(r"^top\d*_(?P<language>[a-z]+)_films\.csv$")

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")

LOCALIZED_SCHEMA: dict[str, pl.DataType] = {
    "tmdb_id": pl.Int64(),
    "lang": pl.Utf8(),
    "title": pl.Utf8(),
    "description": pl.Utf8(),
    "release_date": pl.Date(),
    "vote_average": pl.Float64(),
}


def discover_localized_files(directory: Path) -> dict[str, Path]:
    """language code -> file, for every top*_<language>_films.csv with a known language."""
    found: dict[str, Path] = {}
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("top*_films.csv")):
        m = FILE_PATTERN.match(path.name)
        lang = LANGUAGE_CODES.get(m.group("language")) if m else None
        if lang and lang not in found:
            found[lang] = path
    return found


def unknown_localized_files(directory: Path) -> list[Path]:
    """top*_films.csv files whose language is not in LANGUAGE_CODES (ignored, reported)."""
    if not directory.is_dir():
        return []
    known = set(discover_localized_files(directory).values())
    return [p for p in sorted(directory.glob("top*_films.csv")) if p not in known]


def _unwrap(cell: str, quote: str) -> str | None:
    """'"a ""b"" c"' -> 'a "b" c' when the cell is one properly quoted CSV value, else None."""
    if len(cell) < 2 or cell[0] != quote or cell[-1] != quote:
        return None
    inner = cell[1:-1]
    if quote in inner.replace(quote * 2, ""):
        return None
    return inner.replace(quote * 2, quote)


def repair_cell(cell: str) -> tuple[str | None, bool]:
    """Undo leftover quoting in one parsed cell; return (text or None, was_repaired)."""
    text = cell.strip()
    repaired = False
    changed = True
    while changed:
        changed = False
        for quote in ('"', "'"):
            inner = _unwrap(text, quote)
            if inner is not None:
                text, changed, repaired = inner.strip(), True, True
    # a stray leading double quote without its partner: '"Producción mexicana ...'
    if text.startswith('"') and text.count('"') % 2 == 1:
        text, repaired = text[1:].strip(), True
    return (text or None), repaired


def read_localized_file(path: Path, lang: str, report: SourceReport | None = None) -> pl.DataFrame:
    """One language file -> tmdb_id, lang, title, description, release_date, vote_average."""
    rep = report if report is not None else SourceReport(f"tmdb_lang_{lang}", str(path))
    if not path.is_file():
        raise InputDataError(str(path), "missing file")
    quote = "'" if lang in SINGLE_QUOTED else '"'
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh, delimiter=";", quotechar=quote, doublequote=True))
    except (UnicodeDecodeError, csv.Error, OSError) as exc:
        raise InputDataError(str(path), f"not parseable: {exc}") from exc
    if not rows or tuple(c.strip() for c in rows[0][: len(COLUMNS)]) != COLUMNS:
        raise InputDataError(str(path), f"missing required columns: expected {';'.join(COLUMNS)}")
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    rep.rows_read = len(body)

    records: list[tuple[str, str | None, str | None, str, str]] = []
    misaligned = repaired = 0
    for row in body:
        if len(row) == len(COLUMNS) + 1 and not row[-1].strip():
            row = row[:-1]  # trailing separator
        if len(row) != len(COLUMNS):
            misaligned += 1
            continue
        rid, title, overview, date, vote = (c.strip() for c in row)
        if (date and not _DATE.match(date)) or (vote and not _NUMBER.match(vote)):
            misaligned += 1
            continue
        title_fixed, t_rep = repair_cell(title)
        overview_fixed, o_rep = repair_cell(overview)
        repaired += t_rep or o_rep
        records.append((rid, title_fixed, overview_fixed, date, vote))
    rep.drop("misaligned_row", misaligned)
    rep.issue("quote_repaired", repaired)

    frame = pl.DataFrame(
        records,
        schema={c: pl.Utf8 for c in ("id", "title", "description", "release_date", "vote_average")},
        orient="row",
    )
    frame = clean_ids(frame, "id", rep, out="tmdb_id")
    frame = drop_duplicate_ids(frame, "tmdb_id", rep)
    out = frame.select(
        pl.col("tmdb_id"),
        pl.lit(lang, dtype=pl.Utf8).alias("lang"),
        pl.col("title"),
        pl.col("description"),
        pl.col("release_date").str.to_date("%Y-%m-%d", strict=False),
        pl.col("vote_average").cast(pl.Float64, strict=False),
    )
    rep.rows_kept = out.height
    return out.cast(LOCALIZED_SCHEMA)  # type: ignore[arg-type]


def empty_localized() -> pl.DataFrame:
    return pl.DataFrame(schema=LOCALIZED_SCHEMA)
