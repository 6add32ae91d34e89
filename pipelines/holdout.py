"""A holdout data dir: each user's latest ratings taken out, for the traffic simulator.

    recsys holdout-data --data data --n 10 --out /tmp/data-holdout
    recsys build --data /tmp/data-holdout --out /tmp/artifacts-holdout
    # the simulator replays /tmp/data-holdout/holdout.csv as the users' future plays

``truncate-data`` cuts every user at one date; this cuts each user at their own time, so every
simulated user has a known past (in the build) and a known future (in ``holdout.csv``), the
same per-user temporal split as ``leave_last_n`` in the offline evaluation:

* a user's cutoff is the timestamp of their ``n``-th last rating (rows ordered by timestamp,
  then movieId, then file order, so the choice is deterministic). Every rating at or after
  the cutoff is held out: ties at the cutoff go *with* the holdout (so a user may lose more
  than ``n``), and a held-out rating is always strictly later than every kept one;
* users with fewer than ``n + min_history`` ratings, or fewer than ``min_history`` left
  before their cutoff, keep everything and are not in the holdout;
* the held-out users' tags at or after their cutoff are removed too: they are that user's
  future (often of the very movies held out), and the build reads tags into the interactions;
* rows whose userId, movieId or timestamp does not parse stay where they were (the reader
  drops and reports them), so kept + held out = the original rows, exactly.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from recsys.core.errors import InputDataError

HOLDOUT_FILE = "holdout.csv"
RATING_COLUMNS = ("userId", "movieId", "rating", "timestamp")


def _parsed(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """``frame`` (all text) with ``_row`` and an Int64 ``_<column>`` per column (null when
    it does not parse)."""
    return frame.with_row_index("_row").with_columns(
        pl.col(c).str.strip_chars().cast(pl.Int64, strict=False).alias(f"_{c}") for c in columns
    )


def holdout_cutoffs(ratings: pl.DataFrame, n: int, min_history: int) -> pl.DataFrame:
    """(userId as Int64 ``_userId``, ``cutoff``) of every user who is held out."""
    valid = (
        _parsed(ratings, "userId", "movieId", "timestamp")
        .drop_nulls(["_userId", "_movieId", "_timestamp"])
        .sort("_userId", "_timestamp", "_movieId", "_row")
        .with_columns(
            pl.int_range(pl.len()).over("_userId").alias("_i"),
            pl.len().over("_userId").alias("_count"),
        )
    )
    cutoffs = valid.filter(
        (pl.col("_count") >= n + min_history) & (pl.col("_i") == pl.col("_count") - n)
    ).select("_userId", pl.col("_timestamp").alias("cutoff"))
    earlier = (
        valid.join(cutoffs, on="_userId")
        .group_by("_userId")
        .agg((pl.col("_timestamp") < pl.col("cutoff")).sum().alias("_earlier"))
    )
    return (
        cutoffs.join(earlier, on="_userId")
        .filter(pl.col("_earlier") >= min_history)
        .drop("_earlier")
        .sort("_userId")
    )


def split_ratings(
    ratings: pl.DataFrame, n: int, min_history: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """ratings.csv (as text) -> (kept rows in file order, held-out rows sorted by user, time
    and movie in MovieLens columns, the cutoffs of ``holdout_cutoffs``)."""
    missing = [c for c in RATING_COLUMNS if c not in ratings.columns]
    if missing:
        raise InputDataError("ratings.csv", f"missing columns: {', '.join(missing)}")
    cutoffs = holdout_cutoffs(ratings, n, min_history)
    marked = (
        _parsed(ratings, "userId", "movieId", "timestamp")
        .join(cutoffs, on="_userId", how="left")
        .sort("_row")
        .with_columns(
            (
                pl.col("cutoff").is_not_null()
                & pl.col("_movieId").is_not_null()
                & (pl.col("_timestamp") >= pl.col("cutoff"))
            )
            .fill_null(False)
            .alias("_held")
        )
    )
    kept = marked.filter(~pl.col("_held")).select(ratings.columns)
    held = (
        marked.filter(pl.col("_held"))
        .sort("_userId", "_timestamp", "_movieId", "_row")
        .select(RATING_COLUMNS)
    )
    return kept, held, cutoffs


def remove_future_tags(tags: pl.DataFrame, cutoffs: pl.DataFrame) -> pl.DataFrame:
    """tags.csv (as text) without the held-out users' tags at or after their cutoff."""
    missing = [c for c in ("userId", "timestamp") if c not in tags.columns]
    if missing:
        raise InputDataError("tags.csv", f"missing columns: {', '.join(missing)}")
    marked = _parsed(tags, "userId", "timestamp").join(cutoffs, on="_userId", how="left")
    future = (pl.col("_timestamp") >= pl.col("cutoff")).fill_null(False)
    return marked.sort("_row").filter(~future).select(tags.columns)


@contextmanager
def staged_copy(data_dir: Path, out_dir: Path) -> Iterator[Path]:
    """A copy of ``data_dir`` to edit in place; renamed to ``out_dir`` only if the edits
    succeed, so a failure never leaves a half-written data dir behind."""
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} already exists; choose a new directory")
    if not data_dir.is_dir():
        raise ValueError(f"{data_dir} is not a directory")
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(data_dir, tmp)
    try:
        yield tmp
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def holdout_data_dir(
    data_dir: Path, out_dir: Path, n: int = 10, min_history: int = 5
) -> dict[str, Any]:
    """Copy ``data_dir`` to ``out_dir`` with each user's last ``n`` ratings moved to
    ``out_dir/holdout.csv``; returns what was held out (see the module docstring)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    if min_history < 0:
        raise ValueError(f"min_history must be at least 0, not {min_history}")
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if not (data_dir / "movielens" / "ratings.csv").is_file():
        raise InputDataError(str(data_dir / "movielens" / "ratings.csv"), "missing file")
    with staged_copy(data_dir, out_dir) as tmp:
        ratings_path = tmp / "movielens" / "ratings.csv"
        ratings = pl.read_csv(ratings_path, infer_schema=False)
        kept, held, cutoffs = split_ratings(ratings, n, min_history)
        kept.write_csv(ratings_path)
        held.write_csv(tmp / HOLDOUT_FILE)
        tags_total = tags_kept = 0
        tags_path = tmp / "movielens" / "tags.csv"
        if tags_path.is_file():
            tags = pl.read_csv(tags_path, infer_schema=False)
            kept_tags = remove_future_tags(tags, cutoffs)
            kept_tags.write_csv(tags_path)
            tags_total, tags_kept = tags.height, kept_tags.height
    return {
        "n": n,
        "min_history": min_history,
        "users_held_out": cutoffs.height,
        "rows_held_out": held.height,
        "ratings_total": ratings.height,
        "ratings_kept": kept.height,
        "tags_removed": tags_total - tags_kept,
        "holdout": str(out_dir / HOLDOUT_FILE),
    }
