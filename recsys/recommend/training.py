"""Training lists and ranker training, shared by ``recsys build`` and ``recsys evaluate``.

The recipe (temporal, point-in-time):

1. split every user's consumptions at a cutoff: the last N become labels (``leave_last_n``);
2. fit the candidate models (co-visitation, EASE) on the histories only;
3. for each user, as of their cutoff: build the ``UserState``, generate candidates with the
   user's history blocked, compute ``recommendation_features``, label each candidate 1 if
   the user consumed it after the cutoff;
4. train LightGBM ``lambdarank`` on those lists, with early stopping on held-aside users.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys.history.interactions import InteractionLog, Split, leave_last_n
from recsys.history.item_stats import ItemStats
from recsys.ranking.features import (
    RECOMMENDATION_FEATURES,
    ItemSide,
    recommendation_features,
    user_state_from_log,
)
from recsys.ranking.rankers import LightGBMRanker
from recsys.recommend.candidates import CandidateModels, generate
from recsys.recommend.cf import ItemNeighbors, fit_covisitation, fit_ease, interaction_matrix
from recsys.recommend.config import CFConfig, RecsysConfig
from recsys.search.vector_index import VectorIndex

log = logging.getLogger(__name__)


@dataclass
class TrainingLists:
    """Concatenated candidate lists: rows of one list are consecutive (``groups`` lengths)."""

    features: np.ndarray  # (rows, len(feature_names)) float64
    labels: np.ndarray  # (rows,) float64
    groups: np.ndarray  # (lists,) int64
    users: np.ndarray  # (rows,) user index in the log
    items: np.ndarray  # (rows,) item positions
    as_of: np.ndarray  # (rows,) the as-of time of the row's features
    feature_names: tuple[str, ...]
    labels_total: int = 0  # held-out consumptions of the listed users (for candidate recall)

    @property
    def candidate_recall(self) -> float:
        return float(self.labels.sum()) / self.labels_total if self.labels_total else 0.0

    def rows_of_lists(self, lists: np.ndarray) -> np.ndarray:
        starts = np.concatenate([[0], np.cumsum(self.groups)])
        return np.concatenate(
            [np.arange(starts[i], starts[i + 1]) for i in lists] or [np.zeros(0, np.int64)]
        )

    def to_frame(self, user_ids: list[str], item_ids: list[str]) -> pl.DataFrame:
        frame = pl.DataFrame(
            {
                "user_id": [user_ids[u] for u in self.users.tolist()],
                "item_id": [item_ids[i] for i in self.items.tolist()],
                "as_of": self.as_of,
                "label": self.labels,
            }
        )
        values = pl.DataFrame(self.features, schema=list(self.feature_names), orient="row")
        return pl.concat([frame, values], how="horizontal")


@dataclass
class ListBuilder:
    """Collects one list at a time and concatenates them into ``TrainingLists``."""

    feature_names: tuple[str, ...]
    _features: list[np.ndarray] = field(default_factory=list)
    _labels: list[np.ndarray] = field(default_factory=list)
    _users: list[np.ndarray] = field(default_factory=list)
    _items: list[np.ndarray] = field(default_factory=list)
    _as_of: list[np.ndarray] = field(default_factory=list)

    def add(
        self, features: np.ndarray, labels: np.ndarray, user: int, items: np.ndarray, as_of: int
    ) -> None:
        self._features.append(features)
        self._labels.append(labels)
        self._users.append(np.full(len(items), user))
        self._items.append(items)
        self._as_of.append(np.full(len(items), as_of))

    def build(self, labels_total: int) -> TrainingLists:
        def joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype)

        return TrainingLists(
            np.vstack(self._features) if self._features else np.zeros((0, len(self.feature_names))),
            joined(self._labels, np.float64),
            np.array([len(items) for items in self._items], dtype=np.int64),
            joined(self._users, np.int64),
            joined(self._items, np.int64),
            joined(self._as_of, np.int64),
            self.feature_names,
            labels_total,
        )


def fit_candidate_models(
    history: InteractionLog,
    stats: ItemStats,
    side: ItemSide,
    item_index: VectorIndex,
    config: CFConfig,
) -> CandidateModels:
    n_items = len(side)
    if len(history) == 0:
        empty = ItemNeighbors(sp.csr_matrix((n_items, n_items), dtype=np.float32))
        return CandidateModels(side, stats, item_index, empty, ItemNeighbors(empty.matrix.copy()))
    matrix = interaction_matrix(history.user_of_rows(), history.items, history.n_users, n_items)
    covis = fit_covisitation(
        history.user_of_rows(),
        history.items,
        n_items,
        window=config.covis_window,
        top_k=config.covis_top_k,
        popularity_alpha=config.covis_popularity_alpha,
    )
    ease = fit_ease(matrix, l2=config.ease_l2, min_item_count=config.ease_min_count)
    return CandidateModels(side, stats, item_index, covis, ease.prune(config.ease_top_k))


def recommendation_lists(
    split: Split, models: CandidateModels, config: RecsysConfig, keep_empty: bool = False
) -> TrainingLists:
    """One candidate list per evaluated user of ``split``, as of the user's cutoff."""
    n_items = len(models.side)
    lists = ListBuilder(RECOMMENDATION_FEATURES)
    labels_total = 0
    for u in split.evaluated_users().tolist():
        cutoff = int(split.cutoffs[u])
        state = user_state_from_log(
            split.history, u, cutoff, models.side, models.stats, config.features
        )
        blocked = np.zeros(n_items, dtype=bool)
        blocked[state.items] = True
        candidates = generate(state, models, config.candidates, blocked)
        label = np.isin(candidates.items, split.labels[u]).astype(np.float64)
        labels_total += len(np.unique(split.labels[u]))
        if not len(candidates) or (not keep_empty and label.sum() == 0):
            continue
        features = recommendation_features(
            state, candidates.items, candidates.scores, candidates.ranks, models.side, models.stats
        )
        lists.add(features, label, u, candidates.items, cutoff)
    return lists.build(labels_total)


