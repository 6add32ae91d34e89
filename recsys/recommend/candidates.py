"""Stage 5b: candidates from several sources, each tagged with its score and rank.

Sources (``recsys.ranking.features.SOURCES``):

* ``ann``       the user's profile embedding searched in the item-vector index
* ``covis``     co-visitation neighbours of the recent items ("because you watched")
* ``ease``      EASE collaborative filtering over the whole history
* ``content``   content (embedding) neighbours of the last few items; reaches new items
                that nobody has watched yet
* ``popular``   most consumed in the last year, as of the request time
* ``trending``  rising fastest (last 30 days against the last year)

Each source returns its top-N; the merge keeps one row per item with every source's
score and 1-based rank (NaN where a source did not propose it). Source and rank become
ranker features; the merged order (best rank first) is the no-op ranker's order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic.dataclasses import dataclass as pydantic_dataclass

from recsys.core.config import SECTION
from recsys.history.item_stats import ItemStats
from recsys.history.popularity import PopularityLists
from recsys.ranking.features import SOURCES, ItemSide, UserState
from recsys.recommend.cf.neighbors import ItemNeighbors
from recsys.search.vector_index import VectorIndex


@pydantic_dataclass(frozen=True, config=SECTION)
class CandidateConfig:
    ann: int = 100
    covis: int = 100
    ease: int = 100
    content: int = 60
    popular: int = 50
    trending: int = 30
    covis_recent: int = 20  # the last N items whose co-visitation neighbours are summed
    content_recent: int = 3  # the last N items whose content neighbours are taken
    trending_min_count: int = 3  # consumptions in 30 days before an item can trend
    # up to this many items, the embedding sources scan all item vectors with one matrix
    # product (faster than an index's top-k heap at this size); above, they use the index
    exact_scan_items: int = 50_000


@dataclass
class CandidateModels:
    """Everything the sources read, fitted on one history (train split or everything)."""

    side: ItemSide
    stats: ItemStats
    item_index: VectorIndex  # over side.vectors, same row order
    covis: ItemNeighbors
    ease: ItemNeighbors
    popularity: PopularityLists = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.popularity = PopularityLists(self.stats)


@dataclass(frozen=True)
class Candidates:
    items: np.ndarray  # (n,) item positions
    scores: np.ndarray  # (n, len(SOURCES)) float64, NaN = not proposed by that source
    ranks: np.ndarray  # (n, len(SOURCES)) float64 1-based, NaN = not proposed

    def __len__(self) -> int:
        return len(self.items)

    def source_names(self, row: int) -> list[str]:
        return [s for s, r in zip(SOURCES, self.ranks[row], strict=True) if not np.isnan(r)]

    def merged_order(self) -> np.ndarray:
        """Best rank over sources first; ties by source order in SOURCES, then item."""
        if not len(self.items):
            return np.zeros(0, dtype=np.int64)
        ranks = np.where(np.isnan(self.ranks), np.inf, self.ranks)
        best = ranks.min(axis=1)
        first_source = ranks.argmin(axis=1)
        return np.lexsort((self.items, first_source, best))


def top_n(scores: np.ndarray, n: int, blocked: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The n best items of a dense score vector (ties by position), skipping blocked items
    and items with no signal (score <= 0 or NaN)."""
    usable = np.nan_to_num(scores, nan=-np.inf)
    if blocked is not None:
        usable = np.where(blocked, -np.inf, usable)
    positive = np.flatnonzero(usable > 0)
    if not len(positive) or n <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    if len(positive) > n:
        nth = -np.partition(-usable[positive], n - 1)[n - 1]
        positive = positive[usable[positive] >= nth]  # everything tied at the cut stays in
    order = np.lexsort((positive, -usable[positive]))
    chosen = positive[order][:n]
    return chosen, usable[chosen]


def _nearest(
    models: CandidateModels,
    queries: np.ndarray,
    n: int,
    blocked: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Best items by max cosine to any query vector, from the item index. Asks for a few more
    than n (then twice as many, ...) until n unblocked items come back."""
    n_items = len(models.side)
    fetch = min(n_items, 2 * n + 10)
    while True:
        sims, ids = models.item_index.search(queries.astype(np.float32), fetch)
        ids, sims = ids.ravel(), sims.ravel().astype(np.float64)
        keep = ids >= 0
        if blocked is not None:
            keep &= ~blocked[np.maximum(ids, 0)]
        dense = np.full(n_items, np.nan)
        np.fmax.at(dense, ids[keep], sims[keep] + 1.0)  # cosine in [-1, 1] -> positive
        items, scores = top_n(dense, n, None)
        if len(items) >= n or fetch >= n_items:
            return items, scores
        fetch = min(n_items, fetch * 2)


def _embedding_sources(
    user: UserState, models: CandidateModels, config: CandidateConfig, blocked: np.ndarray | None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``ann`` (profile) and ``content`` (recent items' neighbours)."""
    recent = models.side.vectors[user.recent[: config.content_recent]]
    if len(models.side) > config.exact_scan_items:
        return {
            "ann": _nearest(models, user.profile[None, :], config.ann, blocked),
            "content": _nearest(models, recent, config.content, blocked),
        }
    sims = models.side.vectors @ np.vstack([user.profile[None, :], recent]).T + 1.0
    return {
        "ann": top_n(sims[:, 0], config.ann, blocked),
        "content": top_n(sims[:, 1:].max(axis=1), config.content, blocked),
    }


def source_lists(
    user: UserState,
    models: CandidateModels,
    config: CandidateConfig,
    blocked: np.ndarray | None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each source's (items, scores), best first. Cold users get only popular and trending."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    lists, min_count = models.popularity, config.trending_min_count
    out["popular"] = lists.top("popular", user.as_of, config.popular, blocked, min_count)
    out["trending"] = lists.top("trending", user.as_of, config.trending, blocked, min_count)
    if user.is_cold:
        return out
    out.update(_embedding_sources(user, models, config, blocked))
    covis_items = user.items[::-1][: config.covis_recent]
    covis_weights = user.recency_weights()[::-1][: config.covis_recent]
    out["covis"] = top_n(models.covis.scores(covis_items, covis_weights), config.covis, blocked)
    out["ease"] = top_n(models.ease.scores(user.items), config.ease, blocked)
    return out


def merge(lists: dict[str, tuple[np.ndarray, np.ndarray]]) -> Candidates:
    """One row per item with every source's score and 1-based rank."""
    proposed = [items for items, _ in lists.values() if len(items)]
    if not proposed:
        empty = np.zeros((0, len(SOURCES)))
        return Candidates(np.zeros(0, dtype=np.int64), empty, empty.copy())
    items = np.unique(np.concatenate(proposed))
    scores = np.full((len(items), len(SOURCES)), np.nan)
    ranks = np.full((len(items), len(SOURCES)), np.nan)
    for column, source in enumerate(SOURCES):
        if source not in lists:
            continue
        source_items, source_scores = lists[source]
        rows = np.searchsorted(items, source_items)
        scores[rows, column] = source_scores
        ranks[rows, column] = np.arange(1, len(source_items) + 1)
    return Candidates(items, scores, ranks)


def generate(
    user: UserState,
    models: CandidateModels,
    config: CandidateConfig,
    blocked: np.ndarray | None = None,
) -> Candidates:
    return merge(source_lists(user, models, config, blocked))
