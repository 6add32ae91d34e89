"""The build's search stage after indexing: the relevance threshold's calibration and the
two search rankers (anonymous: derived queries; personal: held-out consumption)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsys.catalog.documents import CONTENT, LOCALIZED
from recsys.history.interactions import leave_last_n
from recsys.ranking.anonymous_search import anonymous_search_lists
from recsys.ranking.click_lists import (
    ClickPage,
    PageRetrieval,
    anonymous_click_lists,
    click_pages,
    click_summary,
    personal_click_lists,
    position_bias,
)
from recsys.ranking.click_model import PositionBias
from recsys.ranking.derived_queries import read_tag_texts
from recsys.ranking.lists import TrainingLists, concat_lists, train_on_lists
from recsys.ranking.rankers import LightGBMRanker
from recsys.ranking.search_training import search_lists
from recsys.recommend.config import RecsysConfig
from recsys.recommend.personalization import Personalization
from recsys.search.hybrid import HybridSearcher
from recsys.search.relevance import (
    GAP_RANK,
    RelevanceParams,
    calibrate_dense_floor,
)

log = logging.getLogger(__name__)
MIN_LISTS = 10


@dataclasses.dataclass
class ClickLearning:
    """The logged search pages with clicks, ready to become lists for both rankers."""

    pages: list[ClickPage]
    retrieval: PageRetrieval
    bias: PositionBias
    max_weight: float
    summary: dict[str, Any]


def click_learning(
    searches: pl.DataFrame, searcher: HybridSearcher, catalog: pl.DataFrame, config: RecsysConfig
) -> ClickLearning:
    """Position bias estimated over every logged page, and the clicked pages retrieved again
    with today's engine (``recsys.ranking.click_lists``)."""
    settings = config.search_training
    positions = {item: n for n, item in enumerate(catalog["item_id"].to_list())}
    bias = position_bias(searches, settings.click_position_correction)
    pages = click_pages(searches, positions)
    retrieval = PageRetrieval(searcher, pages, settings.candidates)
    summary = click_summary(searches, pages, bias)
    log.info("click learning: %s", summary)
    return ClickLearning(pages, retrieval, bias, settings.click_max_weight, summary)


def calibrate_relevance(searcher: HybridSearcher, params: RelevanceParams) -> dict[str, Any]:
    """The dense floor of the relevance threshold, from random strings (``relevance.py``)."""

    def top_similarities(queries: list[str]) -> list[np.ndarray]:
        vectors = searcher.encode_queries(queries)  # one batch
        kinds = [
            searcher.dense.best_per_item_many(vectors, GAP_RANK, 2 * GAP_RANK, kind)
            for kind in (CONTENT, LOCALIZED)
        ]
        tops = []
        for found in zip(*kinds, strict=True):
            best: dict[int, float] = {}
            for by_item in found:
                for item, sim in by_item.items():
                    best[item] = max(best.get(item, -1.0), sim)
            tops.append(np.array(sorted(best.values(), reverse=True)[:GAP_RANK] or [-1.0]))
        return tops

    calibration = calibrate_dense_floor(top_similarities, params)
    log.info("relevance threshold: %s", calibration)
    return {"relevance": calibration, "relevance_params": dataclasses.asdict(params)}


def train_anonymous_search_ranker(
    personal: Personalization,
    searcher: HybridSearcher,
    catalog: pl.DataFrame,
    config: RecsysConfig,
    data_dir: Path,
    clicks: ClickLearning | None = None,
) -> dict[str, Any]:
    """LambdaMART on derived-query lists (and clicked pages); sets
    ``personal.anonymous_search_ranker``."""
    movielens = {
        int(ml): item
        for item, ml in catalog.select("item_id", "movielens_id").drop_nulls().iter_rows()
    }
    tags = read_tag_texts(data_dir / "movielens" / "tags.csv", movielens)
    as_of = int(personal.info.get("as_of") or personal.log.end_time())
    lists, kinds = anonymous_search_lists(
        searcher,
        catalog.to_dicts(),
        catalog["item_id"].to_list(),
        tags,
        personal.models.side,
        personal.models.stats,
        as_of,
        config.search_training,
    )
    if clicks is not None:
        logged = anonymous_click_lists(
            clicks.pages,
            clicks.retrieval,
            clicks.bias,
            personal.models.side,
            personal.models.stats,
            as_of,
            clicks.max_weight,
        )
        lists, kinds = _with_clicks(lists, kinds, logged)
    ranker, report = _train(lists, kinds, config)
    personal.anonymous_search_ranker = ranker
    report["items_with_tags"] = len(tags)
    log.info("anonymous search ranker: %s", report)
    return report


def train_personal_search_ranker(
    personal: Personalization,
    searcher: HybridSearcher,
    catalog: pl.DataFrame,
    config: RecsysConfig,
    clicks: ClickLearning | None = None,
) -> dict[str, Any]:
    """Personal search: lists of (user, derived query, search results) on the same temporal
    split as the recommendation ranker, and the clicked pages of known users; sets
    ``personal.search_ranker``."""
    most = min(config.split.max_training_users, config.search_training.max_users)
    split = leave_last_n(personal.log, config.split.holdout, config.split.min_history).sample(
        most, config.split.sample_seed
    )
    lists, kinds = search_lists(
        split,
        personal.models.side,
        personal.models.stats,
        searcher,
        catalog,
        config.search_training,
        config.features,
    )
    if clicks is not None:
        logged = personal_click_lists(
            clicks.pages,
            clicks.retrieval,
            clicks.bias,
            personal.log,
            personal.models.side,
            personal.models.stats,
            config.features,
            clicks.max_weight,
        )
        lists, kinds = _with_clicks(lists, kinds, logged)
    personal.search_ranker, report = _train(lists, kinds, config)
    log.info("search ranker: %s", report)
    return report


def _with_clicks(
    lists: TrainingLists, kinds: list[str], logged: TrainingLists
) -> tuple[TrainingLists, list[str]]:
    """Derived lists followed by the clicked pages' lists (kind ``logged_click``)."""
    if not len(logged.groups):
        return lists, kinds
    return concat_lists([lists, logged]), kinds + ["logged_click"] * len(logged.groups)


def _train(
    lists: TrainingLists, kinds: list[str], config: RecsysConfig
) -> tuple[LightGBMRanker | None, dict[str, Any]]:
    """LambdaMART on search lists, with the report (None and why, with too few lists)."""
    if len(lists.groups) < MIN_LISTS:
        return None, {"skipped": f"only {len(lists.groups)} usable lists"}
    ranker, report = train_on_lists(lists, config.ranker, config.split.valid_share)
    report["query_kinds"] = {k: kinds.count(k) for k in sorted(set(kinds))}
    report["target_retrieved"] = report.pop("candidate_recall")
    return ranker, report
