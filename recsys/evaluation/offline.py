"""Offline evaluation of recommenders: per-user ranking metrics and bootstrap summaries.

``per_user_metrics`` scores a whole batch of rankings at once (one row per user) and agrees
with the per-query reference functions in ``recsys.evaluation.metrics`` (binary gains,
each item counted once). ``summarize`` and ``paired_difference`` turn per-user values into
means with 95% percentile-bootstrap confidence intervals, resampling users. No I/O here;
the report writer lives in ``pipelines.evaluation_report``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_KS: tuple[int, ...] = (1, 5, 10, 20, 50)
CI_LEVEL = 0.95


def _as_items(items: np.ndarray | Collection[int]) -> np.ndarray:
    if isinstance(items, np.ndarray | list | tuple):
        return np.asarray(items, dtype=np.int64).ravel()
    return np.fromiter(items, dtype=np.int64, count=len(items))


def _flatten_relevant(
    relevant: Sequence[np.ndarray | Collection[int]], n_users: int
) -> tuple[np.ndarray, np.ndarray]:
    """(user index, item position) for every relevant pair, as two int64 arrays."""
    if len(relevant) != n_users:
        raise ValueError(f"relevant has {len(relevant)} users, ranked has {n_users}")
    arrays = [_as_items(r) for r in relevant]
    lengths = np.fromiter((a.size for a in arrays), dtype=np.int64, count=n_users)
    if n_users and lengths.min() == 0:
        empty = int(np.flatnonzero(lengths == 0)[0])
        raise ValueError(f"user {empty} has no relevant items (evaluate only users with some)")
    items = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
    if items.size and items.min() < 0:
        raise ValueError("relevant item positions must be >= 0")
    users = np.repeat(np.arange(n_users, dtype=np.int64), lengths)
    return users, items


def _first_occurrence(ranked: np.ndarray) -> np.ndarray:
    """Boolean mask, True where a row's item has not appeared earlier in that row."""
    order = np.argsort(ranked, axis=1, kind="stable")
    ordered = np.take_along_axis(ranked, order, axis=1)
    repeat = np.zeros(ranked.shape, dtype=bool)
    repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    first = np.empty(ranked.shape, dtype=bool)
    np.put_along_axis(first, order, ~repeat, axis=1)
    return first


