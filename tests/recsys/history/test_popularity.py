"""Popular and trending lists from day anchors equal the catalog-wide computation, exactly,
whatever the time of day, the blocked items, the anchor depth and the order of the calls."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.history.interactions import InteractionLog
from recsys.history.item_stats import DAY, ItemStats
from recsys.history.popularity import SCORES, PopularityLists
from recsys.recommend.candidates import top_n

N_ITEMS = 60
START = 10_000 * DAY


def random_stats(seed: int, n_events: int = 3_000) -> ItemStats:
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.8  # long tail: ties low, gaps high
    items = rng.choice(N_ITEMS, n_events, p=weights / weights.sum())
    ts = START + rng.integers(0, 800 * DAY, n_events)
    log = InteractionLog(
        users=[f"u{k}" for k in range(n_events)],
        ptr=np.arange(n_events + 1, dtype=np.int64),
        items=items.astype(np.int64),
        ts=ts.astype(np.int64),
        values=np.full(n_events, np.nan, dtype=np.float32),
    )
    return ItemStats.from_log(log, N_ITEMS)


def brute_force(
    stats: ItemStats, kind: str, as_of: int, n: int, blocked: np.ndarray | None, min_count: int
) -> tuple[np.ndarray, np.ndarray]:
    score = SCORES[kind](stats.all_counts(as_of, 30), stats.all_counts(as_of, 365), min_count)
    return top_n(score, n, blocked)


@pytest.mark.parametrize("depth", [2, 8, 1024])
@pytest.mark.parametrize("kind", ["popular", "trending"])
def test_equal_to_counting_every_item(depth: int, kind: str) -> None:
    stats = random_stats(seed=depth)
    lists = PopularityLists(stats, depth=depth)
    rng = np.random.default_rng(7)
    times = START + rng.integers(0, 1_300 * DAY, 120)  # after the log's end too
    lists.prefetch(times[:60], min_count=3)  # half swept ahead, half computed on demand
    for as_of in times.tolist():
        blocked = rng.random(N_ITEMS) < rng.choice([0.0, 0.1, 0.9])
        for n in (1, 5, 30):
            got = lists.top(kind, as_of, n, blocked, min_count=3)
            want = brute_force(stats, kind, as_of, n, blocked, min_count=3)
            assert got[0].tolist() == want[0].tolist()
            np.testing.assert_allclose(got[1], want[1])


def test_same_day_calls_reuse_one_anchor_and_follow_the_clock() -> None:
    stats = random_stats(seed=1)
    lists = PopularityLists(stats, depth=4)
    day = START + 300 * DAY
    for seconds in (0, 1, 3_600, DAY - 1):
        got = lists.top("popular", day + seconds, 10, None)[0]
        assert got.tolist() == brute_force(stats, "popular", day + seconds, 10, None, 0)[0].tolist()
    assert len(lists._anchors) == len(SCORES)


def test_no_history_and_nothing_asked() -> None:
    lists = PopularityLists(random_stats(seed=2), depth=8)
    assert len(lists.top("popular", START - DAY, 10, None)[0]) == 0  # before any event
    assert len(lists.top("trending", START + 100 * DAY, 0, None)[0]) == 0
