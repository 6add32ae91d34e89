"""``holdout_data_dir`` / ``recsys holdout-data``: a per-user temporal holdout of a data dir."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.holdout import HOLDOUT_FILE, holdout_data_dir
from recsys.catalog.ingest import build_catalog
from recsys.core.errors import InputDataError
from recsys.history.interactions import InteractionLog, leave_last_n, read_movielens_interactions
from tests.personalization_data import FIXTURE_DATA, write_ratings

N, MIN_HISTORY = 2, 3


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    data = tmp_path / "data"
    shutil.copytree(FIXTURE_DATA, data)
    facts = write_ratings(data)
    return data, facts


def rows(path: Path) -> list[tuple[str, ...]]:
    return pl.read_csv(path, infer_schema=False).rows()


def test_rows_are_partitioned_and_held_out_rows_are_later(
    source: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    data, facts = source
    out = tmp_path / "held"
    summary = holdout_data_dir(data, out, n=N, min_history=MIN_HISTORY)
    original = rows(data / "movielens" / "ratings.csv")
    kept = rows(out / "movielens" / "ratings.csv")
    held = rows(out / HOLDOUT_FILE)
    assert sorted(kept + held) == sorted(original)  # exactly partitioned
    assert pl.read_csv(out / HOLDOUT_FILE).columns == ["userId", "movieId", "rating", "timestamp"]

    counts = {user: len(r) for user, r in facts["ratings"].items()}
    eligible = {user for user, c in counts.items() if c >= N + MIN_HISTORY}
    assert not {"1", "100"} & eligible  # 2 ratings each: not held out
    assert {user for user, *_ in held} == eligible
    assert summary == {
        "n": N,
        "min_history": MIN_HISTORY,
        "users_held_out": len(eligible),
        "rows_held_out": N * len(eligible),  # the fixture has no ties within a user
        "ratings_total": len(original),
        "ratings_kept": len(original) - N * len(eligible),
        "tags_removed": 0,
        "holdout": str(out / HOLDOUT_FILE),
    }
    for user in eligible:
        kept_ts = [int(ts) for u, _m, _r, ts in kept if u == user]
        held_ts = [int(ts) for u, _m, _r, ts in held if u == user]
        assert len(held_ts) == N and len(kept_ts) >= MIN_HISTORY
        assert min(held_ts) > max(kept_ts)
    # the rest of the data dir is copied unchanged
    assert (out / "movielens" / "movies.csv").read_bytes() == (
        data / "movielens" / "movies.csv"
    ).read_bytes()


def test_same_split_as_the_offline_evaluation(
    source: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    data, _ = source
    out = tmp_path / "held"
    holdout_data_dir(data, out, n=N, min_history=MIN_HISTORY)
    catalog, _ = build_catalog(data)
    positions = {item_id: i for i, item_id in enumerate(catalog["item_id"].to_list())}
    frame, _ = read_movielens_interactions(data, catalog)
    split = leave_last_n(InteractionLog.from_frame(frame, positions), N, MIN_HISTORY)
    expected = {
        (split.history.users[u], int(item))
        for u in split.evaluated_users().tolist()
        for item in split.labels[u].tolist()
    }
    held = {(u, positions[m]) for u, m, _r, _ts in rows(out / HOLDOUT_FILE)}
    assert held == expected
    kept, _ = read_movielens_interactions(out, catalog)
    assert kept.height == len(split.history)


def test_deterministic(source: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    data, _ = source
    first, second = tmp_path / "a", tmp_path / "b"
    assert holdout_data_dir(data, first, N, MIN_HISTORY)["rows_held_out"] > 0
    holdout_data_dir(data, second, N, MIN_HISTORY)
    for name in (HOLDOUT_FILE, "movielens/ratings.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def write_movielens(root: Path, ratings: str, tags: str | None = None) -> Path:
    (root / "movielens").mkdir(parents=True)
    (root / "movielens" / "ratings.csv").write_text(ratings)
    if tags is not None:
        (root / "movielens" / "tags.csv").write_text(tags)
    return root


RATINGS = """userId,movieId,rating,timestamp
1,10,4.0,100
1,11,4.0,200
1,12,3.0,300
1,13,5.0,300
1,14,2.0,400
2,10,4.0,100
2,11,4.0,200
x,12,4.0,999
1,15,4.0,bad
"""
TAGS = """userId,movieId,tag,timestamp
1,14,meh,400
1,10,classic,250
1,12,twist,300
2,11,fun,900
"""


def test_ties_at_the_cutoff_go_with_the_holdout(tmp_path: Path) -> None:
    data = write_movielens(tmp_path / "data", RATINGS, TAGS)
    out = tmp_path / "held"
    summary = holdout_data_dir(data, out, n=2, min_history=2)
    # user 1's 2nd-last rating is at 300, shared with another: all three at >= 300 go
    assert rows(out / HOLDOUT_FILE) == [
        ("1", "12", "3.0", "300"),
        ("1", "13", "5.0", "300"),
        ("1", "14", "2.0", "400"),
    ]
    # unparseable rows stay (the reader reports them); user 2 is too short to hold out
    assert rows(out / "movielens" / "ratings.csv") == [
        ("1", "10", "4.0", "100"),
        ("1", "11", "4.0", "200"),
        ("2", "10", "4.0", "100"),
        ("2", "11", "4.0", "200"),
        ("x", "12", "4.0", "999"),
        ("1", "15", "4.0", "bad"),
    ]
    # user 1's tags at or after their cutoff (300) are their future; user 2 keeps theirs
    assert rows(out / "movielens" / "tags.csv") == [
        ("1", "10", "classic", "250"),
        ("2", "11", "fun", "900"),
    ]
    assert (summary["users_held_out"], summary["rows_held_out"]) == (1, 3)
    assert summary["tags_removed"] == 2


def test_too_little_left_before_the_cutoff(tmp_path: Path) -> None:
    data = write_movielens(tmp_path / "data", RATINGS)
    summary = holdout_data_dir(data, tmp_path / "held", n=2, min_history=3)
    # 5 ratings = n + min_history, but the tie leaves only 2 before the cutoff
    assert summary["users_held_out"] == summary["rows_held_out"] == 0
    assert rows(tmp_path / "held" / HOLDOUT_FILE) == []


def test_refuses_bad_arguments(source: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    data, _ = source
    with pytest.raises(FileExistsError):
        holdout_data_dir(data, tmp_path, N, MIN_HISTORY)
    with pytest.raises(ValueError, match="n must be at least 1"):
        holdout_data_dir(data, tmp_path / "x", 0)
    empty = tmp_path / "empty"
    shutil.copytree(FIXTURE_DATA, empty)
    with pytest.raises(InputDataError, match="missing file"):
        holdout_data_dir(empty, tmp_path / "y")
    bad = write_movielens(tmp_path / "bad", "userId,movieId,timestamp\n1,2,3\n")
    with pytest.raises(InputDataError, match="missing columns: rating"):
        holdout_data_dir(bad, tmp_path / "z")
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == [] and not (tmp_path / "z").exists()


runner = CliRunner()


def test_cli(source: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    data, _ = source
    out = tmp_path / "held"
    args = ["holdout-data", "--data", str(data), "--n", "2", "--min-history", "3"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "held out" in result.stdout and str(out / HOLDOUT_FILE) in result.stdout
    assert (out / HOLDOUT_FILE).is_file()

    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 2
    assert "already exists" in result.stderr
