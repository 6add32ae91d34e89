"""Training lists and ranker training, shared by ``recsys build`` and ``recsys evaluate``.

The recipe (temporal, point-in-time):

1. split every user's consumptions at a cutoff: the last N become labels (``leave_last_n``);
2. fit the candidate models (co-visitation, EASE) on the histories only;
3. for each user, as of their cutoff: build the ``UserState``, generate candidates with the
   user's history blocked, compute ``recommendation_features``, label each candidate 2 if
   the user rated it ``[split] liked_rating`` or more after the cutoff, 1 if they consumed
   it otherwise, 0 if not (graded: the ranker learns liked above merely watched);
4. train LightGBM ``lambdarank`` on those lists, with early stopping on held-aside users.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.core.progress import track
from recsys.core.runner import LocalRunner, Runner
from recsys.core.runner import split as split_users
from recsys.history.interactions import InteractionLog, Split, leave_last_n
from recsys.history.item_stats import ItemStats
from recsys.ranking.features import (
    RECOMMENDATION_FEATURES,
    ItemSide,
    recommendation_features,
    user_state_from_log,
)
from recsys.ranking.lists import ListBuilder, TrainingLists, concat_lists, train_on_lists
from recsys.ranking.rankers import LightGBMRanker
from recsys.recommend.candidates import CandidateModels, generate
from recsys.recommend.cf.ease import fit_ease
from recsys.recommend.cf.neighbors import ItemNeighbors, fit_covisitation
from recsys.recommend.cf.sparse import interaction_matrix
from recsys.recommend.config import CFConfig, RecsysConfig
from recsys.search.vector_index import VectorIndex

log = logging.getLogger(__name__)


def fit_candidate_models(
    history: InteractionLog,
    stats: ItemStats,
    side: ItemSide,
    item_index: VectorIndex,
    config: CFConfig,
    runner: Runner | None = None,
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
        runner=runner,
    )
    ease = fit_ease(matrix, config.ease_l2, config.ease_min_count, max_items=config.ease_max_items)
    return CandidateModels(side, stats, item_index, covis, ease.prune(config.ease_top_k))


def recommendation_lists(
    split: Split,
    models: CandidateModels,
    config: RecsysConfig,
    keep_empty: bool = False,
    runner: Runner | None = None,
) -> TrainingLists:
    """One candidate list per evaluated user of ``split``, as of the user's cutoff; on a
    runner with several workers, one task per shard of users, joined in user order."""
    runner = runner or LocalRunner()
    users = split.evaluated_users()
    models.popularity.prefetch(split.cutoffs[users], config.candidates.trending_min_count)
    if runner.workers == 1:
        shards = [users]  # one pass, one progress report
    else:
        shards = [users[a:b] for a, b in split_users(len(users), runner.workers * 4)]
    shared = {"split": split, "models": models, "config": config, "keep_empty": keep_empty}
    parts = runner.map_shards(_lists_of_users, shards, shared)
    return parts[0] if len(parts) == 1 else concat_lists(parts)


def _lists_of_users(
    users: np.ndarray,
    split: Split,
    models: CandidateModels,
    config: RecsysConfig,
    keep_empty: bool,
) -> TrainingLists:
    n_items = len(models.side)
    lists = ListBuilder(RECOMMENDATION_FEATURES)
    labels_total = 0
    for u in track(users.tolist(), "recommendation training lists", unit="users"):
        cutoff = int(split.cutoffs[u])
        state = user_state_from_log(
            split.history, u, cutoff, models.side, models.stats, config.features
        )
        blocked = np.zeros(n_items, dtype=bool)
        blocked[state.items] = True
        candidates = generate(state, models, config.candidates, blocked)
        label = split.grades(u, candidates.items, config.split.liked_rating)
        labels_total += len(np.unique(split.labels[u]))
        if not len(candidates) or (not keep_empty and label.sum() == 0):
            continue
        features = recommendation_features(
            state, candidates.items, candidates.scores, candidates.ranks, models.side, models.stats
        )
        lists.add(features, label, u, candidates.items, cutoff)
    return lists.build(labels_total)


def train_recommendation_ranker(
    log_all: InteractionLog,
    stats: ItemStats,
    side: ItemSide,
    item_index: VectorIndex,
    config: RecsysConfig,
    runner: Runner | None = None,
) -> tuple[LightGBMRanker, dict[str, Any], TrainingLists]:
    """The whole recipe on one log: split, fit candidate models, build lists, train."""
    split = leave_last_n(log_all, config.split.holdout, config.split.min_history).sample(
        config.split.max_training_users, config.split.sample_seed
    )
    start = time.perf_counter()
    models = fit_candidate_models(split.history, stats, side, item_index, config.cf, runner)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    lists = recommendation_lists(split, models, config, runner=runner)
    lists_s = time.perf_counter() - start
    del models, split  # the split's candidate models are done with: LightGBM needs the memory
    ranker, report = train_on_lists(lists, config.ranker, config.split.valid_share)
    report.update(fit_models_s=round(fit_s, 2), lists_s=round(lists_s, 2))
    log.info("recommendation ranker: %s", report)
    return ranker, report, lists
