"""The CF model contract (``recsys.recommend.cf.ItemModel``: fit / scores / similar), run over
every model on one known-answer interaction matrix: users 0-9 consume items 0-4, users 10-19
items 5-9. A new model is one more entry in ``FITS``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.recommend.cf import ItemModel
from recsys.recommend.cf.als import AlsModel, fit_als
from recsys.recommend.cf.ease import fit_ease
from recsys.recommend.cf.neighbors import fit_covisitation, fit_item_knn

N_USERS, N_ITEMS = 20, 10
CLUSTER_A, CLUSTER_B = set(range(5)), set(range(5, 10))


def interactions() -> tuple[np.ndarray, np.ndarray]:
    """(users, items) in time order per user: each user walks their cluster once."""
    users, items = [], []
    for u in range(N_USERS):
        cluster = range(5) if u < 10 else range(5, 10)
        for step in range(5):
            users.append(u)
            items.append(list(cluster)[(u + step) % 5])
    return np.array(users), np.array(items)


def matrix() -> sp.csr_matrix:
    users, items = interactions()
    return sp.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, items)), shape=(N_USERS, N_ITEMS)
    )


def _als() -> ItemModel:
    pytest.importorskip("implicit")
    model = fit_als(matrix(), factors=4, iterations=10, seed=0)
    assert model is not None
    return model


FITS: dict[str, Callable[[], ItemModel]] = {
    "covisitation": lambda: fit_covisitation(*interactions(), N_ITEMS, window=3, top_k=5),
    "item_knn": lambda: fit_item_knn(matrix(), top_k=5),
    "ease": lambda: fit_ease(matrix(), l2=1.0, min_item_count=1),
    "ease_pruned": lambda: fit_ease(matrix(), l2=1.0, min_item_count=1).prune(5),
    "als": _als,
}


@pytest.fixture(scope="module", params=list(FITS))
def model(request: pytest.FixtureRequest) -> ItemModel:
    return FITS[request.param]()


def test_scores_cover_the_catalogue(model: ItemModel) -> None:
    scores = model.scores(np.array([0, 1]))
    assert model.n_items == N_ITEMS
    assert scores.shape == (N_ITEMS,) and scores.dtype == np.float32
    assert np.all(np.isfinite(scores))


def test_empty_history_scores_nothing(model: ItemModel) -> None:
    np.testing.assert_array_equal(model.scores(np.zeros(0, dtype=np.int64)), 0.0)


@pytest.mark.parametrize(("history", "cluster"), [([0, 1], CLUSTER_A), ([7], CLUSTER_B)])
def test_history_points_at_its_cluster(model: ItemModel, history: list[int], cluster: set[int]):
    scores = model.scores(np.array(history))
    unseen = [i for i in range(N_ITEMS) if i not in history]
    best = max(unseen, key=lambda i: scores[i])
    assert best in cluster
    assert min(scores[i] for i in cluster - set(history)) > max(
        scores[i] for i in set(range(N_ITEMS)) - cluster
    )


def test_weights_scale_scores(model: ItemModel) -> None:
    if isinstance(model, AlsModel):
        pytest.skip("ALS confidence is binary: weights are not used")
    once = model.scores(np.array([0, 1]), np.array([1.0, 1.0]))
    twice = model.scores(np.array([0, 1]), np.array([2.0, 2.0]))
    np.testing.assert_allclose(twice, 2 * once, rtol=1e-5)


@pytest.mark.parametrize("item", [0, 3, 6])
def test_similar_items_are_ranked_neighbours(model: ItemModel, item: int) -> None:
    items, scores = model.similar(item, 3)
    assert items.dtype == np.int64 and scores.dtype == np.float32
    assert 0 < len(items) <= 3 and len(items) == len(scores)
    assert item not in items.tolist()
    assert len(set(items.tolist())) == len(items)
    assert np.all(np.diff(scores) <= 0)
    cluster = CLUSTER_A if item in CLUSTER_A else CLUSTER_B
    assert int(items[0]) in cluster
    assert len(model.similar(item, 0)[0]) == 0