def train_on_lists(
    lists: TrainingLists, config: RecsysConfig
) -> tuple[LightGBMRanker, dict[str, Any]]:
    """Train LambdaMART with early stopping on a deterministic share of the lists."""
    n_lists = len(lists.groups)
    if n_lists < 2:
        raise ValueError("need at least two training lists with a positive label")
    rng = np.random.default_rng(config.ranker.seed)
    n_valid = max(1, int(round(config.split.valid_share * n_lists)))
    valid = np.zeros(n_lists, dtype=bool)
    valid[rng.choice(n_lists, size=n_valid, replace=False)] = True
    train_rows = lists.rows_of_lists(np.flatnonzero(~valid))
    valid_rows = lists.rows_of_lists(np.flatnonzero(valid))
    start = time.perf_counter()
    ranker = LightGBMRanker.train(
        lists.features[train_rows],
        lists.labels[train_rows],
        lists.groups[~valid],
        lists.feature_names,
        config.ranker,
        valid=(lists.features[valid_rows], lists.labels[valid_rows], lists.groups[valid]),
    )
    best = ranker.booster.best_score.get("valid_0", {})
    report = {
        "lists": n_lists,
        "rows": int(len(lists.labels)),
        "positives": int(lists.labels.sum()),
        "candidate_recall": round(lists.candidate_recall, 4),
        "best_iteration": int(ranker.booster.best_iteration),
        "valid_ndcg": {k: round(float(v), 4) for k, v in best.items()},
        "train_s": round(time.perf_counter() - start, 2),
        "importance": dict(sorted(ranker.importance().items(), key=lambda kv: -kv[1])[:12]),
    }
    return ranker, report


def train_recommendation_ranker(
    log_all: InteractionLog,
    stats: ItemStats,
    side: ItemSide,
    item_index: VectorIndex,
    config: RecsysConfig,
) -> tuple[LightGBMRanker, dict[str, Any], TrainingLists]:
    """The whole recipe on one log: split, fit candidate models, build lists, train."""
    split = leave_last_n(log_all, config.split.holdout, config.split.min_history)
    start = time.perf_counter()
    models = fit_candidate_models(split.history, stats, side, item_index, config.cf)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    lists = recommendation_lists(split, models, config)
    lists_s = time.perf_counter() - start
    ranker, report = train_on_lists(lists, config)
    report.update(fit_models_s=round(fit_s, 2), lists_s=round(lists_s, 2))
    log.info("recommendation ranker: %s", report)
    return ranker, report, lists
