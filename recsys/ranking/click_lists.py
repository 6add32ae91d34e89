"""Training lists from logged search clicks, corrected for position bias.

Each logged search page with a click (``recsys.history.logged_searches``) becomes one list:
the page's results that the engine still retrieves for that query today (features are
recomputed by THE feature module, exactly as at serving time), labelled 2 if played, 1 if
clicked, 0 if shown and ignored. A clicked row weighs the inverse of its position's
examination propensity (``recsys.ranking.click_model``): a click at position 6 says more
than a click at position 1. Results the engine retrieves but the page did not show are left
out: nobody saw them, so their label is unknown.

The anonymous search ranker learns from every page; the personal one from the pages of users
the log knows, with their state as of the page (their later plays never leak into it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from recsys.history.interactions import InteractionLog
from recsys.history.item_stats import ItemStats
from recsys.ranking.click_model import PositionBias, estimate_position_bias, prior_position_bias
from recsys.ranking.features import (
    ANONYMOUS_SEARCH_FEATURES,
    SEARCH_FEATURES,
    FeatureConfig,
    ItemSide,
    anonymous_search_features,
    search_features,
    user_state_from_log,
)
from recsys.ranking.lists import ListBuilder, TrainingLists
from recsys.ranking.search_training import QueryRetriever

PLAYED, CLICKED = 2.0, 1.0


@dataclass(frozen=True)
class ClickPage:
    """One logged page someone clicked on: catalog positions of its results in page order."""

    query: str
    user_id: str | None
    ts: int
    items: np.ndarray  # item positions, page order
    labels: np.ndarray  # 2 played, 1 clicked, 0 ignored
    positions: np.ndarray  # 0-based page positions


def position_bias(shown: pl.DataFrame, corrected: bool = True) -> PositionBias:
    """The PBM estimate over every logged page (clicked or not); ``corrected=False`` gives a
    flat model (each click weighs 1: the naive learner, kept for comparison)."""
    if not corrected:
        return prior_position_bias(1, eta=0.0)
    keys = shown.select(pl.concat_str(["query_key", "item_id"], separator="\x1f")).to_series()
    _, pairs = np.unique(keys.to_numpy().astype(str), return_inverse=True)
    return estimate_position_bias(pairs, shown["position"].to_numpy(), shown["clicked"].to_numpy())


def click_pages(shown: pl.DataFrame, item_positions: dict[str, int]) -> list[ClickPage]:
    """The pages of ``shown`` (``SHOWN_SCHEMA``) with at least one click."""
    clicked = shown.filter(pl.col("clicked").any().over("request_id"))
    pages: list[ClickPage] = []
    for (_,), page in clicked.group_by(["request_id"], maintain_order=True):
        first = page.row(0, named=True)
        labels = np.where(
            page["played"].to_numpy(), PLAYED, np.where(page["clicked"].to_numpy(), CLICKED, 0.0)
        )
        pages.append(
            ClickPage(
                query=str(first["query"]),
                user_id=first["user_id"],
                ts=int(first["ts"]),
                items=np.array([item_positions[i] for i in page["item_id"].to_list()]),
                labels=labels,
                positions=page["position"].to_numpy(),
            )
        )
    return pages


class PageRetrieval:
    """The engine's results for each distinct query of the pages, retrieved as a batch."""

    def __init__(self, retriever: QueryRetriever, pages: list[ClickPage], n: int) -> None:
        queries = list(dict.fromkeys(page.query for page in pages))
        self._found = dict(zip(queries, retriever.retrieve_many(queries, n), strict=True))

    def rows(
        self, page: ClickPage, bias: PositionBias, max_weight: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """(items, query scores, labels, weights) of the page's results the engine still
        retrieves; None unless that keeps a click and a result beside it."""
        found, query_scores = self._found[page.query]
        on_page = {int(item): n for n, item in enumerate(page.items.tolist())}
        keep = np.array([int(item) in on_page for item in found.tolist()], dtype=bool)
        if keep.sum() < 2:
            return None
        slots = np.array([on_page[int(item)] for item in found[keep].tolist()])
        labels = page.labels[slots]
        if not (labels > 0).any():
            return None
        weights = np.where(labels > 0, bias.weights(page.positions[slots], max_weight), 1.0)
        return found[keep], query_scores[keep], labels, weights


def anonymous_click_lists(
    pages: list[ClickPage],
    retrieval: PageRetrieval,
    bias: PositionBias,
    side: ItemSide,
    stats: ItemStats,
    as_of: int,
    max_weight: float,
) -> TrainingLists:
    """One ``ANONYMOUS_SEARCH_FEATURES`` list per clicked page, item priors as of ``as_of``
    (the snapshot the served ranker scores with)."""
    lists = ListBuilder(ANONYMOUS_SEARCH_FEATURES)
    clicked = 0
    for number, page in enumerate(pages):
        clicked += int((page.labels > 0).sum())
        rows = retrieval.rows(page, bias, max_weight)
        if rows is None:
            continue
        items, query_scores, labels, weights = rows
        features = anonymous_search_features(items, as_of, query_scores, side, stats)
        lists.add(features, labels, number, items, as_of, weights)
    return lists.build(clicked)


def personal_click_lists(
    pages: list[ClickPage],
    retrieval: PageRetrieval,
    bias: PositionBias,
    log: InteractionLog,
    side: ItemSide,
    stats: ItemStats,
    feature_config: FeatureConfig,
    max_weight: float,
) -> TrainingLists:
    """One ``SEARCH_FEATURES`` list per clicked page of a user the log knows, with the
    user's state as of the page."""
    users = log.user_index()
    lists = ListBuilder(SEARCH_FEATURES)
    clicked = 0
    for page in pages:
        user = users.get(page.user_id) if page.user_id is not None else None
        if user is None:
            continue
        clicked += int((page.labels > 0).sum())
        rows = retrieval.rows(page, bias, max_weight)
        if rows is None:
            continue
        items, query_scores, labels, weights = rows
        state = user_state_from_log(log, user, page.ts, side, stats, feature_config)
        features = search_features(state, items, query_scores, side, stats)
        lists.add(features, labels, user, items, page.ts, weights)
    return lists.build(clicked)


def click_summary(
    shown: pl.DataFrame, pages: list[ClickPage], bias: PositionBias
) -> dict[str, Any]:
    return {
        "pages": int(shown["request_id"].n_unique()) if shown.height else 0,
        "shown_results": shown.height,
        "clicks": int(shown["clicked"].sum()) if shown.height else 0,
        "plays": int(shown["played"].sum()) if shown.height else 0,
        "pages_with_clicks": len(pages),
        "position_bias": bias.to_dict(),
    }
