"""Known-answer tests for the interactions table and its point-in-time views."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys.core.errors import InputDataError
from recsys.history.interactions import (
    INTERACTIONS_SCHEMA,
    TAG_STRENGTH,
    InteractionLog,
    conform_interactions,
    empty_interactions,
    leave_last_n,
    read_movielens_interactions,
    truncate_before,
    user_positions,
)

CATALOG = pl.DataFrame(
    {
        "item_id": ["m10", "m20", "nf1"],
        "movielens_id": [10, 20, None],  # a Netflix-only item has no MovieLens id
    },
    schema={"item_id": pl.Utf8, "movielens_id": pl.Int64},
)

RATINGS = """userId,movieId,rating,timestamp
1,10,4.0,100
1,10,4.0,100
abc,10,3.0,50
2,10,7,200
2,99,3.0,300
2,20,5.0,150
1,20,0.5,90
10,20, 2.5 ,80
"""

TAGS = """userId,movieId,tag,timestamp
1,20,funny,120
"""


def write_movielens(root: Path, ratings: str | None = RATINGS, tags: str | None = TAGS) -> Path:
    base = root / "movielens"
    base.mkdir(parents=True)
    if ratings is not None:
        (base / "ratings.csv").write_text(ratings)
    if tags is not None:
        (base / "tags.csv").write_text(tags)
    return root


def make_log(rows: list[tuple[str, int, int, float]]) -> InteractionLog:
    """A log from (user, item, ts, value) rows, at most one row per (user, item)."""
    rows = sorted(rows, key=lambda r: (r[0], r[2], r[1]))
    users = sorted({r[0] for r in rows})
    counts = [sum(1 for r in rows if r[0] == u) for u in users]
    return InteractionLog(
        users=users,
        ptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        items=np.array([r[1] for r in rows], dtype=np.int64),
        ts=np.array([r[2] for r in rows], dtype=np.int64),
        values=np.array([r[3] for r in rows], dtype=np.float32),
    )


# --------------------------------------------------------------------------- reading


def test_read_movielens_keeps_good_rows_sorted_with_schema(tmp_path: Path) -> None:
    frame, _ = read_movielens_interactions(write_movielens(tmp_path), CATALOG)
    assert dict(frame.schema) == INTERACTIONS_SCHEMA
    # sorted by user_id (as text: "10" < "2"), then ts, then item_id
    assert frame.rows() == [
        ("1", "m20", 90, "rating", 1.0, 0.5),
        ("1", "m10", 100, "rating", 1.0, 4.0),
        ("1", "m20", 120, "tag", TAG_STRENGTH, None),
        ("10", "m20", 80, "rating", 1.0, 2.5),
        ("2", "m20", 150, "rating", 1.0, 5.0),
    ]


def test_read_movielens_reports_drops_by_reason(tmp_path: Path) -> None:
    _, reports = read_movielens_interactions(write_movielens(tmp_path), CATALOG)
    assert set(reports) == {"movielens_ratings", "movielens_tags"}
    ratings = reports["movielens_ratings"]
    assert ratings.status == "read"
    assert ratings.rows_read == 8
    assert ratings.rows_kept == 4
    assert ratings.dropped == {
        "unparseable_id_or_timestamp": 1,
        "rating_missing_or_out_of_range": 1,
        "item_not_in_catalog": 1,
        "duplicate_event": 1,
    }
    tags = reports["movielens_tags"]
    assert (tags.status, tags.rows_read, tags.rows_kept, tags.dropped) == ("read", 1, 1, {})
    for rep in reports.values():
        assert rep.rows_read == rep.rows_kept + rep.rows_dropped


def test_read_movielens_missing_ratings_is_skipped_not_an_error(tmp_path: Path) -> None:
    frame, reports = read_movielens_interactions(write_movielens(tmp_path, ratings=None), CATALOG)
    assert reports["movielens_ratings"].status == "skipped"
    assert reports["movielens_ratings"].note == "file not present"
    assert reports["movielens_ratings"].rows_read == 0
    assert frame["type"].to_list() == ["tag"]


def test_read_movielens_without_any_file_gives_an_empty_table(tmp_path: Path) -> None:
    frame, reports = read_movielens_interactions(
        write_movielens(tmp_path, ratings=None, tags=None), CATALOG
    )
    assert frame.height == 0
    assert dict(frame.schema) == INTERACTIONS_SCHEMA
    assert {r.status for r in reports.values()} == {"skipped"}


def test_read_movielens_missing_required_column_is_an_input_error(tmp_path: Path) -> None:
    root = write_movielens(tmp_path, ratings="userId,movieId,timestamp\n1,10,5\n", tags=None)
    with pytest.raises(InputDataError, match="rating"):
        read_movielens_interactions(root, CATALOG)


# --------------------------------------------------------------------------- conform


def test_conform_interactions_casts_and_fills_defaults() -> None:
    events = pl.DataFrame(
        {
            "user_id": [7, 8],
            "item_id": ["m10", "m20"],
            "ts": pl.Series([5, 6], dtype=pl.Int32),
            "type": ["play", "click"],
            "strength": [None, 0.25],
            "extra": ["dropped", "dropped"],
        }
    )
    out = conform_interactions(events)
    assert dict(out.schema) == INTERACTIONS_SCHEMA
    assert out.rows() == [
        ("7", "m10", 5, "play", 1.0, None),
        ("8", "m20", 6, "click", 0.25, None),
    ]


def test_conform_interactions_without_optional_columns() -> None:
    events = pl.DataFrame({"user_id": ["u"], "item_id": ["i"], "ts": [1], "type": ["play"]})
    out = conform_interactions(events)
    assert out.rows() == [("u", "i", 1, "play", 1.0, None)]
    assert dict(conform_interactions(empty_interactions()).schema) == INTERACTIONS_SCHEMA


def test_conform_interactions_names_missing_columns() -> None:
    with pytest.raises(InputDataError, match="missing columns: ts, type"):
        conform_interactions(pl.DataFrame({"user_id": ["u"], "item_id": ["i"]}))


def test_truncate_before_is_strict() -> None:
    frame = conform_interactions(
        pl.DataFrame(
            {"user_id": ["u"] * 3, "item_id": ["a", "b", "c"], "ts": [1, 2, 3]}
        ).with_columns(type=pl.lit("play"))
    )
    assert truncate_before(frame, 2)["item_id"].to_list() == ["a"]


# --------------------------------------------------------------------------- InteractionLog


POSITIONS = {"i0": 0, "i1": 1, "i2": 2}


def events_frame() -> pl.DataFrame:
    rows = [
        ("u1", "i0", 10, "play", 1.0, None),
        ("u1", "i0", 20, "rating", 1.0, 4.0),  # second consumption of i0: not a new row
        ("u1", "i1", 5, "tag", TAG_STRENGTH, None),  # tags are not consumption
        ("u1", "zz", 1, "rating", 1.0, 3.0),  # unknown item
        ("u1", "i2", 30, "play", 1.0, None),
        ("u2", "i2", 7, "play", 1.0, None),
        ("u2", "i1", 7, "rating", 1.0, 2.0),
        ("u3", "i0", 3, "tag", TAG_STRENGTH, None),  # only a tag: not a user of the log
    ]
    return pl.DataFrame(rows, schema=INTERACTIONS_SCHEMA, orient="row")


def test_log_from_frame_keeps_first_consumption_per_user_item() -> None:
    log = InteractionLog.from_frame(events_frame(), POSITIONS)
    assert log.users == ["u1", "u2"]
    assert log.ptr.tolist() == [0, 2, 4]
    assert log.items.tolist() == [0, 2, 1, 2]
    assert log.ts.tolist() == [10, 30, 7, 7]
    assert log.values.dtype == np.float32
    np.testing.assert_array_equal(log.values, [np.nan, np.nan, 2.0, np.nan])  # as of ts 10
    assert len(log) == 4
    assert log.n_users == 2
    assert log.user_index() == {"u1": 0, "u2": 1}
    assert log.user_of_rows().tolist() == [0, 0, 1, 1]
    assert log.end_time() == 31
    assert user_positions(log, ["u2", "nobody", "u1"]).tolist() == [1, -1, 0]


def test_log_from_empty_frame() -> None:
    log = InteractionLog.from_frame(empty_interactions(), POSITIONS)
    assert len(log) == 0
    assert log.n_users == 0
    assert log.ptr.tolist() == [0]
    assert log.end_time() == 0


def test_log_from_frame_does_not_date_a_later_rating_back() -> None:
    frame = pl.DataFrame(
        [("u", "i0", 10, "play", 1.0, None), ("u", "i0", 20, "rating", 1.0, 5.0)],
        schema=INTERACTIONS_SCHEMA,
        orient="row",
    )
    log = InteractionLog.from_frame(frame, POSITIONS)
    rows = log.history(0, as_of=15)
    # at t=15 the user has played i0 but has not rated it yet
    assert np.isnan(log.values[rows]).all()


def test_history_is_strictly_before_as_of() -> None:
    log = InteractionLog.from_frame(events_frame(), POSITIONS)
    assert log.history(0) == slice(0, 2)
    assert log.history(0, 10) == slice(0, 0)  # the event at exactly as_of is excluded
    assert log.history(0, 11) == slice(0, 1)
    assert log.history(0, 30) == slice(0, 1)
    assert log.history(0, 31) == slice(0, 2)
    assert log.history(1, 7) == slice(2, 2)
    assert log.history(1, 8) == slice(2, 4)


# --------------------------------------------------------------------------- split


def test_leave_last_n_known_answer_with_ties_at_cutoff() -> None:
    # user a: 9 consumptions, the 2nd-last at t=7 shares its time with an earlier one
    a = [("a", i, t, np.nan) for i, t in enumerate([1, 2, 3, 4, 5, 6, 7, 7, 8])]
    # user b: 6 consumptions < n + min_history = 7: not evaluated
    b = [("b", 10 + i, t, np.nan) for i, t in enumerate([1, 2, 3, 4, 5, 6])]
    # user c: enough rows, but the tie at the cutoff leaves 4 < min_history earlier ones
    c = [("c", 20 + i, t, np.nan) for i, t in enumerate([1, 2, 3, 4, 5, 5, 5])]
    log = make_log(a + b + c)
    split = leave_last_n(log, n=2, min_history=5)
    assert split.cutoffs.tolist() == [7, 0, 0]
    assert split.evaluated_users().tolist() == [0]
    assert split.labels[0].tolist() == [6, 7, 8]  # both events at t=7 go to the labels
    assert split.labels[1].tolist() == []
    assert split.labels[2].tolist() == []
    hist = split.history
    assert hist.users == ["a", "b", "c"]
    assert hist.ptr.tolist() == [0, 6, 12, 19]
    assert hist.items[hist.history(0)].tolist() == [0, 1, 2, 3, 4, 5]
    assert hist.items[hist.history(1)].tolist() == list(range(10, 16))
    assert hist.items[hist.history(2)].tolist() == list(range(20, 27))


def test_split_grades_liked_above_consumed() -> None:
    rows = [("a", i, t, v) for i, (t, v) in enumerate(
        [(1, 3.0), (2, 4.0), (3, 5.0), (4, 2.0), (5, 4.0), (6, 3.5), (7, np.nan), (8, 4.5)]
    )]  # fmt: skip
    split = leave_last_n(make_log(rows), n=4, min_history=2)
    assert split.labels[0].tolist() == [4, 5, 6, 7]
    np.testing.assert_array_equal(split.label_values[0], [4.0, 3.5, np.nan, 4.5])
    items = np.array([7, 0, 5, 4, 6, 99])
    assert split.grades(0, items, 4.0).tolist() == [2.0, 0.0, 1.0, 2.0, 1.0, 0.0]
    assert split.grades(0, items, None).tolist() == [1.0, 0.0, 1.0, 1.0, 1.0, 0.0]


def test_leave_last_n_rejects_n_below_one() -> None:
    with pytest.raises(ValueError):
        leave_last_n(make_log([("a", 0, 1, np.nan)]), n=0)


@pytest.mark.parametrize("seed", range(5))
def test_leave_last_n_history_before_cutoff_labels_at_or_after(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(30):
        n_rows = int(rng.integers(0, 20))
        items = rng.choice(50, size=n_rows, replace=False)
        times = rng.integers(0, 15, size=n_rows)  # few distinct times: many ties
        rows += [(f"u{u:02d}", int(i), int(t), np.nan) for i, t in zip(items, times, strict=True)]
    log = make_log(rows)
    n, min_history = int(rng.integers(1, 4)), int(rng.integers(0, 6))
    split = leave_last_n(log, n=n, min_history=min_history)
    hist = split.history
    assert hist.users == log.users
    for u in range(log.n_users):
        orig = log.history(u)
        mine = hist.history(u)
        cutoff = int(split.cutoffs[u])
        if cutoff == 0:
            assert split.labels[u].size == 0
            assert hist.items[mine].tolist() == log.items[orig].tolist()
            continue
        assert (hist.ts[mine] < cutoff).all()
        assert mine.stop - mine.start >= min_history
        held = log.ts[orig] >= cutoff
        assert held.sum() >= n
        assert split.labels[u].tolist() == log.items[orig][held].tolist()
        assert sorted(hist.items[mine].tolist() + split.labels[u].tolist()) == sorted(
            log.items[orig].tolist()
        )


def test_subset_keeps_user_indices() -> None:
    log = make_log([("a", 0, 1, 1.0), ("a", 1, 2, np.nan), ("b", 2, 3, 2.0), ("c", 3, 4, 3.0)])
    sub = log.subset(np.array([False, True, False, True]))
    assert sub.users == ["a", "b", "c"]
    assert sub.ptr.tolist() == [0, 1, 1, 2]
    assert sub.items.tolist() == [1, 3]
    assert sub.ts.tolist() == [2, 4]
    np.testing.assert_array_equal(sub.values, [np.nan, 3.0])
    assert sub.history(1) == slice(1, 1)
    assert sub.items[sub.history(2)].tolist() == [3]


def test_sample_keeps_a_seeded_subset_of_evaluated_users_and_the_whole_history() -> None:
    rng = np.random.default_rng(0)
    n_users = 40
    ptr = np.arange(0, 20 * n_users + 1, 20, dtype=np.int64)
    log = InteractionLog(
        users=[f"u{u}" for u in range(n_users)],
        ptr=ptr,
        items=np.tile(np.arange(20, dtype=np.int64), n_users),
        ts=np.tile(np.arange(20, dtype=np.int64) * 100 + 1, n_users),
        values=rng.random(20 * n_users).astype(np.float32),
    )
    split = leave_last_n(log, 5)
    assert len(split.evaluated_users()) == n_users
    sampled = split.sample(10, seed=3)
    assert len(sampled.evaluated_users()) == 10
    assert sampled.evaluated_users().tolist() == split.sample(10, seed=3).evaluated_users().tolist()
    assert sampled.evaluated_users().tolist() != split.sample(10, seed=4).evaluated_users().tolist()
    kept = sampled.evaluated_users()
    np.testing.assert_array_equal(sampled.cutoffs[kept], split.cutoffs[kept])
    assert sampled.history is split.history
    assert split.sample(n_users) is split
