"""Known-answer and point-in-time tests for the ranker features."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from recsys.history.interactions import INTERACTIONS_SCHEMA, InteractionLog
from recsys.history.item_stats import DAY, ItemStats
from recsys.ranking.features import (
    ANONYMOUS_SEARCH_FEATURES,
    BASE_FEATURES,
    ITEM_FEATURES,
    N_DECADES,
    PAIR_FEATURES,
    RECOMMENDATION_FEATURES,
    SEARCH_FEATURES,
    SOURCES,
    USER_FEATURES,
    FeatureConfig,
    ItemSide,
    anonymous_search_features,
    base_features,
    item_vectors,
    recommendation_features,
    search_features,
    user_state,
    user_state_from_log,
)
from recsys.search.query_features import QUERY_FEATURES

T = 20_000 * DAY  # as_of of the known-answer example
AS_OF_YEAR = 1970 + T / (365.2425 * DAY)
NAN = float("nan")

CATALOG = pl.DataFrame(
    {
        "item_id": ["i0", "i1", "i2", "i3"],
        "type": ["movie", "tv", "movie", "movie"],
        "genres": [["Drama", "Comedy"], ["Drama"], [], ["Action", "Drama"]],
        "original_language": ["en", "fr", None, "de"],
        "year": [1995, 2005, None, 2012],
        "popularity": [10.0, None, 0.0, 100.0],
        "vote_average": [7.0, 8.0, None, 6.5],
        "vote_count": [1200, None, 0, 50],
    },
    schema={
        "item_id": pl.Utf8,
        "type": pl.Utf8,
        "genres": pl.List(pl.Utf8),
        "original_language": pl.Utf8,
        "year": pl.Int32,
        "popularity": pl.Float64,
        "vote_average": pl.Float64,
        "vote_count": pl.Int64,
    },
)
VECTORS = np.array([[1, 0, 0], [0, 2, 0], [0, 0, 3], [1, 1, 0]], dtype=np.float32)
POSITIONS = {f"i{k}": k for k in range(4)}

# user "u": i0 rated 4.0 a year (one half-life) before i1, which was played 35 days before T
EVENTS = [
    ("u", "i0", T - 400 * DAY, "rating", 1.0, 4.0),
    ("u", "i1", T - 35 * DAY, "play", 1.0, None),
    ("a", "i0", T - 20 * DAY, "rating", 1.0, 5.0),
    ("a", "i3", T - 5 * DAY, "rating", 1.0, 3.0),
    ("a", "i2", T, "play", 1.0, None),  # at as_of: invisible at T
    ("b", "i0", T - 100 * DAY, "play", 1.0, None),
    ("b", "i3", T - 1 * DAY, "play", 1.0, None),
    ("c", "i3", T - 10 * DAY, "rating", 1.0, 4.0),
    ("c", "i1", T - 500 * DAY, "rating", 1.0, 2.0),
]


def frame(events: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(events, schema=INTERACTIONS_SCHEMA, orient="row")


@pytest.fixture
def side() -> ItemSide:
    return ItemSide.from_catalog(CATALOG, VECTORS)


def world(events: list[tuple]) -> tuple[InteractionLog, ItemStats]:
    log = InteractionLog.from_frame(frame(events), POSITIONS)
    return log, ItemStats.from_log(log, len(POSITIONS))


def state_of(user: str, events: list[tuple], side: ItemSide, as_of: int = T):
    log, stats = world(events)
    return user_state_from_log(log, log.user_index()[user], as_of, side, stats), stats


def column(matrix: np.ndarray, names: tuple[str, ...], name: str) -> np.ndarray:
    return matrix[:, names.index(name)]


# --------------------------------------------------------------------------- ItemSide


def test_item_side_from_catalog(side: ItemSide) -> None:
    assert len(side) == 4
    norm = np.sqrt(0.5)
    np.testing.assert_allclose(
        side.vectors, [[1, 0, 0], [0, 1, 0], [0, 0, 1], [norm, norm, 0]], rtol=1e-6
    )
    assert side.vectors.dtype == np.float32
    assert side.genre_names == ["Action", "Comedy", "Drama"]
    genres = np.array([[0, 0.5, 0.5], [0, 0, 1], [0, 0, 0], [0.5, 0, 0.5]])
    np.testing.assert_allclose(side.genres, genres)
    assert side.languages == ["de", "en", "fr"]
    assert side.language.tolist() == [1, 2, -1, 0]
    np.testing.assert_array_equal(side.year, [1995, 2005, NAN, 2012])
    assert side.is_movie.tolist() == [1.0, 0.0, 1.0, 1.0]
    np.testing.assert_allclose(side.meta_popularity, np.log1p([10, NAN, 0, 100]))
    np.testing.assert_array_equal(side.vote_average, [7.0, 8.0, NAN, 6.5])


# --------------------------------------------------------------------------- UserState


def test_user_state_known_answer(side: ItemSide) -> None:
    state, stats = state_of("u", EVENTS, side)
    assert state.as_of == T
    assert state.items.tolist() == [0, 1]
    assert state.recent.tolist() == [1, 0]
    assert not state.is_cold
    # weights: i0 = 0.5 (one half-life old) * 4.0 / 5 = 0.4; i1 = 1 * 1 (no rating)
    expected = np.array([0.4, 1.0, 0.0]) / math.sqrt(0.4**2 + 1.0)
    np.testing.assert_allclose(state.profile, expected, rtol=1e-6)
    np.testing.assert_allclose(state.recency_weights(), [0.5, 1.0])
    # genres: (Comedy .5 + Drama .5) + Drama 1 = [0, .5, 1.5] / 2
    np.testing.assert_allclose(state.genre_affinity, [0.0, 0.25, 0.75])
    np.testing.assert_allclose(state.language_affinity, [0.0, 0.5, 0.5])  # de, en, fr
    decades = np.zeros(N_DECADES)
    decades[[9, 10]] = 0.5  # 1990s, 2000s
    np.testing.assert_allclose(state.decade_affinity, decades)
    # i0 was consumed 3 times before T, i1 twice
    summary = [math.log1p(2), 35.0, 4.0, (math.log1p(3) + math.log1p(2)) / 2]
    np.testing.assert_allclose(state.summary, summary)
    assert len(state.summary) == len(USER_FEATURES)


def test_user_state_recent_keeps_the_last_n_most_recent_first(side: ItemSide) -> None:
    stats = ItemStats.from_log(InteractionLog.from_frame(frame(EVENTS), POSITIONS), 4)
    items = np.array([2, 0, 3, 1])
    ts = np.array([1, 2, 3, 4]) * DAY
    state = user_state(items, ts, np.full(4, np.nan), T, side, stats, FeatureConfig(recent=2))
    assert state.recent.tolist() == [1, 3]
    assert np.isnan(state.summary[2])  # nothing rated
    # i2 has no year and no language: the shares are over the items that have them
    np.testing.assert_allclose(state.language_affinity, [1 / 3, 1 / 3, 1 / 3])
    assert state.decade_affinity.sum() == pytest.approx(1.0)


def test_cold_user_state(side: ItemSide) -> None:
    stats = ItemStats.from_log(InteractionLog.from_frame(frame(EVENTS), POSITIONS), 4)
    empty = np.zeros(0, dtype=np.int64)
    state = user_state(empty, empty, np.zeros(0, np.float32), T, side, stats)
    assert state.is_cold
    assert state.profile.tolist() == [0.0, 0.0, 0.0]
    assert state.recent.tolist() == []
    assert state.genre_affinity.tolist() == [0.0, 0.0, 0.0]
    assert state.language_affinity.tolist() == [0.0, 0.0, 0.0]
    assert state.decade_affinity.tolist() == [0.0] * N_DECADES
    np.testing.assert_array_equal(state.summary, [0.0, NAN, NAN, NAN])
    assert state.recency_weights().tolist() == []
    features = base_features(state, np.arange(4), side, stats)
    pair = features[:, [BASE_FEATURES.index(f) for f in PAIR_FEATURES]]
    assert np.isnan(pair).all()
    users = features[:, [BASE_FEATURES.index(f) for f in USER_FEATURES]]
    np.testing.assert_array_equal(users, np.tile([0.0, NAN, NAN, NAN], (4, 1)))


# --------------------------------------------------------------------------- base features


def expected_base_features() -> dict[str, list[float]]:
    c_all, c_30, c_365 = np.array([3, 2, 0, 3]), np.array([1, 0, 0, 3]), np.array([2, 1, 0, 3])
    n_rated, rating_sum = np.array([2, 1, 0, 2]), np.array([9.0, 2.0, 0.0, 7.0])
    years = np.array([1995, 2005, NAN, 2012])
    user_pop = (math.log1p(3) + math.log1p(2)) / 2
    norm = math.sqrt(1.16)
    half = math.sqrt(0.5)
    return {
        "item_pop_all": np.log1p(c_all),
        "item_pop_30d": np.log1p(c_30),
        "item_pop_365d": np.log1p(c_365),
        "item_trend": np.log((c_30 + 1) / (c_365 / 12 + 1)),
        "item_rating_mean": (rating_sum + 17.5) / (n_rated + 5),
        "item_rating_count": np.log1p(n_rated),
        "item_days_since_last": [20.0, 35.0, NAN, 1.0],
        "item_age_years": AS_OF_YEAR - years,
        "item_year": years,
        "item_is_movie": [1.0, 0.0, 1.0, 1.0],
        "item_meta_popularity": np.log1p([10.0, NAN, 0.0, 100.0]),
        "item_vote_average": [7.0, 8.0, NAN, 6.5],
        "item_vote_count": np.log1p([1200.0, NAN, 0.0, 50.0]),
        "user_n_history": [math.log1p(2)] * 4,
        "user_days_since_last": [35.0] * 4,
        "user_mean_rating": [4.0] * 4,
        "user_mean_item_pop": [user_pop] * 4,
        "sim_profile": [0.4 / norm, 1 / norm, 0.0, 1.4 * half / norm],
        "sim_recent_max": [1.0, 1.0, 0.0, half],
        "sim_recent_mean": [0.5, 0.5, 0.0, half],
        "genre_match": [0.5, 0.75, 0.0, 0.375],
        "language_match": [0.5, 0.5, NAN, 0.0],
        "decade_match": [0.5, 0.5, NAN, 0.0],
        "year_diff": years - 2000,
        "pop_diff": np.log1p(c_all) - user_pop,
    }


def test_base_features_known_answer_column_by_column(side: ItemSide) -> None:
    state, stats = state_of("u", EVENTS, side)
    features = base_features(state, np.arange(4), side, stats)
    assert features.shape == (4, len(BASE_FEATURES))
    assert features.dtype == np.float64
    expected = expected_base_features()
    assert tuple(expected) == BASE_FEATURES
    for name, values in expected.items():
        np.testing.assert_allclose(
            column(features, BASE_FEATURES, name), values, rtol=1e-6, atol=1e-7, err_msg=name
        )


def test_base_features_of_a_subset_are_the_rows_of_the_full_matrix(side: ItemSide) -> None:
    state, stats = state_of("u", EVENTS, side)
    full = base_features(state, np.arange(4), side, stats)
    some = base_features(state, np.array([3, 0, 3]), side, stats)
    np.testing.assert_array_equal(some, full[[3, 0, 3]])
    assert base_features(state, np.zeros(0, dtype=np.int64), side, stats).shape == (
        0,
        len(BASE_FEATURES),
    )


FUTURE = [
    ("u", "i2", T, "rating", 1.0, 5.0),  # the user's own event at exactly as_of
    ("u", "i3", T + 3 * DAY, "play", 1.0, None),
    ("a", "i1", T, "rating", 1.0, 1.0),
    ("b", "i1", T + 1, "play", 1.0, None),
    ("c", "i0", T + 40 * DAY, "rating", 1.0, 0.5),
    ("d", "i2", T + 2, "rating", 1.0, 5.0),  # a brand-new user
    ("d", "i3", T, "play", 1.0, None),
]


def test_no_leakage_events_at_or_after_as_of_change_nothing(side: ItemSide) -> None:
    before, stats_before = state_of("u", EVENTS, side)
    after, stats_after = state_of("u", EVENTS + FUTURE, side)
    for name in ("items", "ts", "profile", "recent", "genre_affinity", "summary"):
        np.testing.assert_array_equal(getattr(before, name), getattr(after, name), err_msg=name)
    np.testing.assert_array_equal(before.language_affinity, after.language_affinity)
    np.testing.assert_array_equal(before.decade_affinity, after.decade_affinity)
    items = np.arange(4)
    scores = np.random.default_rng(0).random((4, len(SOURCES)))
    np.testing.assert_array_equal(
        recommendation_features(before, items, scores, scores, side, stats_before),
        recommendation_features(after, items, scores, scores, side, stats_after),
    )
    for t in (T - DAY, T - 1, T):  # the item statistics seen at any as_of <= T agree too
        for window in (None, 30, 365):
            np.testing.assert_array_equal(
                stats_before.all_counts(t, window), stats_after.all_counts(t, window)
            )
        np.testing.assert_array_equal(stats_before.ratings(items, t), stats_after.ratings(items, t))
        np.testing.assert_array_equal(
            stats_before.last_seen(items, t), stats_after.last_seen(items, t)
        )


def test_no_leakage_from_a_later_rating_of_an_already_consumed_item(side: ItemSide) -> None:
    later = [("u", "i1", T + 5 * DAY, "rating", 1.0, 1.0), ("a", "i0", T + DAY, "rating", 1.0, 1.0)]
    before, stats_before = state_of("u", EVENTS, side)
    after, stats_after = state_of("u", EVENTS + later, side)
    np.testing.assert_array_equal(
        base_features(before, np.arange(4), side, stats_before),
        base_features(after, np.arange(4), side, stats_after),
    )


# --------------------------------------------------------------------------- full matrices


def test_recommendation_features_layout(side: ItemSide) -> None:
    state, stats = state_of("u", EVENTS, side)
    items = np.array([0, 2, 3])
    scores = np.full((3, len(SOURCES)), np.nan)
    ranks = np.full((3, len(SOURCES)), np.nan)
    scores[0, 0], ranks[0, 0] = 1.5, 1  # ann
    scores[0, 4], ranks[0, 4] = 40.0, 3  # popular
    scores[2, 3], ranks[2, 3] = 0.7, 2  # content
    out = recommendation_features(state, items, scores, ranks, side, stats)
    assert out.shape == (3, len(RECOMMENDATION_FEATURES))
    assert RECOMMENDATION_FEATURES[: len(BASE_FEATURES)] == BASE_FEATURES
    assert RECOMMENDATION_FEATURES[len(BASE_FEATURES) : len(BASE_FEATURES) + 4] == (
        "ann_score",
        "ann_rank",
        "covis_score",
        "covis_rank",
    )
    assert RECOMMENDATION_FEATURES[-1] == "n_sources"
    np.testing.assert_array_equal(
        out[:, : len(BASE_FEATURES)], base_features(state, items, side, stats)
    )
    for j, source in enumerate(SOURCES):
        np.testing.assert_array_equal(
            column(out, RECOMMENDATION_FEATURES, f"{source}_score"), scores[:, j]
        )
        np.testing.assert_array_equal(
            column(out, RECOMMENDATION_FEATURES, f"{source}_rank"), ranks[:, j]
        )
    assert column(out, RECOMMENDATION_FEATURES, "n_sources").tolist() == [2, 0, 1]
    assert column(out, RECOMMENDATION_FEATURES, "popular_score")[0] == 40.0
    assert column(out, RECOMMENDATION_FEATURES, "content_rank")[2] == 2


def test_search_features_layout(side: ItemSide) -> None:
    state, stats = state_of("u", EVENTS, side)
    items = np.array([1, 0])
    query = np.arange(2 * len(QUERY_FEATURES), dtype=np.float64).reshape(2, -1)
    out = search_features(state, items, query, side, stats)
    assert out.shape == (2, len(SEARCH_FEATURES))
    np.testing.assert_array_equal(out[:, -len(QUERY_FEATURES) :], query)
    assert SEARCH_FEATURES == BASE_FEATURES + QUERY_FEATURES


def test_anonymous_search_features_are_item_priors_and_query_columns(side: ItemSide) -> None:
    """Anonymous search sees the same item priors as recommendations (same function, same
    values) beside the query columns, and nothing about a user."""
    state, stats = state_of("u", EVENTS, side)
    items = np.array([3, 0, 1])
    query = np.arange(3 * len(QUERY_FEATURES), dtype=np.float64).reshape(3, -1)
    out = anonymous_search_features(items, state.as_of, query, side, stats)
    assert ANONYMOUS_SEARCH_FEATURES == ITEM_FEATURES + QUERY_FEATURES
    assert out.shape == (3, len(ANONYMOUS_SEARCH_FEATURES))
    personal = base_features(state, items, side, stats)
    np.testing.assert_array_equal(out[:, : len(ITEM_FEATURES)], personal[:, : len(ITEM_FEATURES)])
    np.testing.assert_array_equal(out[:, len(ITEM_FEATURES) :], query)


def test_feature_name_lists_are_unique() -> None:
    assert len(set(RECOMMENDATION_FEATURES)) == len(RECOMMENDATION_FEATURES)
    assert len(set(SEARCH_FEATURES)) == len(SEARCH_FEATURES)
    assert len(ITEM_FEATURES) + len(USER_FEATURES) + len(PAIR_FEATURES) == len(BASE_FEATURES)


def test_item_vectors_are_the_content_documents() -> None:
    doc_items = np.array([0, 0, 1, 2, 2])
    doc_kinds = np.array(["localized", "content", "content", "localized", "content"])
    vectors = np.arange(15, dtype=np.float32).reshape(5, 3)
    out = item_vectors(doc_items, doc_kinds, vectors, n_items=4)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0], vectors[1])  # content, not the localized overview
    np.testing.assert_array_equal(out[1], vectors[2])
    np.testing.assert_array_equal(out[2], vectors[4])
    np.testing.assert_array_equal(out[3], [0, 0, 0])  # no document
