"""The search ranker for every query, anonymous included: LambdaMART over what the query
says about each result (``QUERY_FEATURES``) and what everyone's behaviour says about the
item (``ITEM_FEATURES``: consumption counts, trend, rating mean with shrinkage, TMDB votes,
age, type), so that among plausible matches the one people watch wins and a famous title
beats an obscure namesake.

Trained offline in ``recsys build`` on lists of (derived query, search results): targets
drawn by consumption (``derived_queries.sample_targets``), one query derived from each
(``derived_queries.derive_query``), the engine's own retrieval for the candidates, the
target as the one positive. Reciprocal-rank fusion stays the ``noop`` baseline.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys.core.progress import track
from recsys.history.item_stats import ItemStats
from recsys.ranking.derived_queries import derive_query, sample_targets
from recsys.ranking.features import (
    ANONYMOUS_SEARCH_FEATURES,
    ItemSide,
    anonymous_search_features,
)
from recsys.ranking.lists import ListBuilder, TrainingLists
from recsys.ranking.rankers import Ranker
from recsys.ranking.search_training import QueryRetriever, SearchTrainingConfig


class AnonymousSearchRanker:
    """Scores search results from the query and the item alone, as of the snapshot."""

    def __init__(self, ranker: Ranker, side: ItemSide, stats: ItemStats, as_of: int) -> None:
        self.ranker = ranker
        self.side = side
        self.stats = stats
        self.as_of = as_of

    def scores(self, items: np.ndarray, query_scores: np.ndarray) -> np.ndarray:
        features = anonymous_search_features(items, self.as_of, query_scores, self.side, self.stats)
        return self.ranker.score(features)


def anonymous_search_lists(
    retriever: QueryRetriever,
    rows: list[dict[str, Any]],
    item_ids: list[str],
    tags: dict[str, list[str]],
    side: ItemSide,
    stats: ItemStats,
    as_of: int,
    config: SearchTrainingConfig,
) -> tuple[TrainingLists, list[str]]:
    """One list per derived query whose target search retrieves among ``config.candidates``;
    returns the lists and each list's query kind."""
    rng = np.random.default_rng(config.seed)
    counts = stats.count(np.arange(len(rows)), as_of)
    targets = sample_targets(counts, config.anonymous_queries, config.popularity_exponent, rng)
    derived = [
        (int(t), derive_query(rows[t], tags.get(item_ids[t], []), rng)) for t in targets.tolist()
    ]
    usable = [(t, q) for t, q in derived if q is not None]
    results = retriever.retrieve_many([query for _, (_, query) in usable], config.candidates)
    lists = ListBuilder(ANONYMOUS_SEARCH_FEATURES)
    kinds: list[str] = []
    queries = track(
        enumerate(zip(usable, results, strict=True)),
        "anonymous search lists",
        len(usable),
        "queries",
    )
    for number, ((target, (kind, _)), (found, query_scores)) in queries:
        label = (found == target).astype(np.float64)
        if not label.any():
            continue
        features = anonymous_search_features(found, as_of, query_scores, side, stats)
        lists.add(features, label, number, found, as_of)
        kinds.append(kind)
    return lists.build(len(usable)), kinds
