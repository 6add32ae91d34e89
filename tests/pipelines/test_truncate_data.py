"""`recsys truncate-data`: MovieLens events before a date, everything else copied as is."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines.backtest import truncate_data_dir
from tests.personalization_data import FIXTURE_DATA, write_ratings


def test_keeps_only_events_before_the_cutoff(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(FIXTURE_DATA, data)
    write_ratings(data)
    original = pl.read_csv(data / "movielens" / "ratings.csv")
    cutoff = int(original["timestamp"].median())  # type: ignore[arg-type]
    when = datetime.fromtimestamp(cutoff, UTC)
    out = tmp_path / "data-early"
    counts = truncate_data_dir(data, out, when.isoformat())
    ratings = pl.read_csv(out / "movielens" / "ratings.csv")
    assert ratings.height == counts["ratings.csv"][0] < original.height
    assert (ratings["timestamp"] < cutoff).all()
    assert (out / "movielens" / "movies.csv").read_bytes() == (
        data / "movielens" / "movies.csv"
    ).read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))  # no staging directory left behind
    with pytest.raises(FileExistsError):
        truncate_data_dir(data, out, "2010-01-01")
