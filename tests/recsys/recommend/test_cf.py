"""Known-answer tests for the collaborative-filtering item models (tiny hand-computed inputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.recommend.cf.als import AlsModel, fit_als
from recsys.recommend.cf.ease import EaseModel, fit_ease
from recsys.recommend.cf.neighbors import ItemNeighbors, fit_covisitation, fit_item_knn
from recsys.recommend.cf.sparse import interaction_matrix, top_k_per_row

NEIGHBOURS = np.array(
    [
        [0.0, 0.5, 0.2, 0.0],
        [0.5, 0.0, 0.0, 0.3],
        [0.1, 0.0, 0.0, 0.9],
        [0.0, 0.4, 0.6, 0.0],
    ],
    dtype=np.float32,
)


@pytest.fixture
def nbrs() -> ItemNeighbors:
    return ItemNeighbors(sp.csr_matrix(NEIGHBOURS))


def dense(neighbors: ItemNeighbors) -> np.ndarray:
    return neighbors.matrix.toarray()


def testtop_k_per_row_dense_and_sparse_agree_with_brute_force() -> None:
    rng = np.random.default_rng(0)
    block = rng.integers(-2, 4, size=(30, 12)).astype(np.float32) / 2  # many ties and <= 0
    for k in (0, 1, 3, 12, 20):
        expected = np.zeros_like(block)
        for r, row in enumerate(block):
            best = sorted((-v, c) for c, v in enumerate(row) if v > 0)[:k]
            for _, c in best:
                expected[r, c] = row[c]
        for given in (block, sp.csr_matrix(block)):
            got = top_k_per_row(given, k)
            assert isinstance(got, sp.csr_matrix) and got.dtype == np.float32
            np.testing.assert_array_equal(got.toarray(), expected)


def test_interaction_matrix_is_binary_and_collapses_duplicates() -> None:
    X = interaction_matrix(np.array([0, 0, 0, 1, 1]), np.array([2, 2, 2, 0, 1]), 2, 3)
    assert isinstance(X, sp.csr_matrix)
    assert X.dtype == np.float32 and X.shape == (2, 3) and X.nnz == 3
    np.testing.assert_array_equal(X.toarray(), [[0, 0, 1], [1, 1, 0]])


def test_neighbors_scores(nbrs: ItemNeighbors) -> None:
    s = nbrs.scores(np.array([0, 2]))
    assert s.dtype == np.float32 and s.shape == (4,)
    np.testing.assert_allclose(s, [0.1, 0.5, 0.2, 0.9], rtol=1e-6)
    weighted = nbrs.scores(np.array([0, 2]), np.array([2.0, 1.0]))
    np.testing.assert_allclose(weighted, [0.1, 1.0, 0.4, 0.9], rtol=1e-6)
    np.testing.assert_array_equal(nbrs.scores(np.array([], dtype=np.int64)), np.zeros(4))


def test_neighbors_top_contributor(nbrs: ItemNeighbors) -> None:
    assert nbrs.top_contributor(np.array([0, 2]), None, target=1) == 0
    assert nbrs.top_contributor(np.array([0, 2]), None, target=3) == 2
    assert nbrs.top_contributor(np.array([1, 2]), None, target=0) == 1  # 0.5 > 0.1
    assert nbrs.top_contributor(np.array([1, 2]), np.array([0.1, 1.0]), target=0) == 2
    assert nbrs.top_contributor(np.array([0]), None, target=3) is None
    assert nbrs.top_contributor(np.array([], dtype=np.int64), None, target=0) is None


def test_neighbors_neighbours(nbrs: ItemNeighbors) -> None:
    items, weights = nbrs.similar(3, 2)
    np.testing.assert_array_equal(items, [2, 1])
    np.testing.assert_allclose(weights, [0.6, 0.4])
    items, weights = nbrs.similar(0, 10)
    np.testing.assert_array_equal(items, [1, 2])
    assert nbrs.similar(2, 1)[0].tolist() == [3]


def test_neighbors_save_load_round_trip(nbrs: ItemNeighbors, tmp_path: Path) -> None:
    for name in ("nbrs.npz", "no_suffix"):
        nbrs.save(tmp_path / name)
        assert (tmp_path / name).exists()
        loaded = ItemNeighbors.load(tmp_path / name)
        assert isinstance(loaded.matrix, sp.csr_matrix) and loaded.matrix.dtype == np.float32
        np.testing.assert_array_equal(dense(loaded), NEIGHBOURS)


# item 1 is seen once -> inactive with min_item_count=2, so active items are [0, 2, 3]
EASE_X = np.array(
    [
        [1, 1, 0, 0],
        [1, 0, 1, 0],
        [0, 0, 1, 1],
        [1, 0, 1, 1],
        [0, 0, 0, 1],
    ],
    dtype=np.float32,
)


def ease_reference(X: np.ndarray, l2: float) -> np.ndarray:
    P = np.linalg.inv(X.T.astype(np.float64) @ X + l2 * np.eye(X.shape[1]))
    return np.eye(X.shape[1]) - P @ np.diag(1.0 / np.diag(P))


def test_ease_matches_closed_form() -> None:
    model = fit_ease(sp.csr_matrix(EASE_X), l2=0.5, min_item_count=2)
    assert isinstance(model, EaseModel) and model.n_items == 4
    np.testing.assert_array_equal(model.items, [0, 2, 3])
    assert model.weights.dtype == np.float32
    expected = ease_reference(EASE_X[:, [0, 2, 3]], 0.5)
    np.testing.assert_allclose(model.weights, expected, atol=1e-6)
    np.testing.assert_array_equal(np.diag(model.weights), 0.0)


def test_ease_keeps_the_most_consumed_items_under_a_cap() -> None:
    counts = EASE_X.sum(axis=0)  # a tie broken by the lower position
    model = fit_ease(sp.csr_matrix(EASE_X), l2=0.5, min_item_count=1, max_items=2)
    head = np.sort(np.argsort(-counts, kind="stable")[:2])
    np.testing.assert_array_equal(model.items, head)
    np.testing.assert_allclose(
        model.weights, ease_reference(EASE_X[:, head], 0.5), atol=1e-6
    )  # the exact EASE of the kept columns
    scores = model.scores(np.array([0, 1, 2, 3]))
    assert set(np.flatnonzero(scores).tolist()) <= set(head.tolist())
    uncapped = fit_ease(sp.csr_matrix(EASE_X), l2=0.5, min_item_count=1, max_items=99)
    np.testing.assert_array_equal(uncapped.items, np.arange(EASE_X.shape[1]))


def test_ease_more_items_than_users_matches_closed_form() -> None:
    # 3 non-empty users < 5 items: the Woodbury path; an empty user row must not matter
    X = np.array(
        [[1, 1, 0, 0, 1], [0, 1, 1, 1, 0], [0, 0, 0, 0, 0], [1, 0, 1, 1, 1]], dtype=np.float32
    )
    for l2 in (0.5, 500.0):
        model = fit_ease(sp.csr_matrix(X), l2=l2, min_item_count=1)
        np.testing.assert_array_equal(model.items, np.arange(5))
        np.testing.assert_allclose(model.weights, ease_reference(X, l2), rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(np.diag(model.weights), 0.0)


def test_ease_scores_ignore_inactive_items() -> None:
    model = fit_ease(sp.csr_matrix(EASE_X), l2=0.5)
    s = model.scores(np.array([0, 1]))  # item 1 is inactive: ignored
    np.testing.assert_allclose(s[[0, 2, 3]], model.weights[0], rtol=1e-6)
    assert s[1] == 0.0 and s.shape == (4,) and s.dtype == np.float32
    weighted = model.scores(np.array([0, 3]), np.array([2.0, -1.0]))
    np.testing.assert_allclose(weighted[[0, 2, 3]], 2 * model.weights[0] - model.weights[2])
    np.testing.assert_array_equal(model.scores(np.array([1])), np.zeros(4))


def test_ease_prune_keeps_top_positive_weights_in_global_positions() -> None:
    model = EaseModel(
        items=np.array([0, 2, 3]),
        weights=np.array([[0, 0.3, 0.3], [-0.2, 0, 0.1], [-0.5, -0.1, 0]], dtype=np.float32),
        n_items=4,
    )
    pruned = dense(model.prune(1))
    expected = np.zeros((4, 4), dtype=np.float32)
    expected[0, 2] = 0.3  # tie between local columns 1 and 2 -> lower column (global 2)
    expected[2, 3] = 0.1  # the only positive weight of row 2; row 3 has none
    np.testing.assert_array_equal(pruned, expected)
    full = dense(model.prune(5))
    assert full[0, 2] == full[0, 3] == np.float32(0.3) and (full >= 0).all()
    assert np.count_nonzero(full) == 3


def test_item_knn_hand_computed_cosine() -> None:
    X = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1]], dtype=np.float32))
    # counts n = [2, 3, 2, 1]; co-counts c01=2 c02=1 c12=2 c13=1 c23=1
    s6, s3, s2 = np.sqrt(6), np.sqrt(3), np.sqrt(2)
    expected = np.array(
        [
            [0, 2 / (s6 + 1), 1 / 3, 0],
            [2 / (s6 + 1), 0, 2 / (s6 + 1), 1 / (s3 + 1)],
            [1 / 3, 2 / (s6 + 1), 0, 1 / (s2 + 1)],
            [0, 1 / (s3 + 1), 1 / (s2 + 1), 0],
        ]
    )
    knn = fit_item_knn(X, top_k=10, shrink=1.0)
    assert knn.matrix.dtype == np.float32 and knn.matrix.shape == (4, 4)
    np.testing.assert_allclose(dense(knn), expected, rtol=1e-6)
    top1 = dense(fit_item_knn(X, top_k=1, shrink=1.0))
    # row 1 ties between columns 0 and 2 -> column 0
    assert [int(np.flatnonzero(row)[0]) for row in top1] == [1, 0, 1, 2]
    assert (np.count_nonzero(top1, axis=1) == 1).all()
    no_shrink = dense(fit_item_knn(X, top_k=10, shrink=0.0))
    np.testing.assert_allclose(no_shrink[0, 1], 2 / s6, rtol=1e-6)


# two users, time-ordered: user 0 watches 0,1,2; user 1 watches 1,0,3
COVIS_USERS = np.array([0, 0, 0, 1, 1, 1])
COVIS_ITEMS = np.array([0, 1, 2, 1, 0, 3])
# window 2: (0,1)+1 (1,2)+1 (0,2)+1/2 | (1,0)+1 (0,3)+1 (1,3)+1/2, symmetric, none across users
COVIS_RAW = np.array(
    [
        [0, 2, 0.5, 1],
        [2, 0, 1, 0.5],
        [0.5, 1, 0, 0],
        [1, 0.5, 0, 0],
    ]
)


def test_covisitation_weights_alpha_zero() -> None:
    nb = fit_covisitation(COVIS_USERS, COVIS_ITEMS, 4, window=2, top_k=10, popularity_alpha=0)
    assert nb.matrix.dtype == np.float32
    np.testing.assert_allclose(dense(nb), COVIS_RAW, rtol=1e-6)


def test_covisitation_weights_alpha_one_divides_by_target_count() -> None:
    nb = fit_covisitation(COVIS_USERS, COVIS_ITEMS, 4, window=2, top_k=10, popularity_alpha=1)
    counts = np.array([2, 2, 1, 1])
    np.testing.assert_allclose(dense(nb), COVIS_RAW / counts[None, :], rtol=1e-6)


def test_covisitation_window_top_k_and_repeats() -> None:
    nb = fit_covisitation(COVIS_USERS, COVIS_ITEMS, 4, window=1, top_k=10, popularity_alpha=0)
    assert dense(nb)[0, 2] == 0 and dense(nb)[0, 1] == 2  # distance-2 pairs are out
    top1 = fit_covisitation(COVIS_USERS, COVIS_ITEMS, 4, window=2, top_k=1, popularity_alpha=0)
    assert [int(top1.matrix[r].indices[0]) for r in range(4)] == [1, 0, 1, 0]
    repeat = fit_covisitation(np.zeros(3), np.array([0, 0, 1]), 2, window=2, popularity_alpha=0)
    np.testing.assert_allclose(dense(repeat), [[0, 1.5], [1.5, 0]])  # (0,0) skipped


def block_matrix() -> sp.csr_matrix:
    """Users 0-9 watch items 0-4 (user 0 only 0-2); users 10-19 watch items 5-9."""
    X = np.zeros((20, 10), dtype=np.float32)
    X[1:10, :5] = 1
    X[0, :3] = 1
    X[10:, 5:] = 1
    return sp.csr_matrix(X)


def test_als_block_structure_and_fold_in() -> None:
    pytest.importorskip("implicit")
    model = fit_als(block_matrix(), factors=4, iterations=10, seed=0)
    assert isinstance(model, AlsModel)
    assert model.user_factors.shape == (20, 4) and model.item_factors.shape == (10, 4)
    assert model.user_factors.dtype == model.item_factors.dtype == np.float32
    s = model.scores_for_user(0)
    assert s.shape == (10,) and s[[3, 4]].min() > s[5:].max()
    folded = model.fold_in(np.array([0, 1]))
    assert folded.shape == (10,) and folded[2:5].min() > folded[5:].max()
    assert model.fold_in(np.array([7]))[5:].min() > model.fold_in(np.array([7]))[:5].max()
    again = fit_als(block_matrix(), factors=4, iterations=10, seed=0)
    assert again is not None
    np.testing.assert_allclose(again.item_factors, model.item_factors, rtol=1e-5, atol=1e-6)


def test_covisitation_in_row_blocks_equals_all_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from recsys.recommend.cf import neighbors

    rng = np.random.default_rng(0)
    users = np.sort(rng.integers(0, 200, 8_000))
    items = rng.integers(0, 700, 8_000)
    whole = neighbors.fit_covisitation(users, items, 700)
    monkeypatch.setattr(neighbors, "COVIS_BLOCK_ENTRIES", 2_000)  # ~many small blocks
    blocked = neighbors.fit_covisitation(users, items, 700)
    assert whole.matrix.nnz > 10_000
    assert (whole.matrix != blocked.matrix).nnz == 0


def test_covisitation_blocks_are_cut_by_counted_entries() -> None:
    from recsys.recommend.cf.neighbors import _pairs, _row_blocks

    rng = np.random.default_rng(1)
    users = np.sort(rng.integers(0, 300, 20_000)).astype(np.int32)
    items = rng.integers(0, 500, 20_000).astype(np.int32)
    items[rng.random(20_000) < 0.3] = 7  # one very popular item: its row alone is huge
    per_row = np.zeros(500, dtype=np.int64)
    for d in range(1, 6):
        a, b = _pairs(users, items, d)
        per_row += np.bincount(a, minlength=500) + np.bincount(b, minlength=500)
    blocks = _row_blocks(users, items, 500, 5, budget=5_000, min_blocks=1)
    assert blocks[0][0] == 0 and blocks[-1][1] == 500
    assert all(stop == start for (_, stop), (start, _) in zip(blocks, blocks[1:], strict=False))
    sizes = [int(per_row[a:b].sum()) for a, b in blocks]
    assert per_row[7] > 5_000 and (7, 8) in blocks  # over the budget: a block of its own
    assert all(size <= 5_000 for (a, b), size in zip(blocks, sizes, strict=True) if b - a > 1)
    assert sum(sizes) == per_row.sum()
    assert len(_row_blocks(users, items, 500, 5, budget=10**9, min_blocks=4)) >= 4


def test_ease_gram_in_column_blocks_equals_the_sparse_product() -> None:
    from recsys.recommend.cf.ease import _sparse_gram

    rng = np.random.default_rng(3)
    X = sp.random(300, 40, density=0.2, random_state=4, format="csr", dtype=np.float64)
    X.data[:] = 1.0  # binary, as interaction_matrix makes it
    expected = (X.T @ X).toarray()
    for block in (1, 7, 40, 4096):
        np.testing.assert_array_equal(_sparse_gram(X, block), expected)
    assert _sparse_gram(X).flags.f_contiguous  # potrf's overwrite_a works in place only then
    X.data[:] = rng.random(X.nnz)  # weighted values: the same sums, to rounding
    np.testing.assert_allclose(_sparse_gram(X, 7), (X.T @ X).toarray(), rtol=1e-12)
