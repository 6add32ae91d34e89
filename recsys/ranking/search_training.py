"""Training lists for personal search: (user, query, results) built from held-out consumption.

For a user who consumed item i after their cutoff, we pretend they searched for it with a
query derived from i's metadata, the way people type into a search box: a fragment of its
title (in any of its languages), one of its genres, or one of its keywords. The search
retrieval of the engine returns the results; the consumed item is the positive. A ranker
trained on these lists learns when the user's taste should reorder ambiguous results
("star", "comedy", "time travel") and when the query alone decides (an exact title).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import polars as pl
from pydantic.dataclasses import dataclass as pydantic_dataclass

from recsys.core.config import SECTION
from recsys.core.progress import track
from recsys.history.interactions import Split
from recsys.history.item_stats import ItemStats
from recsys.ranking.features import (
    SEARCH_FEATURES,
    FeatureConfig,
    ItemSide,
    UserState,
    search_features,
    user_state_from_log,
)
from recsys.ranking.lists import ListBuilder, TrainingLists


@pydantic_dataclass(frozen=True, config=SECTION)
class SearchTrainingConfig:
    queries_per_user: int = 3  # held-out items per user turned into training queries
    max_users: int = 5_000  # personal search lists from a sample of at most this many users
    candidates: int = 50  # search results reranked per query
    seed: int = 0
    # the anonymous search ranker: derived queries (one list each), their targets drawn with
    # probability (consumptions + 1) ** popularity_exponent
    anonymous_queries: int = 12_000
    popularity_exponent: float = 0.75
    # click learning (``recsys build --events``): logged search pages with a click become
    # lists too, clicks weighted by inverse examination propensity (``click_model``)
    learn_from_clicks: bool = True
    click_position_correction: bool = True
    click_max_weight: float = 10.0


class QueryRetriever(Protocol):
    """What search training needs from search (``HybridSearcher``): for each query, in
    order, its top ``n`` items with their ``QUERY_FEATURES`` (the retriever batches the
    encoding and the index searches)."""

    def retrieve_many(
        self, queries: Sequence[str], n: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]: ...


def _fragment(title: str, rng: np.random.Generator) -> str:
    words = title.split()
    if len(words) <= 1:
        return title
    length = int(rng.integers(1, min(3, len(words)) + 1))
    return " ".join(words[:length])


def query_options(row: dict[str, Any], rng: np.random.Generator) -> list[tuple[str, str]]:
    """(kind, query) pairs a user might type to find this item."""
    options: list[tuple[str, str]] = []
    titles = [row["title"], row.get("original_title")]
    titles += [loc["title"] for loc in row.get("localizations") or [] if loc.get("title")]
    for title in dict.fromkeys(t for t in titles if t):
        options.append(("title_fragment", _fragment(title, rng)))
    for genre in row.get("genres") or []:
        options.append(("genre", genre.lower()))
    for keyword in (row.get("keywords") or [])[:5]:
        options.append(("keyword", keyword.lower()))
    return options


def derive_queries(row: dict[str, Any], n: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Up to ``n`` queries of distinct kinds for one item (the kind is picked first, so an
    item with many keywords does not only get keyword queries)."""
    by_kind: dict[str, list[str]] = {}
    for kind, query in query_options(row, rng):
        by_kind.setdefault(kind, []).append(query)
    kinds = list(by_kind)
    rng.shuffle(kinds)
    return [(kind, by_kind[kind][int(rng.integers(len(by_kind[kind])))]) for kind in kinds[:n]]


def search_lists(
    split: Split,
    side: ItemSide,
    stats: ItemStats,
    retriever: QueryRetriever,
    catalog: pl.DataFrame,
    settings: SearchTrainingConfig,
    feature_config: FeatureConfig,
) -> tuple[TrainingLists, list[str]]:
    """One list per (user, held-out item, query); returns the lists and each list's kind.
    The queries are derived first and retrieved as a batch (one at a time, a multilingual
    encoder spent ~25 ms on each of ~1,800 demo queries)."""
    planned = plan_queries(split, catalog, settings)
    results = retriever.retrieve_many([query for *_, query in planned], settings.candidates)
    lists = ListBuilder(SEARCH_FEATURES)
    kinds: list[str] = []
    states: dict[int, UserState] = {}
    for (u, target, kind, _), (found, query_scores) in track(
        zip(planned, results, strict=True), "search training lists", len(planned), "queries"
    ):
        label = (found == target).astype(np.float64)
        if not label.any():
            continue
        cutoff = int(split.cutoffs[u])
        if u not in states:
            states[u] = user_state_from_log(split.history, u, cutoff, side, stats, feature_config)
        features = search_features(states[u], found, query_scores, side, stats)
        lists.add(features, label, u, found, cutoff)
        kinds.append(kind)
    return lists.build(len(planned)), kinds


def plan_queries(
    split: Split, catalog: pl.DataFrame, settings: SearchTrainingConfig
) -> list[tuple[int, int, str, str]]:
    """(user, held-out target, kind, query) for every evaluated user, seeded: up to
    ``queries_per_user`` targets each, one derived query per target."""
    rng = np.random.default_rng(settings.seed)
    rows = catalog.select("title", "original_title", "localizations", "genres", "keywords")
    meta = rows.to_dicts()
    planned: list[tuple[int, int, str, str]] = []
    for u in split.evaluated_users().tolist():
        targets = np.unique(split.labels[u])
        chosen = rng.choice(
            targets, size=min(settings.queries_per_user, len(targets)), replace=False
        )
        for target in chosen.tolist():
            for kind, query in derive_queries(meta[target], 1, rng):
                planned.append((u, target, kind, query))
    return planned
