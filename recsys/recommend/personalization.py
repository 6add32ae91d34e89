"""The personalization part of an artifact: fitted offline, loaded by the engine.

Files (all listed with checksums in the manifest)::

    interactions.parquet        the interaction log snapshot (histories, item statistics)
    covis.npz  ease.npz         candidate models fitted on the whole log
    ranker_recommendations.txt  LightGBM LambdaMART for /v1/recommendations (if trained)
    ranker_search.txt           LightGBM LambdaMART for personal search (if trained)
    ranker_search_anonymous.txt LightGBM LambdaMART for every search (if trained)
    index.items.faiss           the item-vector index of the embedding candidate sources, when
                                approximate (HNSW or IVF: slow to build; flat is rebuilt)

The manifest's ``personalization`` section records the configuration, the feature lists,
the snapshot time, the default ranker and the training reports.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsys.catalog.items import ItemTable
from recsys.core.errors import ArtifactError
from recsys.core.memory import release_memory
from recsys.core.runner import Runner
from recsys.history.interactions import InteractionLog
from recsys.history.item_stats import ItemStats
from recsys.ranking.anonymous_search import AnonymousSearchRanker
from recsys.ranking.features import (
    ANONYMOUS_SEARCH_FEATURES,
    RECOMMENDATION_FEATURES,
    SEARCH_FEATURES,
    SOURCES,
    ItemSide,
    item_vectors,
)
from recsys.ranking.personal_search import PersonalSearchRanker
from recsys.ranking.rankers import LightGBMRanker, PopularityRanker, Ranker, baseline_rankers
from recsys.recommend.candidates import CandidateModels
from recsys.recommend.cf.neighbors import ItemNeighbors
from recsys.recommend.config import RecsysConfig
from recsys.recommend.recommender import Recommender
from recsys.recommend.training import fit_candidate_models, train_recommendation_ranker
from recsys.search.vector_index import FaissIndex, IndexParams, VectorIndex, build_index

log = logging.getLogger(__name__)
RECS_MODEL = "ranker_recommendations.txt"
SEARCH_MODEL = "ranker_search.txt"
ANONYMOUS_SEARCH_MODEL = "ranker_search_anonymous.txt"
ITEM_INDEX = "index.items.faiss"
MIN_USERS_FOR_RANKER = 10


@dataclass
class Personalization:
    interactions: pl.DataFrame
    log: InteractionLog
    models: CandidateModels
    ranker: LightGBMRanker | None = None
    search_ranker: LightGBMRanker | None = None
    info: dict[str, Any] = field(default_factory=dict)
    anonymous_search_ranker: LightGBMRanker | None = None

    def save(self, directory: Path) -> dict[str, Any]:
        """Write the files; returns the manifest section."""
        self.interactions.write_parquet(directory / "interactions.parquet")
        self.models.covis.save(directory / "covis.npz")
        self.models.ease.save(directory / "ease.npz")
        if self.ranker is not None:
            self.ranker.save(directory / RECS_MODEL)
        if self.search_ranker is not None:
            self.search_ranker.save(directory / SEARCH_MODEL)
        if self.anonymous_search_ranker is not None:
            self.anonymous_search_ranker.save(directory / ANONYMOUS_SEARCH_MODEL)
        index = self.models.item_index
        if isinstance(index, FaissIndex) and index.params.kind != "flat":  # flat: rebuilt fast
            index.save(directory / ITEM_INDEX)
            self.info["item_index"] = index.params.to_dict()
        return self.info

    def recommender(self, items: ItemTable, config: RecsysConfig) -> Recommender:
        rankers: dict[str, Ranker] = dict(baseline_rankers(RECOMMENDATION_FEATURES))
        if self.ranker is not None:
            rankers[self.ranker.name] = self.ranker
        default = LightGBMRanker.name if self.ranker is not None else PopularityRanker.name
        return Recommender(
            items, self.log, self.models, rankers, default, config, as_of=self.info.get("as_of")
        )

    def personal_search(self, recommender: Recommender) -> PersonalSearchRanker | None:
        """Personal search over the recommender's user states (None without a search ranker)."""
        if self.search_ranker is None:
            return None
        return PersonalSearchRanker(
            self.search_ranker, recommender.state, self.models.side, self.models.stats
        )

    def anonymous_search(self) -> AnonymousSearchRanker | None:
        """The search ranker for every query, as of the snapshot (None when not trained)."""
        if self.anonymous_search_ranker is None:
            return None
        return AnonymousSearchRanker(
            self.anonymous_search_ranker,
            self.models.side,
            self.models.stats,
            int(self.info.get("as_of") or self.log.end_time()),
        )


