"""Helpers shared by the readers: raw CSV loading, id cleaning, de-duplication, list cells."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from recsys.catalog.ingest.report import SourceReport
from recsys.core.errors import InputDataError

STR_LIST = pl.List(pl.Utf8)


def read_raw_csv(path: Path, required: Sequence[str], *, separator: str = ",") -> pl.DataFrame:
    """Read a CSV with every column as a string; raise InputDataError naming the problem.

    Empty cells become null. Columns in `required` must exist.
    """
    if not path.is_file():
        raise InputDataError(str(path), "missing file")
    try:
        frame = pl.read_csv(
            path,
            separator=separator,
            infer_schema=False,
            encoding="utf8",
            truncate_ragged_lines=False,
        )
    except (pl.exceptions.PolarsError, UnicodeDecodeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputDataError(str(path), f"not parseable as CSV: {first}") from exc
    frame = frame.rename({c: c.strip().lstrip("\ufeff") for c in frame.columns})
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputDataError(str(path), f"missing required columns: {', '.join(missing)}")
    return frame


def clean_text(col: str) -> pl.Expr:
    """Strip whitespace; empty strings become null."""
    stripped = pl.col(col).str.strip_chars()
    return pl.when(stripped.str.len_chars() > 0).then(stripped).otherwise(None).alias(col)


def to_int(col: str, dtype: pl.DataType | None = None) -> pl.Expr:
    """Parse an integer column that may be written as "123" or "123.0"; junk becomes null."""
    as_float = pl.col(col).str.strip_chars().cast(pl.Float64, strict=False)
    return as_float.round(0).cast(dtype or pl.Int64())


def to_float(col: str) -> pl.Expr:
    return pl.col(col).str.strip_chars().cast(pl.Float64, strict=False)


def to_date(col: str) -> pl.Expr:
    return pl.col(col).str.strip_chars().str.to_date("%Y-%m-%d", strict=False)


def clean_ids(
    frame: pl.DataFrame, col: str, report: SourceReport, *, out: str | None = None
) -> pl.DataFrame:
    """Drop rows whose id is missing ("missing_id") or not an integer ("non_numeric_id").

    The id column is replaced by an Int64 column named `out` (default: same name).
    """
    out = out or col
    raw = pl.col(col).str.strip_chars()
    missing = raw.is_null() | (raw.str.len_chars() == 0)
    numeric = raw.str.contains(r"^\d+$")
    report.drop("missing_id", frame.filter(missing).height)
    report.drop("non_numeric_id", frame.filter(~missing & ~numeric).height)
    kept = frame.filter(~missing & numeric)
    return kept.with_columns(raw.cast(pl.Int64).alias(out))


def drop_duplicate_ids(frame: pl.DataFrame, col: str, report: SourceReport) -> pl.DataFrame:
    """Keep the first row of every id; count the others as "duplicate_id"."""
    kept = frame.unique(subset=[col], keep="first", maintain_order=True)
    report.drop("duplicate_id", frame.height - kept.height)
    return kept


def drop_missing(frame: pl.DataFrame, col: str, reason: str, report: SourceReport) -> pl.DataFrame:
    kept = frame.filter(pl.col(col).is_not_null())
    report.drop(reason, frame.height - kept.height)
    return kept


def split_list(col: str, separator: str) -> pl.Expr:
    """Split a delimited cell: 'a, b,,c' -> ["a", "b", "c"]; null -> []."""
    parts = pl.col(col).fill_null("").str.split(separator).list.eval(pl.element().str.strip_chars())
    return parts.list.eval(pl.element().filter(pl.element().str.len_chars() > 0)).alias(col)


def _names_from(value: Any, key: str) -> list[str] | None:
    """[{key: "x"}, ...] or ["x", ...] -> ["x", ...]; anything else -> None."""
    if not isinstance(value, list):
        return None
    names: list[str] = []
    for entry in value:
        name = entry.get(key) if isinstance(entry, dict) else entry
        if not isinstance(name, str):
            return None
        if name.strip():
            names.append(name.strip())
    return names


def _parse_python_literal(cell: str) -> Any:
    return ast.literal_eval(cell)


def parse_list_cells(
    values: pl.Series, key: str, parser: Callable[[str], Any], report: SourceReport
) -> pl.Series:
    """Parse list cells one by one with `parser`; null -> [], malformed -> [] (counted).

    Counts malformed cells as issue "unparseable_list" (the row is kept).
    """
    out: list[list[str]] = []
    bad = 0
    for cell in values.to_list():
        if cell is None or not cell.strip():
            out.append([])
            continue
        try:
            names = _names_from(parser(cell), key)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            names = None
        if names is None:
            bad += 1
            names = []
        out.append(names)
    report.issue("unparseable_list", bad)
    return pl.Series(values.name, out, dtype=STR_LIST)


def parse_json_names(values: pl.Series, key: str, report: SourceReport) -> pl.Series:
    """TMDB JSON list cells like '[{"id": 28, "name": "Action"}]' -> ["Action"].

    Fast path: Polars' json_decode of the whole column. If any cell is not valid JSON the
    column is re-parsed cell by cell so that only the bad cells become [] (and are counted).
    """
    dtype = pl.List(pl.Struct({key: pl.Utf8}))
    try:
        decoded = values.str.json_decode(dtype)
    except pl.exceptions.PolarsError:
        return parse_list_cells(values, key, json.loads, report)
    names = decoded.list.eval(pl.element().struct.field(key).str.strip_chars())
    names = names.list.eval(pl.element().filter(pl.element().str.len_chars() > 0))
    return names.fill_null(pl.lit([], dtype=STR_LIST)).alias(values.name)


def parse_literal_names(values: pl.Series, key: str, report: SourceReport) -> pl.Series:
    """Python-literal list cells like "[{'id': 16, 'name': 'Animation'}]" or "['Drama']"."""
    return parse_list_cells(values, key, _parse_python_literal, report)
