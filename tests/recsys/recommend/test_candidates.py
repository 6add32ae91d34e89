"""Known-answer tests for candidate generation: top-N, merge, and the sources together."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys.history.interactions import InteractionLog
from recsys.history.item_stats import DAY, ItemStats
from recsys.ranking.features import SOURCES, ItemSide, UserState, user_state
from recsys.recommend.candidates import (
    CandidateConfig,
    CandidateModels,
    Candidates,
    generate,
    merge,
    source_lists,
    top_n,
)
from recsys.recommend.cf.neighbors import ItemNeighbors
from recsys.search.vector_index import ExactIndex, IndexParams, VectorIndex, build_index

T = 20_000 * DAY
NAN = float("nan")

# --------------------------------------------------------------------------- top_n


def test_top_n_orders_by_score_then_position() -> None:
    scores = np.array([1.0, 3.0, 3.0, 0.0, -1.0, NAN, 2.0])
    items, values = top_n(scores, 3, None)
    assert items.tolist() == [1, 2, 6]
    assert values.tolist() == [3.0, 3.0, 2.0]


def test_top_n_skips_blocked_and_non_positive() -> None:
    scores = np.array([5.0, 4.0, 0.0, -2.0, NAN, 1.0, 3.0])
    blocked = np.array([True, False, False, False, False, False, True])
    items, values = top_n(scores, 10, blocked)  # n larger than what is available
    assert items.tolist() == [1, 5]
    assert values.tolist() == [4.0, 1.0]
    assert items.dtype == np.int64


@pytest.mark.parametrize(
    "scores, n",
    [(np.zeros(4), 2), (np.full(3, NAN), 1), (np.array([1.0, 2.0]), 0), (np.zeros(0), 3)],
)
def test_top_n_empty_answers(scores: np.ndarray, n: int) -> None:
    items, values = top_n(scores, n, None)
    assert items.tolist() == [] and values.tolist() == []
    assert items.dtype == np.int64


def test_top_n_everything_blocked() -> None:
    items, _ = top_n(np.ones(3), 2, np.ones(3, dtype=bool))
    assert items.tolist() == []


def brute_top_n(scores: np.ndarray, n: int, blocked: np.ndarray | None) -> list[int]:
    ok = [i for i, s in enumerate(scores) if s > 0 and (blocked is None or not blocked[i])]
    return sorted(ok, key=lambda i: (-scores[i], i))[: max(n, 0)]


@pytest.mark.parametrize("seed", range(3))
def test_top_n_matches_brute_force_without_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(50):
        size = int(rng.integers(1, 60))
        scores = rng.standard_normal(size)
        blocked = rng.random(size) < 0.2
        n = int(rng.integers(0, 20))
        assert top_n(scores, n, blocked)[0].tolist() == brute_top_n(scores, n, blocked)


def test_top_n_breaks_ties_at_the_cut_by_position() -> None:
    assert top_n(np.array([1.0, 1.0, 2.0, 2.0]), 1, None)[0].tolist() == [2]
    rng = np.random.default_rng(0)
    for _ in range(200):
        scores = rng.integers(0, 4, size=int(rng.integers(1, 40))).astype(np.float64)
        n = int(rng.integers(1, 10))
        assert top_n(scores, n, None)[0].tolist() == brute_top_n(scores, n, None)


# --------------------------------------------------------------------------- merge


def test_merge_known_answer() -> None:
    merged = merge(
        {
            "ann": (np.array([5, 2]), np.array([0.9, 0.8])),
            "popular": (np.array([2, 7]), np.array([10.0, 5.0])),
            "covis": (np.zeros(0, dtype=np.int64), np.zeros(0)),
        }
    )
    assert merged.items.tolist() == [2, 5, 7]
    ann, covis, popular = SOURCES.index("ann"), SOURCES.index("covis"), SOURCES.index("popular")
    expected_scores = np.full((3, len(SOURCES)), NAN)
    expected_ranks = np.full((3, len(SOURCES)), NAN)
    expected_scores[:, ann] = [0.8, 0.9, NAN]
    expected_ranks[:, ann] = [2, 1, NAN]
    expected_scores[:, popular] = [10.0, NAN, 5.0]
    expected_ranks[:, popular] = [1, NAN, 2]
    np.testing.assert_array_equal(merged.scores, expected_scores)
    np.testing.assert_array_equal(merged.ranks, expected_ranks)
    assert np.isnan(merged.ranks[:, covis]).all()
    assert len(merged) == 3
    assert merged.source_names(0) == ["ann", "popular"]
    assert merged.source_names(2) == ["popular"]
    # best rank first; rank 1 from ann (earlier in SOURCES) before rank 1 from popular
    assert merged.merged_order().tolist() == [1, 0, 2]


@pytest.mark.parametrize("lists", [{}, {"ann": (np.zeros(0, dtype=np.int64), np.zeros(0))}])
def test_merge_of_nothing(lists: dict) -> None:
    merged = merge(lists)
    assert len(merged) == 0
    assert merged.scores.shape == (0, len(SOURCES))
    assert merged.ranks.shape == (0, len(SOURCES))
    assert merged.merged_order().tolist() == []


def test_merged_order_puts_unranked_rows_last_and_ties_by_item() -> None:
    ranks = np.full((4, len(SOURCES)), NAN)
    ranks[0, SOURCES.index("trending")] = 1
    ranks[1, SOURCES.index("ease")] = 2
    ranks[3, SOURCES.index("content")] = 1
    candidates = Candidates(np.array([40, 30, 20, 10]), ranks.copy(), ranks)
    # row 3 (content, rank 1) before row 0 (trending, rank 1), then rank 2, then no rank
    assert candidates.merged_order().tolist() == [3, 0, 1, 2]
    tied = Candidates(np.array([9, 4]), np.full((2, 6), NAN), np.full((2, 6), NAN))
    assert tied.merged_order().tolist() == [1, 0]


# --------------------------------------------------------------------------- generate

N_ITEMS = 8
# items 0..6 spread out; item 7 is nearly item 1 and has never been consumed
VECTORS = np.array(
    [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.6, 0.5, 0.3, 0.1],
        [0.2, 0.7, 0.1, 0.4],
        [0.1, 0.2, 0.9, 0.1],
        [0.5, 0.1, 0.1, 0.8],
        [0.0, 0.1, 0.3, 0.9],
        [0.05, 0.99, 0.0, 0.02],
    ]
)


def side_for(vectors: np.ndarray) -> ItemSide:
    n = len(vectors)
    catalog = pl.DataFrame(
        {
            "type": ["movie"] * n,
            "genres": [["Drama"]] * n,
            "original_language": ["en"] * n,
            "year": [2000] * n,
            "popularity": [1.0] * n,
            "vote_average": [7.0] * n,
        }
    )
    return ItemSide.from_catalog(catalog, np.asarray(vectors, dtype=np.float32))


def stats_for(events: list[tuple[int, int]], n_items: int) -> ItemStats:
    """(item, ts) consumptions, one user each."""
    log = InteractionLog(
        users=[f"x{k:03d}" for k in range(len(events))],
        ptr=np.arange(len(events) + 1, dtype=np.int64),
        items=np.array([e[0] for e in events], dtype=np.int64),
        ts=np.array([e[1] for e in events], dtype=np.int64),
        values=np.full(len(events), np.nan, dtype=np.float32),
    )
    return ItemStats.from_log(log, n_items)


def neighbors(pairs: dict[tuple[int, int], float], n_items: int) -> ItemNeighbors:
    matrix = np.zeros((n_items, n_items), dtype=np.float32)
    for (a, b), w in pairs.items():
        matrix[a, b] = w
    return ItemNeighbors(sp.csr_matrix(matrix))


@pytest.fixture(scope="module")
def models() -> CandidateModels:
    side = side_for(VECTORS)
    events = [(2, T - 400 * DAY)] + [(3, T - 100 * DAY)] * 2 + [(4, T - 5 * DAY)] * 4
    events += [(0, T - 50 * DAY), (1, T - 200 * DAY), (5, T - 10 * DAY), (4, T)]
    return CandidateModels(
        side=side,
        stats=stats_for(events, N_ITEMS),
        item_index=build_index(side.vectors, IndexParams(kind="flat")),
        covis=neighbors({(0, 2): 0.5, (1, 4): 0.7, (1, 0): 0.2}, N_ITEMS),
        ease=neighbors({(0, 5): 0.3, (1, 3): 0.6, (0, 1): 0.1}, N_ITEMS),
    )


def warm_state(models: CandidateModels) -> UserState:
    items = np.array([0, 1])
    ts = np.array([T - 50 * DAY, T - 20 * DAY])
    return user_state(items, ts, np.full(2, np.nan), T, models.side, models.stats)


def cold_state(models: CandidateModels) -> UserState:
    empty = np.zeros(0, dtype=np.int64)
    return user_state(empty, empty, np.zeros(0), T, models.side, models.stats)


def test_cold_user_gets_only_popular_and_trending(models: CandidateModels) -> None:
    candidates = generate(cold_state(models), models, CandidateConfig())
    pop, trend = SOURCES.index("popular"), SOURCES.index("trending")
    others = [j for j in range(len(SOURCES)) if j not in (pop, trend)]
    assert np.isnan(candidates.ranks[:, others]).all()
    assert np.isnan(candidates.scores[:, others]).all()
    # consumed in the year before T: 4 (x4; the event at T is not seen), 3 (x2), 0, 1, 5
    lists = source_lists(cold_state(models), models, CandidateConfig(), None)
    assert set(lists) == {"popular", "trending"}
    assert lists["popular"][0].tolist() == [4, 3, 0, 1, 5]
    assert lists["popular"][1].tolist() == [4.0, 2.0, 1.0, 1.0, 1.0]
    # trending needs >= 3 consumptions in 30 days: only item 4, (4 + 1) / (4 / 12 + 1)
    assert lists["trending"][0].tolist() == [4]
    assert lists["trending"][1][0] == pytest.approx(5 / (4 / 12 + 1))
    assert candidates.items.tolist() == [0, 1, 3, 4, 5]


def test_warm_user_sources_known_answer(models: CandidateModels) -> None:
    state = warm_state(models)
    blocked = np.zeros(N_ITEMS, dtype=bool)
    blocked[state.items] = True
    lists = source_lists(state, models, CandidateConfig(), blocked)
    assert set(lists) == set(SOURCES)
    # covis: recency-weighted rows of 1 (w=1) and 0 (w=0.5^(30/365)); 0 and 1 are blocked
    assert lists["covis"][0].tolist() == [4, 2]
    w0 = 0.5 ** (30 / 365)
    np.testing.assert_allclose(lists["covis"][1], [0.7, 0.5 * w0], rtol=1e-6)
    assert lists["ease"][0].tolist() == [3, 5]
    np.testing.assert_allclose(lists["ease"][1], [0.6, 0.3], rtol=1e-6)
    assert lists["popular"][0].tolist() == [4, 3, 5]


def test_blocked_items_never_appear(models: CandidateModels) -> None:
    state = warm_state(models)
    blocked = np.zeros(N_ITEMS, dtype=bool)
    blocked[[0, 1, 3, 4]] = True
    for config in (CandidateConfig(), CandidateConfig(exact_scan_items=0)):
        lists = source_lists(state, models, config, blocked)
        for source, (items, _) in lists.items():
            assert not blocked[items].any(), source
        candidates = generate(state, models, config, blocked)
        assert len(candidates) > 0
        assert not blocked[candidates.items].any()


def test_new_item_reaches_the_user_through_content(models: CandidateModels) -> None:
    state = warm_state(models)
    assert state.recent.tolist() == [1, 0]
    assert models.stats.count(np.array([7]), T + 10**6).tolist() == [0]  # never consumed
    blocked = np.zeros(N_ITEMS, dtype=bool)
    blocked[state.items] = True
    for config in (CandidateConfig(), CandidateConfig(exact_scan_items=0)):
        candidates = generate(state, models, config, blocked)
        row = candidates.items.tolist().index(7)
        assert candidates.source_names(row) == ["ann", "content"]
        assert candidates.ranks[row, SOURCES.index("content")] == 1
        expected = float(models.side.vectors[7] @ models.side.vectors[1]) + 1.0
        assert candidates.scores[row, SOURCES.index("content")] == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(3))
def test_index_path_equals_exact_scan(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_items = 300
    vectors = rng.standard_normal((n_items, 8))
    side = side_for(vectors)
    stats = stats_for([(int(i), T - DAY) for i in rng.integers(0, n_items, 50)], n_items)
    empty = ItemNeighbors(sp.csr_matrix((n_items, n_items), dtype=np.float32))
    indexes: list[VectorIndex] = [
        build_index(side.vectors, IndexParams(kind="flat")),
        ExactIndex(side.vectors),
    ]
    history = rng.choice(n_items, size=6, replace=False)
    state = user_state(
        history, np.arange(6) * DAY + T - 10 * DAY, np.full(6, np.nan), T, side, stats
    )
    # block the 40 items nearest the profile, so the index path must fetch more than once
    blocked = np.zeros(n_items, dtype=bool)
    blocked[np.argsort(-(side.vectors @ state.profile))[:40]] = True
    blocked[history] = True
    # (without blocking the history, each history item ties with itself at cosine 1 in the
    # content source, and float rounding may order those ties differently)
    history_only = np.zeros(n_items, dtype=bool)
    history_only[history] = True
    exact_config = CandidateConfig(ann=10, content=15)
    index_config = CandidateConfig(ann=10, content=15, exact_scan_items=0)
    for index in indexes:
        models = CandidateModels(side, stats, index, empty, empty)
        for block in (history_only, blocked):
            exact = source_lists(state, models, exact_config, block)
            indexed = source_lists(state, models, index_config, block)
            for source in ("ann", "content"):
                assert indexed[source][0].tolist() == exact[source][0].tolist(), source
                np.testing.assert_allclose(indexed[source][1], exact[source][1], rtol=1e-5)
                assert len(exact[source][0]) == (10 if source == "ann" else 15)
