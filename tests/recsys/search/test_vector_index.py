"""Known answers for build_index's choices and recall_at_k. The contract every index runs
is ``tests/contracts/test_vector_indexes.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.core.errors import ArtifactError
from recsys.search.vector_index import (
    ExactIndex,
    FaissIndex,
    IndexParams,
    build_index,
    recall_at_k,
)
from tests.contracts.test_vector_indexes import expected_built_on, make_index

# ------------------------------------------------------------------ build_index choices


@pytest.mark.parametrize(
    ("exact_threshold", "ivf_threshold", "expected"),
    [
        (5_000, 1_000_000, "flat"),
        (3_001, 1_000_000, "flat"),
        (3_000, 1_000_000, "hnsw"),
        (100, 3_001, "hnsw"),
        (100, 3_000, "ivf"),
    ],
)
def test_auto_kind_follows_thresholds(
    corpus: np.ndarray, exact_threshold: int, ivf_threshold: int, expected: str
) -> None:
    params = IndexParams(kind="auto", exact_threshold=exact_threshold, ivf_threshold=ivf_threshold)
    assert build_index(corpus, params).params.kind == expected


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_params_recorded(corpus: np.ndarray, kind: str) -> None:
    big = make_index(kind, corpus)
    assert isinstance(big, FaissIndex)
    params = big.params
    assert params.kind == kind
    assert params.built_on == expected_built_on(kind)
    assert params.recall_at_10 is not None and 0.9 <= params.recall_at_10 <= 1.0
    assert params.extra["sample_queries"] == 500
    if kind == "ivf":
        # default nlist = min(4 * sqrt(n), n // 39) = min(219, 76)
        assert params.nlist == 76
        assert params.nprobe is not None and 1 <= params.nprobe <= params.nlist
        assert params.recall_at_10 >= params.target_recall
        assert "fallback_from" not in params.extra
    else:
        assert params.nprobe is None
    if kind == "hnsw":
        # efSearch tuned like nprobe: the first setting reaching target_recall
        assert params.ef_search is not None and params.ef_search >= 16
        assert params.recall_at_10 >= params.target_recall
        assert big._index.hnsw.efSearch == params.ef_search  # type: ignore[attr-defined]
    if kind == "flat":
        assert params.recall_at_10 == 1.0


def test_ivf_explicit_nlist_and_nprobe_kept(corpus: np.ndarray) -> None:
    # target_recall=0: whatever recall nprobe=1 gives, no retuning and no fallback
    index = build_index(corpus, IndexParams(kind="ivf", nlist=20, nprobe=1, target_recall=0.0))
    assert (index.params.kind, index.params.nlist, index.params.nprobe) == ("ivf", 20, 1)
    assert index.params.recall_at_10 is not None


def test_hnsw_explicit_ef_search_kept(corpus: np.ndarray) -> None:
    index = build_index(corpus, IndexParams(kind="hnsw", ef_search=40, target_recall=0.0))
    assert (index.params.kind, index.params.ef_search) == ("hnsw", 40)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_falls_back_to_flat_when_target_unreachable(
    kind: str, corpus: np.ndarray, queries: np.ndarray
) -> None:
    exact_big = ExactIndex(corpus)
    index = build_index(corpus, IndexParams(kind=kind, target_recall=1.01))
    assert index.params.kind == "flat"
    assert (index.params.nprobe, index.params.ef_search) == (None, None)
    assert index.params.recall_at_10 == 1.0
    fallback = index.params.extra["fallback_from"]
    assert fallback["kind"] == kind
    assert 0.9 <= fallback["recall_at_10"] <= 1.0
    _, ids = index.search(queries, 10)
    assert recall_at_k(ids, exact_big.search(queries, 10)[1]) == 1.0
    assert len(index) == len(corpus)


def test_build_index_does_not_mutate_params(corpus: np.ndarray) -> None:
    params = IndexParams(kind="ivf")
    build_index(corpus[:1000], params)
    assert params == IndexParams(kind="ivf")


def test_unknown_kind_raises(corpus: np.ndarray) -> None:
    with pytest.raises(ValueError, match="unknown index kind 'annoy'"):
        build_index(corpus[:10], IndexParams(kind="annoy"))


def test_index_params_round_trip() -> None:
    params = IndexParams(kind="ivf", nlist=8, nprobe=2, recall_at_10=0.97, extra={"a": 1})
    assert IndexParams.from_dict({**params.to_dict(), "unknown": 1}) == params


def test_faiss_load_of_garbage_raises_artifact_error(tmp_path: Path) -> None:
    path = tmp_path / "index.faiss"
    path.write_bytes(b"definitely not a faiss index")
    with pytest.raises(ArtifactError, match="cannot read faiss index"):
        FaissIndex.load(path, IndexParams(kind="flat"))


# ----------------------------------------------------------------------- recall_at_k


@pytest.mark.parametrize(
    ("approx", "exact", "k", "expected"),
    [
        ([[0, 1, 2]], [[0, 1, 2]], 3, 1.0),
        ([[2, 1, 0]], [[0, 1, 2]], 3, 1.0),  # order within the top-k does not matter
        ([[0, 5, 6, 7]], [[0, 1, 2, 3]], 4, 0.25),
        ([[0, 1, 9, 9]], [[0, 1, 2, 3]], 2, 1.0),  # only the first k count
        ([[9, 0]], [[0, 1]], 1, 0.0),
        ([[0, -1, -1]], [[0, 1, -1]], 3, 0.5),  # -1 padding is not a hit nor a target
        ([[0, 1], [5, 6]], [[0, 1], [0, 1]], 2, 0.5),  # mean over queries
        (np.zeros((0, 10), dtype=np.int64), np.zeros((0, 10), dtype=np.int64), 10, 1.0),
    ],
)
def test_recall_at_k_known_answers(approx, exact, k: int, expected: float) -> None:
    result = recall_at_k(np.asarray(approx), np.asarray(exact), k)
    assert isinstance(result, float)
    assert result == pytest.approx(expected)


@pytest.mark.parametrize(
    ("approx", "approx_scores", "exact", "exact_scores", "expected"),
    [
        # a different row with the same score as the exact 2nd hit is a tie, not a miss
        ([[0, 7]], [[0.9, 0.8]], [[0, 1]], [[0.9, 0.8]], 1.0),
        ([[0, 7]], [[0.9, 0.8 - 1e-7]], [[0, 1]], [[0.9, 0.8]], 1.0),  # float noise
        ([[0, 7]], [[0.9, 0.7]], [[0, 1]], [[0.9, 0.8]], 0.5),  # a real miss
        ([[0, -1]], [[0.9, -np.inf]], [[0, 1]], [[0.9, 0.8]], 0.5),  # padding never counts
    ],
)
def test_recall_at_k_forgives_ties_when_given_scores(
    approx, approx_scores, exact, exact_scores, expected: float
) -> None:
    assert recall_at_k(np.asarray(approx), np.asarray(exact), 2) == 0.5  # ids alone
    result = recall_at_k(
        np.asarray(approx),
        np.asarray(exact),
        2,
        np.asarray(approx_scores, dtype=np.float32),
        np.asarray(exact_scores, dtype=np.float32),
    )
    assert result == pytest.approx(expected)


def test_flat_index_reports_full_recall_with_tied_vectors() -> None:
    # many identical rows: any of them is a correct answer, so flat recall is exactly 1
    rows = np.repeat(np.eye(4, dtype=np.float32), 10, axis=0)
    index = build_index(rows, IndexParams(kind="flat"))
    assert index.params.recall_at_10 == 1.0


def test_device_is_selectable_and_a_missing_gpu_is_a_clear_error() -> None:
    from recsys.core.errors import RecsysError
    from recsys.search.vector_index import gpu_count

    x = np.random.default_rng(0).normal(size=(100, 8)).astype(np.float32)
    assert build_index(x, IndexParams(kind="flat", device="cpu")).params.built_on == "cpu"
    if gpu_count() == 0:
        with pytest.raises(RecsysError, match="faiss sees no GPU"):
            build_index(x, IndexParams(kind="flat", device="gpu"))
    with pytest.raises(RecsysError, match="auto, cpu or gpu"):
        build_index(x, IndexParams(kind="flat", device="tpu"))


@pytest.mark.parametrize("entries", [1, 3_000, 50_000])
def test_exact_search_in_query_blocks_equals_one_block(
    corpus: np.ndarray, entries: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exact search takes a block of queries at a time (bounded memory at a million
    vectors): any block size gives the same ids and scores as all queries at once."""
    import recsys.search.vector_index as vi

    queries = corpus[::7][:60]
    whole = ExactIndex(corpus).search(queries, 10)
    monkeypatch.setattr(vi, "EXACT_BLOCK_ENTRIES", entries)
    blocked = ExactIndex(corpus).search(queries, 10)
    np.testing.assert_array_equal(blocked[1], whole[1])
    np.testing.assert_allclose(blocked[0], whole[0], rtol=1e-6, atol=1e-6)
