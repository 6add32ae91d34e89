"""Ranking metrics with binary relevance, for one query at a time.

Every function takes ``ranked`` (item ids, best first, as the engine returned them) and
``relevant`` (the ids judged relevant for the query) and returns a float in [0, 1].
Averaging over queries is the caller's job.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence


def success_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """1.0 if any relevant id is among the first ``k`` results, else 0.0.

    The known-item reading of recall: most search queries have exactly one relevant item,
    and a query with several (same-title remakes) is answered as soon as one is shown.
    ``success_at_k(ranked, relevant, 1)`` is "right at rank 1".
    """
    if k <= 0 or not relevant:
        return 0.0
    wanted = set(relevant)
    return 1.0 if any(item in wanted for item in ranked[:k]) else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the relevant ids found among the first ``k`` results (each counted once)."""
    wanted = set(relevant)
    if k <= 0 or not wanted:
        return 0.0
    return len(wanted.intersection(ranked[:k])) / len(wanted)


def mrr_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Reciprocal rank of the first relevant id within the first ``k`` results (0.0 if none)."""
    wanted = set(relevant)
    for rank, item in enumerate(ranked[:k], start=1):
        if item in wanted:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Normalised discounted cumulative gain at ``k`` with binary gains.

    DCG sums ``1 / log2(rank + 1)`` over relevant ids in the first ``k`` results (each id
    counted once); the ideal DCG places ``min(len(relevant), k)`` relevant ids at the top.
    """
    wanted = set(relevant)
    if k <= 0 or not wanted:
        return 0.0
    seen: set[str] = set()
    dcg = 0.0
    for rank, item in enumerate(ranked[:k], start=1):
        if item in wanted and item not in seen:
            seen.add(item)
            dcg += 1.0 / math.log2(rank + 1)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(wanted), k) + 1))
    return dcg / ideal
