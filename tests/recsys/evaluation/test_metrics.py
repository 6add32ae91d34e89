"""Known answers for the ranking metrics shared by benchmarks and evaluation."""

from __future__ import annotations

import math

import pytest

from recsys.evaluation.metrics import mrr_at_k, ndcg_at_k, recall_at_k, success_at_k

RANKED = ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("relevant", "k", "success", "recall", "mrr"),
    [
        ({"a"}, 1, 1.0, 1.0, 1.0),
        ({"c"}, 2, 0.0, 0.0, 0.0),
        ({"c"}, 3, 1.0, 1.0, 1 / 3),
        ({"b", "z"}, 4, 1.0, 0.5, 0.5),
        (set(), 4, 0.0, 0.0, 0.0),
        ({"a"}, 0, 0.0, 0.0, 0.0),
    ],
)
def test_success_recall_mrr(
    relevant: set[str], k: int, success: float, recall: float, mrr: float
) -> None:
    assert success_at_k(RANKED, relevant, k) == success
    assert recall_at_k(RANKED, relevant, k) == recall
    assert mrr_at_k(RANKED, relevant, k) == pytest.approx(mrr)


def test_ndcg_known_answers() -> None:
    assert ndcg_at_k(RANKED, {"a"}, 10) == 1.0
    assert ndcg_at_k(RANKED, {"b"}, 10) == pytest.approx(1 / math.log2(3))
    both = (1 / math.log2(2) + 1 / math.log2(4)) / (1 / math.log2(2) + 1 / math.log2(3))
    assert ndcg_at_k(RANKED, {"a", "c"}, 10) == pytest.approx(both)
    assert ndcg_at_k(["a", "a"], {"a", "b"}, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(RANKED, {"z"}, 10) == 0.0
