"""Known-answer and brute-force tests for the point-in-time item statistics."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.history.interactions import InteractionLog
from recsys.history.item_stats import DAY, ItemStats

T = 20_000 * DAY  # the as-of time of the known-answer tests
N_ITEMS = 4  # item 3 is never consumed


def make_log(rows: list[tuple[int, int, float]]) -> InteractionLog:
    """(item, ts, value) rows, each by its own user (so (user, item) pairs are unique)."""
    users = [f"u{k:04d}" for k in range(len(rows))]
    return InteractionLog(
        users=users,
        ptr=np.arange(len(rows) + 1, dtype=np.int64),
        items=np.array([r[0] for r in rows], dtype=np.int64),
        ts=np.array([r[1] for r in rows], dtype=np.int64),
        values=np.array([r[2] for r in rows], dtype=np.float32),
    )


NAN = float("nan")
ROWS = [
    (0, T - 400 * DAY, NAN),
    (0, T - 31 * DAY, NAN),
    (0, T - 30 * DAY, 3.0),  # exactly at as_of - 30 days: inside the 30-day window
    (0, T, 5.0),  # exactly at as_of: not seen at as_of
    (1, T - 10 * DAY, 4.0),
    (1, T - 5 * DAY, NAN),  # a play: counts, but is not a rating
    (1, T - 1 * DAY, 2.0),
    (2, T - 365 * DAY, 1.0),  # exactly at as_of - 365 days
    (2, T - 365 * DAY - 1, 1.0),  # one second earlier: outside the year
]


@pytest.fixture
def stats() -> ItemStats:
    return ItemStats.from_log(make_log(ROWS), N_ITEMS)


ALL = np.arange(N_ITEMS)


def test_count_all_time_excludes_events_at_as_of(stats: ItemStats) -> None:
    assert stats.count(ALL, T).tolist() == [3, 3, 2, 0]
    assert stats.count(ALL, T + 1).tolist() == [4, 3, 2, 0]
    assert stats.count(ALL, 0).tolist() == [0, 0, 0, 0]
    assert stats.count(ALL, T).dtype == np.float64


def test_count_windows_include_the_window_start(stats: ItemStats) -> None:
    assert stats.count(ALL, T, 30).tolist() == [1, 3, 0, 0]
    assert stats.count(ALL, T, 365).tolist() == [2, 3, 1, 0]
    assert stats.count(ALL, T + 1, 30).tolist() == [1, 3, 0, 0]  # T - 30d falls out
    assert stats.count(ALL, T - 30 * DAY + 1, 1).tolist() == [1, 0, 0, 0]
    # a window reaching before t=0 counts everything before as_of
    assert stats.count(ALL, T, 100_000).tolist() == stats.count(ALL, T).tolist()


def test_count_accepts_any_item_subset_and_order(stats: ItemStats) -> None:
    assert stats.count(np.array([3, 0, 0]), T, 365).tolist() == [0, 2, 2]
    assert stats.count(np.zeros(0, dtype=np.int64), T).tolist() == []


def test_all_counts_matches_count_and_is_cached_read_only(stats: ItemStats) -> None:
    for window in (None, 30, 365):
        counts = stats.all_counts(T, window)
        assert counts.tolist() == stats.count(ALL, T, window).tolist()
        assert stats.all_counts(T, window) is counts
        assert not counts.flags.writeable
        with pytest.raises(ValueError):
            counts[0] = 99
    assert stats.all_counts(T + 1).tolist() == [4, 3, 2, 0]


def test_ratings_count_and_sum_ignore_unrated_events(stats: ItemStats) -> None:
    n, total = stats.ratings(ALL, T)
    assert n.tolist() == [1, 2, 2, 0]
    assert total.tolist() == [3.0, 6.0, 2.0, 0.0]
    n, total = stats.ratings(ALL, T + 1)
    assert n.tolist() == [2, 2, 2, 0]
    assert total.tolist() == [8.0, 6.0, 2.0, 0.0]
    n, total = stats.ratings(np.array([1]), T - 1 * DAY)  # the 2.0 is at exactly as_of
    assert (n.tolist(), total.tolist()) == ([1], [4.0])


def test_last_seen(stats: ItemStats) -> None:
    last = stats.last_seen(ALL, T)
    assert last[:3].tolist() == [T - 30 * DAY, T - 1 * DAY, T - 365 * DAY]
    assert np.isnan(last[3])
    assert stats.last_seen(np.array([0]), T + 1).tolist() == [T]
    assert np.isnan(stats.last_seen(ALL, T - 400 * DAY)).all()


def test_empty_log() -> None:
    empty = ItemStats.from_log(make_log([]), 3)
    assert empty.count(np.arange(3), T, 30).tolist() == [0, 0, 0]
    assert empty.all_counts(T).tolist() == [0, 0, 0]
    assert empty.ratings(np.arange(3), T)[0].tolist() == [0, 0, 0]
    assert np.isnan(empty.last_seen(np.arange(3), T)).all()


@pytest.mark.parametrize("seed", range(8))
def test_queries_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_items, n_events = 15, int(rng.integers(0, 300))
    items = rng.integers(0, n_items, n_events)
    ts = rng.integers(0, 800, n_events) * DAY + rng.integers(0, 3, n_events)  # ties likely
    values = np.where(rng.random(n_events) < 0.5, np.nan, rng.integers(1, 11, n_events) / 2)
    stats = ItemStats.from_log(
        make_log(list(zip(items.tolist(), ts.tolist(), values.tolist(), strict=True))), n_items
    )
    query = rng.integers(0, n_items, 40)
    as_ofs = [0, 1, 900 * DAY] + rng.integers(0, 800 * DAY, 5).tolist()
    as_ofs += ts[:5].tolist() + (ts[:5] + 30 * DAY).tolist()  # boundaries: as_of / window
    for as_of in as_ofs:
        before = ts < as_of
        for window in (None, 1, 30, 365):
            inside = before if window is None else before & (ts >= as_of - window * DAY)
            expected = [int((inside & (items == i)).sum()) for i in query]
            assert stats.count(query, as_of, window).tolist() == expected
            assert stats.all_counts(as_of, window).tolist() == [
                int((inside & (items == i)).sum()) for i in range(n_items)
            ]
        rated = before & ~np.isnan(values)
        n, total = stats.ratings(query, as_of)
        assert n.tolist() == [int((rated & (items == i)).sum()) for i in query]
        np.testing.assert_allclose(
            total, [values[rated & (items == i)].sum() for i in query], atol=1e-9
        )
        last = stats.last_seen(query, as_of)
        for i, got in zip(query, last, strict=True):
            seen = ts[before & (items == i)]
            if len(seen):
                assert got == seen.max()
            else:
                assert np.isnan(got)
