"""The models ``recsys evaluate`` compares, each ranking the full catalog for every
evaluated user of one temporal split (``EvalSplit``): baselines scored densely, and the
candidate sources with their rankers (no-op order and LightGBM) exactly as served."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys.core.artifacts import load_manifest
from recsys.core.progress import track
from recsys.history.interactions import (
    InteractionLog,
    Split,
    leave_last_n,
    read_movielens_interactions,
)
from recsys.history.item_stats import ItemStats
from recsys.ranking.features import ItemSide, UserState, item_vectors, user_state_from_log
from recsys.ranking.rankers import LightGBMRanker, NoOpRanker, PopularityRanker, Ranker
from recsys.recommend.candidates import top_n
from recsys.recommend.cf.als import fit_als
from recsys.recommend.cf.ease import fit_ease
from recsys.recommend.cf.neighbors import fit_item_knn
from recsys.recommend.cf.sparse import interaction_matrix
from recsys.recommend.config import RecsysConfig
from recsys.recommend.recommender import rank_for_user
from recsys.recommend.training import fit_candidate_models, train_recommendation_ranker
from recsys.search.vector_index import IndexParams, VectorIndex, build_index

log = logging.getLogger(__name__)
K_MAX = 100
# the evaluated models that rank the candidate sources (as served) rather than the catalog
CANDIDATES, COVISITATION, LIGHTGBM = "candidates", "covisitation", LightGBMRanker.name
CANDIDATE_MODELS = (COVISITATION, CANDIDATES, LIGHTGBM)
Scorer = Callable[[int, UserState], np.ndarray]
Rankings = dict[str, np.ndarray]
Timings = dict[str, dict[str, float]]


@dataclass
class EvalInputs:
    catalog: pl.DataFrame
    side: ItemSide
    interactions: pl.DataFrame
    directory: Path


def load_inputs(artifacts: Path, data_dir: Path | None = None) -> EvalInputs:
    """Catalog and item vectors from an artifact; interactions from it, or from data_dir."""
    directory, _manifest = load_manifest(artifacts, verify_checksums=False)
    catalog = pl.read_parquet(directory / "catalog.parquet")
    documents = pl.read_parquet(directory / "documents.parquet")
    positions = {item: i for i, item in enumerate(catalog["item_id"].to_list())}
    doc_items = np.array([positions[i] for i in documents["item_id"].to_list()])
    vectors = np.load(directory / "vectors.npy").astype(np.float32)
    side = ItemSide.from_catalog(
        catalog, item_vectors(doc_items, documents["kind"].to_numpy(), vectors, catalog.height)
    )
    if data_dir is not None:
        interactions, _ = read_movielens_interactions(data_dir, catalog)
    elif (directory / "interactions.parquet").exists():
        interactions = pl.read_parquet(directory / "interactions.parquet")
    else:
        raise FileNotFoundError(f"{directory} has no interactions.parquet; pass --data DIR")
    return EvalInputs(catalog, side, interactions, directory)


@dataclass
class EvalSplit:
    """One temporal split, with every evaluated user's state and blocked items as of their
    cutoff."""

    test: Split
    users: np.ndarray
    stats: ItemStats
    side: ItemSide
    states: list[UserState]
    blocked: list[np.ndarray]
    matrix: sp.csr_matrix  # training interactions, users x items
    item_index: VectorIndex

    def pairs(self) -> Iterator[tuple[UserState, np.ndarray]]:
        """(state, blocked items) of each evaluated user."""
        return zip(self.states, self.blocked, strict=True)

    @property
    def train(self) -> InteractionLog:
        return self.test.history

    @property
    def relevant(self) -> list[np.ndarray]:
        return [self.test.labels[u] for u in self.users.tolist()]

    def liked(self, rating: float) -> tuple[np.ndarray, list[np.ndarray]]:
        """(mask over ``users``, their held-out items rated ``rating`` or more) for the
        users with at least one such item."""
        liked = [
            self.test.labels[u][self.test.label_values[u] >= rating] for u in self.users.tolist()
        ]
        mask = np.array([len(items) > 0 for items in liked], dtype=bool)
        return mask, [items for items, keep in zip(liked, mask.tolist(), strict=True) if keep]


def split_for_evaluation(
    inputs: EvalInputs, config: RecsysConfig, n_test: int, min_history: int
) -> EvalSplit:
    side = inputs.side
    n_items = len(side)
    positions = {item: i for i, item in enumerate(inputs.catalog["item_id"].to_list())}
    full = InteractionLog.from_frame(inputs.interactions, positions)
    stats = ItemStats.from_log(full, n_items)  # read only as of each user's cutoff
    test = leave_last_n(full, n_test, min_history)
    users = test.evaluated_users()
    train = test.history
    item_index = build_index(side.vectors, IndexParams(kind="flat"))
    matrix = interaction_matrix(train.user_of_rows(), train.items, train.n_users, n_items)
    states: list[UserState] = []
    blocked_rows: list[np.ndarray] = []
    for u in track(users.tolist(), "evaluation user states", unit="users"):
        states.append(
            user_state_from_log(train, u, int(test.cutoffs[u]), side, stats, config.features)
        )
        blocked = np.zeros(n_items, dtype=bool)
        blocked[states[-1].items] = True
        blocked_rows.append(blocked)
    return EvalSplit(test, users, stats, side, states, blocked_rows, matrix, item_index)


def _rank_dense(scores: np.ndarray, blocked: np.ndarray) -> np.ndarray:
    items, _ = top_n(scores - np.nanmin(scores) + 1.0, K_MAX, blocked)  # keep zero scores
    return np.pad(items, (0, K_MAX - len(items)), constant_values=-1)


def _rank_list(items: np.ndarray) -> np.ndarray:
    items = items[:K_MAX]
    return np.pad(items, (0, K_MAX - len(items)), constant_values=-1)


def baseline_scorers(split: EvalSplit, config: RecsysConfig) -> dict[str, Callable[[], Any]]:
    """Model name -> a function that fits the model and returns its ``Scorer`` (or None when
    the package it needs is not installed)."""
    n_items, side, stats, matrix = len(split.side), split.side, split.stats, split.matrix
    train_counts = np.bincount(split.train.items, minlength=n_items).astype(np.float64)

    def knn() -> Scorer:
        model = fit_item_knn(matrix)
        return lambda _u, s: model.scores(s.items)

    def ease() -> Scorer:
        cf = config.cf
        model = fit_ease(matrix, cf.ease_l2, cf.ease_min_count, max_items=cf.ease_max_items)
        return lambda _u, s: model.scores(s.items)

    def als() -> Scorer | None:
        model = fit_als(matrix)
        return None if model is None else (lambda u, _s: model.scores_for_user(u))

    # the embedding restricted to items someone consumed in training (most of the catalog's
    # Netflix-only titles never are, and pure content similarity favours them)
    watched = train_counts > 0
    return {
        PopularityRanker.name: lambda: lambda _u, _s: train_counts,
        "popularity_recent": lambda: lambda _u, s: stats.all_counts(s.as_of, 365),
        "item_knn": knn,
        "ease": ease,
        "als": als,
        "embedding": lambda: lambda _u, s: side.vectors @ s.profile,
        "embedding_watched": lambda: (
            lambda _u, s: np.where(watched, side.vectors @ s.profile, np.nan)
        ),
    }


def rank_baselines(
    split: EvalSplit, scorers: dict[str, Callable[[], Any]], wanted: tuple[str, ...]
) -> tuple[Rankings, Timings]:
    ranked: Rankings = {}
    timing: Timings = {}
    for name, make in scorers.items():
        if name not in wanted:
            continue
        start = time.perf_counter()
        scorer = make()
        fit_s = time.perf_counter() - start
        if scorer is None:
            log.warning("%s skipped (package not installed)", name)
            continue
        start = time.perf_counter()
        ranked[name] = np.vstack(
            [
                _rank_dense(np.asarray(scorer(u, s), dtype=np.float64), b)
                for u, s, b in track(
                    zip(split.users.tolist(), split.states, split.blocked, strict=True),
                    name,
                    len(split.users),
                    "users",
                )
            ]
        )
        timing[name] = {"fit_s": fit_s, "predict_s": time.perf_counter() - start}
        log.info("evaluated %s", name)
    return ranked, timing


def rank_candidate_models(
    split: EvalSplit, config: RecsysConfig, wanted: tuple[str, ...]
) -> tuple[Rankings, Timings, dict[str, Any]]:
    """Co-visitation alone, and the merged candidates under the no-op and the LightGBM ranker
    (trained as ``recsys build`` trains it, on the training part only)."""
    ranked: Rankings = {}
    timing: Timings = {}
    if not set(CANDIDATE_MODELS) & set(wanted):
        return ranked, timing, {}
    start = time.perf_counter()
    train, stats, side, item_index = split.train, split.stats, split.side, split.item_index
    ranker, train_report, _ = train_recommendation_ranker(train, stats, side, item_index, config)
    candidate_models = fit_candidate_models(train, stats, side, item_index, config.cf)
    fit_s = time.perf_counter() - start
    rankers: dict[str, Ranker] = {CANDIDATES: NoOpRanker(ranker.feature_names), LIGHTGBM: ranker}
    if COVISITATION in wanted:
        start = time.perf_counter()
        covis = candidate_models.covis
        ranked[COVISITATION] = np.vstack(
            [
                _rank_dense(covis.scores(s.items, s.recency_weights()), b)
                for s, b in track(split.pairs(), COVISITATION, len(split.users), "users")
            ]
        )
        timing[COVISITATION] = {"fit_s": fit_s, "predict_s": time.perf_counter() - start}
    for name, model in rankers.items():
        if name not in wanted:
            continue
        start = time.perf_counter()
        ranked[name] = np.vstack(
            [
                _rank_list(rank_for_user(s, candidate_models, config.candidates, model, b).items)
                for s, b in track(split.pairs(), name, len(split.users), "users")
            ]
        )
        timing[name] = {"fit_s": fit_s, "predict_s": time.perf_counter() - start}
        log.info("evaluated %s", name)
    return ranked, timing, train_report
