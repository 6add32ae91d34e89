"""Batch ranking metrics agree with the per-query references; bootstrap summaries behave."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from recsys.evaluation.metrics import mrr_at_k, ndcg_at_k, recall_at_k, success_at_k
from recsys.evaluation.offline import (
    DEFAULT_KS,
    MetricSummary,
    catalog_coverage,
    paired_difference,
    per_user_metrics,
    summarize,
)


def log2_discount(rank: int) -> float:
    return 1.0 / math.log2(rank + 1)


def test_known_answers() -> None:
    ranked = np.array(
        [
            [3, 7, 1, 9, -1],  # relevant {7}: first hit at rank 2
            [5, 2, 8, 4, 6],  # relevant {5, 8, 0}: hits at ranks 1 and 3, 0 never shown
            [1, 2, 3, -1, -1],  # relevant {9}: no hit
        ]
    )
    relevant: list[np.ndarray | set[int] | list[int]] = [np.array([7]), {5, 8, 0}, [9]]
    m = per_user_metrics(ranked, relevant, ks=(1, 3, 10))

    assert set(m) == {
        *(f"{name}@{k}" for name in ("ndcg", "recall", "hit") for k in (1, 3, 10)),
        "mrr",
    }
    assert all(v.dtype == np.float64 and v.shape == (3,) for v in m.values())
    np.testing.assert_allclose(m["mrr"], [0.5, 1.0, 0.0])
    np.testing.assert_allclose(m["hit@1"], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(m["hit@3"], [1.0, 1.0, 0.0])
    np.testing.assert_allclose(m["recall@1"], [0.0, 1 / 3, 0.0])
    np.testing.assert_allclose(m["recall@3"], [1.0, 2 / 3, 0.0])  # not 2 / min(3, 3)
    np.testing.assert_allclose(m["recall@10"], [1.0, 2 / 3, 0.0])
    # User 0: one relevant item at rank 2, ideal puts it at rank 1.
    np.testing.assert_allclose(m["ndcg@1"][0], 0.0)
    np.testing.assert_allclose(m["ndcg@3"][0], log2_discount(2))
    # User 1: hits at ranks 1 and 3; ideal at k=1 is one item, at k=3 three items.
    np.testing.assert_allclose(m["ndcg@1"][1], 1.0)
    ideal3 = log2_discount(1) + log2_discount(2) + log2_discount(3)
    np.testing.assert_allclose(m["ndcg@3"][1], (log2_discount(1) + log2_discount(3)) / ideal3)
    np.testing.assert_allclose(m["ndcg@10"][1], (log2_discount(1) + log2_discount(3)) / ideal3)
    np.testing.assert_allclose(m["ndcg@10"][2], 0.0)


def test_padding_and_repeats_never_count() -> None:
    ranked = np.array([[-1, 4, 4, 2], [-1, -1, -1, -1]])
    m = per_user_metrics(ranked, [[4, 2], [0]], ks=(2, 4))
    np.testing.assert_allclose(m["recall@2"], [0.5, 0.0])
    np.testing.assert_allclose(m["recall@4"], [1.0, 0.0])
    ideal = log2_discount(1) + log2_discount(2)
    np.testing.assert_allclose(m["ndcg@4"][0], (log2_discount(2) + log2_discount(4)) / ideal)
    np.testing.assert_allclose(m["mrr"], [0.5, 0.0])


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_reference_metrics(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_users, k_max, n_items = 60, 30, 80
    ranked = np.stack([rng.permutation(n_items)[:k_max] for _ in range(n_users)])
    ranked[rng.random(ranked.shape) < 0.05] = -1  # some padding
    if seed % 2:  # some repeated items too
        ranked[:, 5] = ranked[:, 2]
    relevant = []
    for u in range(n_users):
        size = int(rng.integers(1, 25))
        rel = set(rng.choice(n_items, size, replace=False).tolist())
        relevant.append(rel if u % 2 else np.array(sorted(rel)))
    ks = (*DEFAULT_KS, 100)  # includes k above K_max
    m = per_user_metrics(ranked, relevant, ks=ks)

    for u in range(n_users):
        row = [str(i) for i in ranked[u]]  # the references are typed for string ids
        rel = {str(i) for i in relevant[u]}
        for k in ks:
            assert m[f"ndcg@{k}"][u] == pytest.approx(ndcg_at_k(row, rel, k), abs=1e-12)
            assert m[f"recall@{k}"][u] == pytest.approx(recall_at_k(row, rel, k), abs=1e-12)
            assert m[f"hit@{k}"][u] == success_at_k(row, rel, k)
        assert m["mrr"][u] == pytest.approx(mrr_at_k(row, rel, k_max), abs=1e-12)


def test_rejects_bad_input() -> None:
    ranked = np.array([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="relevant has 1 users"):
        per_user_metrics(ranked, [[1]])
    with pytest.raises(ValueError, match="no relevant items"):
        per_user_metrics(ranked, [[1], []])
    with pytest.raises(ValueError, match="positive"):
        per_user_metrics(ranked, [[1], [2]], ks=(0,))
    with pytest.raises(ValueError, match="integer"):
        per_user_metrics(ranked.astype(float), [[1], [2]])


def test_fast_enough_for_a_full_evaluation() -> None:
    rng = np.random.default_rng(0)
    n_users, k_max, n_items = 610, 100, 17_000
    ranked = rng.integers(0, n_items, size=(n_users, k_max))
    relevant = [rng.choice(n_items, 10, replace=False) for _ in range(n_users)]
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        summarize(per_user_metrics(ranked, relevant))
        best = min(best, time.perf_counter() - start)
    assert best < 0.2  # typically ~15 ms


def test_catalog_coverage() -> None:
    ranked = np.array([[0, 1, 5], [1, 2, -1], [-1, -1, -1]])
    assert catalog_coverage(ranked, n_items=10, k=2) == pytest.approx(0.3)  # {0, 1, 2}
    assert catalog_coverage(ranked, n_items=10, k=3) == pytest.approx(0.4)
    assert catalog_coverage(ranked, n_items=10, k=0) == 0.0
    with pytest.raises(ValueError):
        catalog_coverage(ranked, n_items=3, k=3)


def test_summarize_means_and_intervals() -> None:
    rng = np.random.default_rng(1)
    a = rng.random(500)
    per_user = {"a": a, "twice": 2 * a, "const": np.full(500, 0.25)}
    s = summarize(per_user, n_boot=400, seed=3)

    assert s["a"].mean == pytest.approx(a.mean())
    assert s["a"].low < s["a"].mean < s["a"].high
    se = a.std() / math.sqrt(a.size)
    assert s["a"].high - s["a"].low == pytest.approx(2 * 1.96 * se, rel=0.2)
    # Same resample for every metric: a linear function's interval maps exactly.
    assert s["twice"].low == pytest.approx(2 * s["a"].low)
    assert s["twice"].high == pytest.approx(2 * s["a"].high)
    assert s["const"] == MetricSummary(0.25, 0.25, 0.25)
    assert summarize(per_user, n_boot=400, seed=3) == s
    assert summarize(per_user, n_boot=400, seed=4)["a"] != s["a"]
    assert s["a"].as_dict() == {"mean": s["a"].mean, "low": s["a"].low, "high": s["a"].high}

    with pytest.raises(ValueError, match="different user counts"):
        summarize({"a": a, "b": a[:10]})
    assert summarize({}) == {}


def test_paired_difference() -> None:
    rng = np.random.default_rng(2)
    base = rng.random(400)
    better = base + 0.05 + 0.01 * rng.standard_normal(400)

    diff = paired_difference(better, base, n_boot=500)
    assert diff.mean == pytest.approx(float(np.mean(better - base)))
    assert 0 < diff.low < diff.mean < diff.high
    # Pairing removes the shared per-user variation: far tighter than the unpaired CIs.
    unpaired = summarize({"b": better, "a": base}, n_boot=500)
    assert diff.high - diff.low < 0.2 * (unpaired["b"].high - unpaired["b"].low)
    assert paired_difference(base, base) == MetricSummary(0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="shape"):
        paired_difference(base, base[:-1])
