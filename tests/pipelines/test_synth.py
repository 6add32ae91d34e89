"""``recsys synth``: seeded, the raw layout the ingest reads, and the planted structure
(long-tailed popularity, power-law users, a favourite topic per user)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.synth import SynthSpec, catalog, interactions, write_data_dir
from recsys.catalog.ingest import build_catalog

SPEC = SynthSpec(items=1500, users=150, interactions=15_000, seed=3)


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.csv")):
        h.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "data"
    write_data_dir(SPEC, out)
    return out


def test_same_seed_same_files(written: Path, tmp_path: Path) -> None:
    write_data_dir(SPEC, tmp_path / "again")
    assert digest(tmp_path / "again") == digest(written)
    write_data_dir(SynthSpec(1500, 150, 15_000, seed=4), tmp_path / "other")
    assert digest(tmp_path / "other") != digest(written)


def test_the_ingest_reads_every_source(written: Path) -> None:
    frame, report = build_catalog(written)
    assert 0.95 * SPEC.items <= frame.height <= SPEC.items  # movies also on Netflix merge
    written_sources = ("movielens_movies", "movielens_links", "movies_metadata_small", "netflix")
    for name in (*written_sources, "tmdb_lang_fr", "tmdb_lang_es", "tmdb_lang_it"):
        assert report.sources[name].status == "read", report.sources[name]
    assert frame["description"].null_count() == 0
    assert frame.filter(pl.col("localizations").list.len() > 0).height > 0
    assert set(frame["original_language"].drop_nulls()) >= {"en", "ru", "ja"}


def test_planted_structure() -> None:
    rng = np.random.default_rng(SPEC.seed)
    items = catalog(SPEC, rng)
    ratings = interactions(SPEC, items, rng)
    per_user = ratings.group_by("userId").len()["len"].to_numpy()
    assert per_user.min() >= 5 and per_user.max() > 10 * np.median(per_user)  # power law
    counts = np.sort(ratings.group_by("movieId").len()["len"].to_numpy())[::-1]
    assert counts[: max(1, len(counts) // 100)].sum() > 0.08 * counts.sum()  # long tail
    topic = dict(zip(items["movie_id"].to_list(), items["topic"].to_list(), strict=True))
    frame = ratings.with_columns(pl.col("movieId").replace_strict(topic).alias("topic"))
    favourite = frame.group_by("userId").agg(pl.col("topic").mode().first().alias("fav"))
    share = frame.join(favourite, on="userId").select((pl.col("topic") == pl.col("fav")).mean())
    assert share.item() > 0.6
    liked = frame.join(favourite, on="userId").group_by(pl.col("topic") == pl.col("fav"))
    means = dict(liked.agg(pl.col("rating").mean()).rows())
    assert means[True] > means[False] + 1.0
    assert set(ratings["rating"].unique().to_list()) <= {x / 2 for x in range(1, 11)}
    assert (ratings["timestamp"].diff().filter(ratings["userId"].diff() == 0) >= 0).all()


def test_bad_arguments_are_clear_errors(written: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="need items"):
        SynthSpec(items=5, users=1, interactions=1)
    runner = CliRunner()
    result = runner.invoke(app, ["synth", "--items", "20", "--users", "2", "--out", str(written)])
    assert result.exit_code != 0 and "already exists" in result.output
    assert not any(p.name.startswith(".") for p in written.parent.iterdir())
    result = runner.invoke(
        app, ["synth", "--items", "50", "--users", "5", "--interactions", "100",
              "--out", str(tmp_path / "small")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "50 items" in result.output and (tmp_path / "small/movielens/ratings.csv").is_file()


def test_every_timeline_ends_by_2020_even_for_very_active_users() -> None:
    """3-day gaps for a user with thousands of ratings once ran past year 2500 (beyond what
    item statistics can key); very active users now rate faster instead."""
    spec = SynthSpec(items=200, users=5, interactions=50_000, seed=1)
    rng = np.random.default_rng(spec.seed)
    ratings = interactions(spec, catalog(spec, rng), rng)
    assert ratings.group_by("userId").len()["len"].max() > 5_000
    assert ratings["timestamp"].max() < 1_580_000_000  # 2020-02-02
