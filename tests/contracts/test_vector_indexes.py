"""The VectorIndex contract, run over every implementation: ExactIndex, faiss flat, IVF and
HNSW, and the per-kind PartitionedIndex. A new index is one more ``KINDS`` entry in
``make_index``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.search.partitioned_index import PartitionedIndex, build_partitioned_index
from recsys.search.vector_index import (
    ExactIndex,
    FaissIndex,
    IndexParams,
    VectorIndex,
    build_index,
    gpu_count,
    recall_at_k,
)

KINDS = ["exact", "flat", "ivf", "hnsw", "partitioned"]

# Five hand-made unit vectors in 4 dims, rows deliberately not in score order.
TINY = np.array(
    [
        [0.8, 0.6, 0.0, 0.0],  # 0
        [0.0, 0.0, 0.0, 1.0],  # 1
        [-1.0, 0.0, 0.0, 0.0],  # 2
        [1.0, 0.0, 0.0, 0.0],  # 3
        [0.6, 0.0, 0.8, 0.0],  # 4
    ],
    dtype=np.float32,
)
TINY_QUERIES = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.6, 0.48, 0.64]], dtype=np.float32)
# q0 . rows = [0.8, 0, -1, 1, 0.6]; q1 . rows = [0.36, 0.64, 0, 0, 0.384]
TINY_TOP3_IDS = [[3, 0, 4], [1, 4, 0]]
TINY_TOP3_SCORES = [[1.0, 0.8, 0.6], [0.64, 0.384, 0.36]]


def make_index(kind: str, vectors: np.ndarray, **params: object) -> VectorIndex:
    if kind == "exact":
        return ExactIndex(vectors)
    if kind == "partitioned":  # three parts, interleaved rows
        labels = np.array(["a", "b", "c"])[np.arange(len(vectors)) % 3]
        return build_partitioned_index(vectors, labels, IndexParams(kind="flat"))
    return build_index(vectors, IndexParams(kind=kind, **params))  # type: ignore[arg-type]


def save_and_load(index: VectorIndex, directory: Path) -> VectorIndex:
    if isinstance(index, ExactIndex):
        path = directory / "index.npy"  # np.save appends .npy to any other name
        index.save(path)
        return ExactIndex.load(path)
    if isinstance(index, PartitionedIndex):
        index.save(directory)
        return PartitionedIndex.load(directory, index.labels(), index.params)
    assert isinstance(index, FaissIndex)
    path = directory / "index.faiss"
    index.save(path)
    return FaissIndex.load(path, IndexParams.from_dict(index.params.to_dict()))


def expected_built_on(kind: str) -> str:
    return "gpu" if gpu_count() > 0 and kind != "hnsw" else "cpu"


@pytest.fixture(scope="module", params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def big(kind: str, corpus: np.ndarray) -> VectorIndex:
    return make_index(kind, corpus)


@pytest.fixture(scope="module")
def tiny(kind: str) -> VectorIndex:
    return make_index(kind, TINY)


@pytest.fixture(scope="module")
def exact_big(corpus: np.ndarray) -> ExactIndex:
    return ExactIndex(corpus)


def assert_well_formed(scores: np.ndarray, ids: np.ndarray, n_queries: int, k: int, n: int):
    assert scores.shape == ids.shape == (n_queries, k)
    assert scores.dtype == np.float32
    assert ids.dtype == np.int64
    assert np.all(scores[:, :-1] >= scores[:, 1:]), "scores must be descending"
    assert np.all((ids >= -1) & (ids < n))
    assert np.array_equal(ids == -1, np.isneginf(scores)), "-1 ids iff -inf scores"
    for row in ids:
        valid = row[row >= 0]
        assert len(set(valid.tolist())) == len(valid), "an id appears twice in one row"
        assert np.all(row[len(valid) :] == -1), "padding must come after every real hit"


# --------------------------------------------------------------------------- contract


def test_is_a_vector_index(big: VectorIndex, corpus: np.ndarray) -> None:
    assert isinstance(big, VectorIndex)
    assert big.dim == corpus.shape[1]
    assert len(big) == corpus.shape[0]


def test_search_shapes_and_dtypes(big: VectorIndex, queries: np.ndarray) -> None:
    scores, ids = big.search(queries[:7], 10)
    assert_well_formed(scores, ids, 7, 10, len(big))
    assert np.all(ids >= 0)  # 3,000 vectors: every row has 10 real hits
    assert np.all(np.isfinite(scores))
    assert np.all(scores <= 1.0 + 1e-5)


def test_single_query_as_1d_vector(big: VectorIndex, queries: np.ndarray) -> None:
    scores, ids = big.search(queries[0], 5)
    assert scores.shape == ids.shape == (1, 5)
    scores2, ids2 = big.search(queries[:1], 5)
    assert np.array_equal(ids, ids2)
    np.testing.assert_array_equal(scores, scores2)


def test_float64_queries_are_accepted(big: VectorIndex, queries: np.ndarray) -> None:
    scores, ids = big.search(queries[:3].astype(np.float64), 5)
    ref_scores, ref_ids = big.search(queries[:3], 5)
    assert scores.dtype == np.float32
    assert np.array_equal(ids, ref_ids)


def test_known_answer_top3(tiny: VectorIndex) -> None:
    scores, ids = tiny.search(TINY_QUERIES, 3)
    assert_well_formed(scores, ids, 2, 3, 5)
    assert ids.tolist() == TINY_TOP3_IDS
    np.testing.assert_allclose(scores, TINY_TOP3_SCORES, atol=1e-6)


def test_k_larger_than_n_pads(tiny: VectorIndex) -> None:
    scores, ids = tiny.search(TINY_QUERIES, 8)
    assert_well_formed(scores, ids, 2, 8, 5)
    assert np.all(ids[:, 5:] == -1)
    assert np.all(np.isneginf(scores[:, 5:]))
    assert ids[0, :5].tolist() == [3, 0, 4, 1, 2]  # every vector, best first
    np.testing.assert_allclose(scores[0, :5], [1.0, 0.8, 0.6, 0.0, -1.0], atol=1e-6)


def test_k_larger_than_n_on_big_index(big: VectorIndex, queries: np.ndarray) -> None:
    n = len(big)
    scores, ids = big.search(queries[:2], n + 5)
    assert_well_formed(scores, ids, 2, n + 5, n)
    assert np.all(ids[:, n:] == -1)
    assert np.all(np.isneginf(scores[:, n:]))


def test_dimension_mismatch_raises(tiny: VectorIndex) -> None:
    with pytest.raises(ValueError, match="dimension"):
        tiny.search(np.ones((2, 5), dtype=np.float32), 3)
    with pytest.raises(ValueError, match="dimension"):
        tiny.search(np.ones(3, dtype=np.float32), 3)


def test_save_load_round_trip(big: VectorIndex, queries: np.ndarray, tmp_path: Path) -> None:
    loaded = save_and_load(big, tmp_path)
    assert type(loaded) is type(big)
    assert (loaded.dim, len(loaded)) == (big.dim, len(big))
    scores, ids = big.search(queries, 10)
    scores2, ids2 = loaded.search(queries, 10)
    np.testing.assert_array_equal(ids2, ids)
    np.testing.assert_array_equal(scores2, scores)
    if isinstance(big, FaissIndex):
        assert loaded.params == big.params  # type: ignore[attr-defined]


def test_recall_against_exact(
    big: VectorIndex, kind: str, exact_big: ExactIndex, queries: np.ndarray
) -> None:
    _, exact_ids = exact_big.search(queries, 10)
    _, ids = big.search(queries, 10)
    recall = recall_at_k(ids, exact_ids, 10)
    if kind in ("exact", "flat", "partitioned"):
        assert recall == 1.0
    else:
        assert recall >= 0.9