def hit_matrix(
    ranked: np.ndarray, relevant: Sequence[np.ndarray | Collection[int]]
) -> tuple[np.ndarray, np.ndarray]:
    """(hits, n_relevant): hits[u, r] is True when rank r of user u holds a relevant item
    seen for the first time in that row; n_relevant[u] counts u's distinct relevant items."""
    ranked = np.asarray(ranked)
    if ranked.ndim != 2 or not np.issubdtype(ranked.dtype, np.integer):
        raise ValueError(f"ranked must be a 2-D integer array, got {ranked.dtype} {ranked.shape}")
    ranked = ranked.astype(np.int64, copy=False)
    n_users = ranked.shape[0]
    users, items = _flatten_relevant(relevant, n_users)
    base = int(max(ranked.max(initial=-1), items.max(initial=-1))) + 1
    rel_keys = np.unique(users * base + items)
    n_relevant = np.bincount(rel_keys // base, minlength=n_users).astype(np.float64)
    rank_keys = np.arange(n_users, dtype=np.int64)[:, None] * base + ranked
    hits = (ranked >= 0) & np.isin(rank_keys, rel_keys)
    if ranked.shape[1] > 1 and hits.any():
        hits &= _first_occurrence(ranked)
    return hits, n_relevant


def per_user_metrics(
    ranked: np.ndarray,
    relevant: Sequence[np.ndarray | Collection[int]],
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, np.ndarray]:
    """NDCG@k, recall@k and hit@k for every k, and MRR over the whole ranking, per user.

    ``ranked`` is an int array (n_users, K_max) of item positions best first, -1 padding
    (never relevant). ``relevant[u]`` holds user u's held-out item positions (non-empty).
    Recall divides by the number of relevant items (not by min(k, |relevant|)); the ideal
    DCG puts min(|relevant|, k) relevant items at the top. A k above K_max scores the whole
    ranking (as ``ranked[:k]`` would). Returns float64 arrays of shape (n_users,).
    """
    if any(int(k) <= 0 for k in ks):
        raise ValueError(f"every k must be positive, got {list(ks)}")
    hits, n_relevant = hit_matrix(ranked, relevant)
    n_users, k_max = hits.shape
    discounts = 1.0 / np.log2(np.arange(2, k_max + 2, dtype=np.float64))
    hit_count = np.cumsum(hits, axis=1, dtype=np.float64)
    dcg = np.cumsum(hits * discounts, axis=1)
    top_k = max((int(k) for k in ks), default=1)
    ideal_discounts = 1.0 / np.log2(np.arange(2, top_k + 2, dtype=np.float64))
    ideal_prefix = np.concatenate([[0.0], np.cumsum(ideal_discounts)])
    n_rel_int = n_relevant.astype(np.int64)

    out: dict[str, np.ndarray] = {}
    for k in ks:
        k = int(k)
        depth = min(k, k_max)
        found = hit_count[:, depth - 1] if depth else np.zeros(n_users)
        gain = dcg[:, depth - 1] if depth else np.zeros(n_users)
        out[f"ndcg@{k}"] = gain / ideal_prefix[np.minimum(n_rel_int, k)]
        out[f"recall@{k}"] = found / n_relevant
        out[f"hit@{k}"] = (found > 0).astype(np.float64)
    any_hit = hits.any(axis=1)
    first_rank = np.argmax(hits, axis=1) + 1 if k_max else np.ones(n_users, dtype=np.int64)
    out["mrr"] = np.where(any_hit, 1.0 / first_rank, 0.0)
    return out


def catalog_coverage(ranked: np.ndarray, n_items: int, k: int) -> float:
    """Share of the catalog's ``n_items`` items shown in at least one user's top ``k``."""
    if n_items <= 0:
        raise ValueError(f"n_items must be positive, got {n_items}")
    top = np.asarray(ranked)[:, : max(k, 0)]
    shown = top[top >= 0]
    if shown.size and shown.max() >= n_items:
        raise ValueError(f"item position {int(shown.max())} outside a catalog of {n_items}")
    return float(np.unique(shown).size / n_items)


@dataclass(frozen=True)
class MetricSummary:
    """A mean over users with its 95% bootstrap confidence interval [low, high]."""

    mean: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _bootstrap_counts(n_users: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_users) matrix: how often each user is drawn in each replicate."""
    if n_users <= 0:
        raise ValueError("cannot bootstrap over zero users")
    if n_boot <= 0:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_users, size=(n_boot, n_users))
    flat = (draws + np.arange(n_boot)[:, None] * n_users).ravel()
    counts = np.bincount(flat, minlength=n_boot * n_users).reshape(n_boot, n_users)
    return counts.astype(np.float64)  # float so the replicate means are one BLAS matmul


def summarize(
    per_user: dict[str, np.ndarray], n_boot: int = 1000, seed: int = 0
) -> dict[str, MetricSummary]:
    """Mean and 95% percentile-bootstrap CI of every metric, resampling users.

    Each replicate draws one resample of users and uses it for every metric, so the
    intervals are computed on consistent replicates (same seed and user count -> same draws).
    """
    if not per_user:
        return {}
    names = list(per_user)
    lengths = {np.asarray(per_user[n]).size for n in names}
    if len(lengths) != 1:
        raise ValueError(f"metrics have different user counts: {sorted(lengths)}")
    values = np.stack([np.asarray(per_user[n], dtype=np.float64).ravel() for n in names])
    n_users = values.shape[1]
    counts = _bootstrap_counts(n_users, n_boot, seed)
    replicates = counts @ values.T / n_users  # (n_boot, n_metrics)
    tail = (1.0 - CI_LEVEL) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail], axis=0)
    means = values.mean(axis=1)
    return {
        name: MetricSummary(float(means[i]), float(low[i]), float(high[i]))
        for i, name in enumerate(names)
    }


def paired_difference(
    a: np.ndarray, b: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> MetricSummary:
    """Mean of ``a - b`` over the same users, with a paired bootstrap 95% CI."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    return summarize({"diff": a - b}, n_boot=n_boot, seed=seed)["diff"]
