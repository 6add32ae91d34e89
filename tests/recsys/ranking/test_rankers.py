"""One contract suite for every ranker, plus known answers for each of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.core.errors import ArtifactError
from recsys.evaluation.metrics import ndcg_at_k
from recsys.ranking.features import BASE_FEATURES, RECOMMENDATION_FEATURES, SEARCH_FEATURES, SOURCES
from recsys.ranking.rankers import (
    EaseRanker,
    LightGBMParams,
    LightGBMRanker,
    NoOpRanker,
    PopularityRanker,
    Ranker,
    baseline_rankers,
)

NAMES = RECOMMENDATION_FEATURES
WIDTH = len(NAMES)
SIGNAL = NAMES.index("sim_profile")  # the one informative feature of the synthetic problem
PARAMS = LightGBMParams(
    num_boost_round=25,
    min_data_in_leaf=5,
    num_leaves=7,
    num_threads=1,
    feature_fraction=1.0,
    bagging_fraction=1.0,
    bagging_freq=0,
)


def synthetic_lists(
    seed: int, n_lists: int = 40, per_list: int = 20
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random features; label 1 exactly when the signal feature is above 0.5 (with a margin)."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n_lists * per_list, WIDTH))
    features[rng.random(features.shape) < 0.1] = np.nan
    signal = rng.random(n_lists * per_list)
    signal = np.where(signal > 0.5, 0.6 + 0.4 * signal, 0.4 * signal)
    features[:, SIGNAL] = signal
    labels = (signal > 0.5).astype(np.float64)
    groups = np.full(n_lists, per_list, dtype=np.int64)
    return features, labels, groups


@pytest.fixture(scope="module")
def lightgbm_ranker() -> LightGBMRanker:
    features, labels, groups = synthetic_lists(0)
    return LightGBMRanker.train(features, labels, groups, NAMES, PARAMS)


@pytest.fixture(params=["noop", "popularity", "ease", "lightgbm"])
def ranker(request: pytest.FixtureRequest, lightgbm_ranker: LightGBMRanker) -> Ranker:
    if request.param == "lightgbm":
        return lightgbm_ranker
    return baseline_rankers(NAMES)[request.param]


def random_features(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, WIDTH)) * 3
    features[rng.random(features.shape) < 0.3] = np.nan
    for source in SOURCES:  # ranks are small positive integers (or NaN)
        col = NAMES.index(f"{source}_rank")
        features[:, col] = np.where(
            rng.random(n) < 0.5, np.nan, rng.integers(1, 30, n).astype(np.float64)
        )
    return features


# --------------------------------------------------------------------------- the contract


def test_scores_are_float64_one_per_row(ranker: Ranker) -> None:
    scores = ranker.score(random_features(50))
    assert scores.dtype == np.float64
    assert scores.shape == (50,)
    assert np.isfinite(scores).all()
    assert ranker.feature_names == NAMES
    assert isinstance(ranker.name, str) and ranker.name


def test_empty_matrix_gives_empty_scores(ranker: Ranker) -> None:
    scores = ranker.score(np.zeros((0, WIDTH)))
    assert scores.shape == (0,)
    assert scores.dtype == np.float64


def test_scores_are_deterministic(ranker: Ranker) -> None:
    features = random_features(40)
    np.testing.assert_array_equal(ranker.score(features), ranker.score(features.copy()))


def test_scores_are_permutation_equivariant(ranker: Ranker) -> None:
    features = random_features(60)
    perm = np.random.default_rng(3).permutation(60)
    np.testing.assert_array_equal(ranker.score(features[perm]), ranker.score(features)[perm])
    np.testing.assert_array_equal(ranker.score(features[:1]), ranker.score(features)[:1])


@pytest.mark.parametrize("shape", [(3, WIDTH - 1), (3, WIDTH + 1), (WIDTH,), (2, 3, WIDTH)])
def test_wrong_shape_is_rejected(ranker: Ranker, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        ranker.score(np.zeros(shape))


# --------------------------------------------------------------------------- LightGBM


def test_lightgbm_save_load_round_trip(lightgbm_ranker: LightGBMRanker, tmp_path: Path) -> None:
    path = tmp_path / "ranker.txt"
    lightgbm_ranker.save(path)
    loaded = LightGBMRanker.load(path, NAMES)
    features = random_features(80)
    np.testing.assert_array_equal(loaded.score(features), lightgbm_ranker.score(features))
    assert loaded.feature_names == NAMES


def test_lightgbm_load_with_another_feature_list_fails(
    lightgbm_ranker: LightGBMRanker, tmp_path: Path
) -> None:
    path = tmp_path / "ranker.txt"
    lightgbm_ranker.save(path)
    with pytest.raises(ArtifactError, match="different feature list"):
        LightGBMRanker.load(path, NAMES[::-1])
    with pytest.raises(ArtifactError):
        LightGBMRanker.load(path, SEARCH_FEATURES)


def test_lightgbm_load_of_a_corrupt_file_fails(tmp_path: Path) -> None:
    path = tmp_path / "ranker.txt"
    path.write_text("not a model\n")
    with pytest.raises(ArtifactError):
        LightGBMRanker.load(path, NAMES)


def test_lightgbm_learns_the_informative_feature(lightgbm_ranker: LightGBMRanker) -> None:
    features, labels, groups = synthetic_lists(7, n_lists=20)
    scores = lightgbm_ranker.score(features)
    random_scores = np.random.default_rng(0).random(len(scores))
    starts = np.concatenate([[0], np.cumsum(groups)])
    learned, chance = [], []
    for lo, hi in zip(starts[:-1], starts[1:], strict=True):
        rel = labels[lo:hi]
        if not 0 < rel.sum() < len(rel):
            continue
        # every positive above every negative of its list
        assert scores[lo:hi][rel == 1].min() > scores[lo:hi][rel == 0].max()
        ranked = np.argsort(-scores[lo:hi], kind="stable")
        shuffled = np.argsort(-random_scores[lo:hi], kind="stable")
        relevant = {str(i) for i in np.flatnonzero(rel == 1)}
        learned.append(ndcg_at_k([str(i) for i in ranked], relevant, 10))
        chance.append(ndcg_at_k([str(i) for i in shuffled], relevant, 10))
    assert len(learned) >= 10
    assert np.mean(learned) == pytest.approx(1.0)
    assert np.mean(learned) > np.mean(chance) + 0.1
    importance = lightgbm_ranker.importance()
    assert max(importance, key=importance.__getitem__) == "sim_profile"


# --------------------------------------------------------------------------- baselines


def test_noop_orders_by_best_source_rank_with_unranked_last() -> None:
    features = np.zeros((4, WIDTH))
    for source in SOURCES:
        features[:, NAMES.index(f"{source}_rank")] = np.nan
    features[0, NAMES.index("ann_rank")] = 3
    features[0, NAMES.index("popular_rank")] = 1
    features[1, NAMES.index("covis_rank")] = 2
    features[3, NAMES.index("ease_rank")] = 1
    features[:, NAMES.index("ann_score")] = [0.0, 100.0, 100.0, 0.0]  # scores are not read
    scores = NoOpRanker(NAMES).score(features)
    assert scores.tolist() == [-1.0, -2.0, -1e9, -1.0]
    assert np.argsort(-scores, kind="stable").tolist() == [0, 3, 1, 2]


def test_noop_reads_the_query_rank_of_search_lists() -> None:
    features = np.zeros((3, len(SEARCH_FEATURES)))
    features[:, SEARCH_FEATURES.index("query_rank")] = [2, 1, np.nan]
    assert NoOpRanker(SEARCH_FEATURES).score(features).tolist() == [-2.0, -1.0, -1e9]


def test_noop_needs_a_rank_feature() -> None:
    with pytest.raises(ArtifactError):
        NoOpRanker(BASE_FEATURES)


def test_popularity_orders_by_last_year_then_all_time() -> None:
    features = np.zeros((4, WIDTH))
    features[:, NAMES.index("item_pop_365d")] = [1.0, 3.0, np.nan, 3.0]
    features[:, NAMES.index("item_pop_all")] = [9.0, 4.0, 5.0, 6.0]
    features[:, NAMES.index("item_pop_30d")] = [50.0, 0.0, 0.0, 0.0]  # not read
    scores = PopularityRanker(NAMES).score(features)
    assert np.argsort(-scores, kind="stable").tolist() == [3, 1, 0, 2]
    np.testing.assert_allclose(scores, [1.009, 3.004, 0.005, 3.006])


def test_ease_orders_by_ease_score_then_source_order() -> None:
    features = np.full((5, WIDTH), np.nan)
    features[:, NAMES.index("ease_score")] = [0.2, np.nan, 0.9, np.nan, -0.5]
    features[:, NAMES.index("covis_rank")] = [1.0, 4.0, 2.0, 2.0, 3.0]
    scores = EaseRanker(NAMES).score(features)
    assert np.argsort(-scores, kind="stable").tolist() == [2, 0, 4, 3, 1]


def test_popularity_needs_its_columns() -> None:
    with pytest.raises(ArtifactError, match="item_pop_365d"):
        PopularityRanker(("item_pop_all", "ann_rank"))


def test_baseline_rankers_by_name() -> None:
    rankers = baseline_rankers(NAMES)
    assert set(rankers) == {"noop", "popularity", "ease"}
    assert {name: r.name for name, r in rankers.items()} == {
        "noop": "noop",
        "popularity": "popularity",
        "ease": "ease",
    }


def test_lightgbm_trained_on_row_blocks_equals_trained_on_one_array() -> None:
    """Row blocks (views, as ``train_on_lists`` passes the training lists) give the very
    model one array gives."""
    features, labels, groups = synthetic_lists(3, n_lists=30, per_list=15)
    whole = LightGBMRanker.train(features, labels, groups, NAMES, PARAMS)
    blocks = [features[:100], features[100:101], features[101:]]
    blocked = LightGBMRanker.train(blocks, labels, groups, NAMES, PARAMS)
    assert blocked.booster.model_to_string() == whole.booster.model_to_string()


def test_row_blocks_are_the_chosen_lists_rows_as_views() -> None:
    from recsys.ranking.lists import TrainingLists, _row_blocks

    groups = np.array([3, 2, 4, 1, 5])
    rows = int(groups.sum())
    lists = TrainingLists(
        np.arange(rows * 2, dtype=np.float64).reshape(rows, 2),
        np.zeros(rows),
        groups,
        np.zeros(rows, np.int64),
        np.zeros(rows, np.int64),
        np.zeros(rows, np.int64),
        ("a", "b"),
    )
    for mask in ([1, 0, 1, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0]):
        chosen = np.array(mask, dtype=bool)
        blocks = _row_blocks(lists, chosen)
        got = np.concatenate(blocks) if blocks else np.zeros((0, 2))
        want = lists.features[lists.rows_of_lists(np.flatnonzero(chosen))]
        assert np.array_equal(got, want)
        assert all(np.shares_memory(block, lists.features) for block in blocks)