def fit_personalization(
    interactions: pl.DataFrame,
    items: ItemTable,
    side: ItemSide,
    item_index: VectorIndex,
    config: RecsysConfig,
    runner: Runner | None = None,
) -> Personalization:
    """Fit everything on the whole log; train the ranker on its temporal split (its lists
    built on ``runner``)."""
    start = time.perf_counter()
    log_all = InteractionLog.from_frame(interactions, items.position_of)
    stats = ItemStats.from_log(log_all, len(side))
    ranker, report = None, {"skipped": "fewer than 10 users with enough history"}
    evaluable = np.diff(log_all.ptr) >= config.split.holdout + config.split.min_history
    if int(evaluable.sum()) >= MIN_USERS_FOR_RANKER:
        # the lists go once the ranker is trained: the fit below needs the memory
        ranker, report, _ = train_recommendation_ranker(
            log_all, stats, side, item_index, config, runner
        )
        release_memory()
    models = fit_candidate_models(log_all, stats, side, item_index, config.cf, runner)
    info = {
        "as_of": log_all.end_time(),
        "users": log_all.n_users,
        "consumptions": len(log_all),
        "events": interactions.height,
        "config": config.to_dict(),
        "sources": list(SOURCES),
        "recommendation_features": list(RECOMMENDATION_FEATURES),
        "search_features": list(SEARCH_FEATURES),
        "anonymous_search_features": list(ANONYMOUS_SEARCH_FEATURES),
        "default_ranker": LightGBMRanker.name if ranker is not None else PopularityRanker.name,
        "recommendation_ranker": report,
        "fit_s": round(time.perf_counter() - start, 2),
    }
    return Personalization(interactions, log_all, models, ranker, None, info)


def load_personalized(
    directory: Path,
    info: dict[str, Any],
    items: ItemTable,
    doc_items: np.ndarray,
    doc_kinds: np.ndarray,
    vectors: np.ndarray,
) -> tuple[Recommender, PersonalSearchRanker | None, AnonymousSearchRanker | None]:
    """The serving recommender, personal search and anonymous search ranker of an artifact
    (item vectors from its document vectors)."""
    if not info:
        raise ArtifactError(f"{directory} has no personalization section; rebuild it")
    catalog_side = ItemSide.from_catalog(
        items.frame, item_vectors(doc_items, doc_kinds, vectors, len(items))
    )
    item_index = _item_index(directory, info, catalog_side.vectors)
    personal = load_personalization(directory, info, items, catalog_side, item_index)
    config = RecsysConfig.from_dict(info.get("config", {}), f"{directory} manifest")
    recommender = personal.recommender(items, config)
    return recommender, personal.personal_search(recommender), personal.anonymous_search()


def _item_index(directory: Path, info: dict[str, Any], vectors: np.ndarray) -> VectorIndex:
    """The artifact's saved item index; built here for artifacts from before it was saved."""
    path = directory / ITEM_INDEX
    if "item_index" in info and path.exists():
        index = FaissIndex.load(path, IndexParams.from_dict(info["item_index"]))
        if len(index) != len(vectors):
            raise ArtifactError(f"{path} holds {len(index)} items, the catalog {len(vectors)}")
        return index
    return build_index(vectors, IndexParams(kind="auto"))


def load_personalization(
    directory: Path,
    info: dict[str, Any],
    items: ItemTable,
    side: ItemSide,
    item_index: VectorIndex,
) -> Personalization:
    if (
        list(info.get("recommendation_features", [])) != list(RECOMMENDATION_FEATURES)
        or list(info.get("search_features", [])) != list(SEARCH_FEATURES)
        or list(info.get("anonymous_search_features", [])) != list(ANONYMOUS_SEARCH_FEATURES)
    ):
        raise ArtifactError(
            f"{directory} was built with a different feature list; rebuild with `recsys build`"
        )
    interactions = pl.read_parquet(directory / "interactions.parquet")
    log_all = InteractionLog.from_frame(interactions, items.position_of)
    stats = ItemStats.from_log(log_all, len(side))
    models = CandidateModels(
        side,
        stats,
        item_index,
        ItemNeighbors.load(directory / "covis.npz"),
        ItemNeighbors.load(directory / "ease.npz"),
    )
    ranker = search_ranker = None
    if (directory / RECS_MODEL).exists():
        ranker = LightGBMRanker.load(directory / RECS_MODEL, RECOMMENDATION_FEATURES)
    if (directory / SEARCH_MODEL).exists():
        search_ranker = LightGBMRanker.load(directory / SEARCH_MODEL, SEARCH_FEATURES)
    anonymous = None
    if (directory / ANONYMOUS_SEARCH_MODEL).exists():
        anonymous = LightGBMRanker.load(
            directory / ANONYMOUS_SEARCH_MODEL, ANONYMOUS_SEARCH_FEATURES
        )
    return Personalization(interactions, log_all, models, ranker, search_ranker, info, anonymous)
