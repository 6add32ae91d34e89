"""`recsys backtest`: an artifact built on early ratings, judged on the later ones."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from pipelines.backtest import run_backtest, truncate_data_dir
from pipelines.build import BuildOptions, build
from recsys.ranking.rankers import PopularityRanker
from recsys.search.encoder import HashingEncoder
from tests.personalization_data import FIXTURE_DATA, small_config, write_ratings


def test_backtest_counts_later_consumption_of_known_users(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(FIXTURE_DATA, data)
    write_ratings(data)
    ratings = pl.read_csv(data / "movielens" / "ratings.csv")
    cutoff = int(ratings["timestamp"].quantile(0.7))  # type: ignore[arg-type]
    early = tmp_path / "early"
    truncate_data_dir(data, early, datetime.fromtimestamp(cutoff, UTC).isoformat())
    options = BuildOptions(progress=False, config=small_config(), train_search_ranker=False)
    artifact = build(early, tmp_path / "artifacts", options, encoder=HashingEncoder())

    results, paths = run_backtest(artifact, data, tmp_path / "report")

    # known answer, computed from the CSV alone: later (movie, user) pairs of users who rated
    # before the cutoff, minus what each of them had already rated
    before = ratings.filter(pl.col("timestamp") < cutoff)
    known = set(before["userId"].to_list())
    seen = set(zip(before["userId"].to_list(), before["movieId"].to_list(), strict=True))
    later = ratings.filter(pl.col("timestamp") >= cutoff)
    pairs = {
        (u, m)
        for u, m in zip(later["userId"].to_list(), later["movieId"].to_list(), strict=True)
        if u in known and (u, m) not in seen
    }
    split = results["split"]
    assert split["test_interactions"] == len(pairs)
    assert split["users"] == len({u for u, _ in pairs})
    assert results["reference"] == PopularityRanker.name
    assert PopularityRanker.name in results["models"]
    for name, entry in results["models"].items():
        assert 0.0 <= entry["metrics"]["ndcg@10"]["mean"] <= 1.0, name
        assert ("vs_reference" in entry) == (name != PopularityRanker.name)
    assert all(Path(p).is_file() for p in paths.values())
