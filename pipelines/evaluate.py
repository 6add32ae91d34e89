"""``recsys evaluate``: offline evaluation of recommenders on a temporal split.

Protocol: temporal leave-last-N-out per user (the last N consumptions of every user with
enough history are held out; everything at or after the cutoff time goes with them).
Every model ranks the FULL catalog minus the user's history (no sampled negatives) and is
scored on the held-out items with NDCG@k, Recall@k, MRR and catalog coverage, with 95%
bootstrap intervals over users.

Models, side by side on the same split:

* ``popularity``        most consumed items in the training data
* ``popularity_recent`` most consumed in the year before the user's cutoff (point-in-time)
* ``item_knn``          item-item cosine CF
* ``covisitation``      co-visitation in users' sequences
* ``ease``              EASE (full dense model)
* ``als``               implicit ALS (when the ``implicit`` package is installed)
* ``embedding``         the user's profile embedding against item embeddings
* ``candidates``        the merged candidate sources in their own order (no-op ranker)
* ``lightgbm``          the LambdaMART reranker over the merged candidates

The ranker is trained exactly as ``recsys build`` trains it, on the training part only
(its own inner temporal split), so the test labels are never seen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pipelines.evaluation_report import write_report
from recsys.core.artifacts import load_manifest
from recsys.evaluation.offline import (
    catalog_coverage,
    paired_difference,
    per_user_metrics,
    summarize,
)
from recsys.history.interactions import InteractionLog, leave_last_n, read_movielens_interactions
from recsys.history.item_stats import ItemStats
from recsys.ranking.features import (
    QUERY_FEATURES,
    ItemSide,
    UserState,
    item_vectors,
    user_state_from_log,
)
from recsys.ranking.personal_search import personal_search_order
from recsys.ranking.rankers import NoOpRanker, Ranker
from recsys.recommend.candidates import top_n
from recsys.recommend.cf.als import fit_als
from recsys.recommend.cf.ease import fit_ease
from recsys.recommend.cf.neighbors import fit_item_knn
from recsys.recommend.cf.sparse import interaction_matrix
from recsys.recommend.config import RecsysConfig
from recsys.recommend.recommender import rank_for_user
from recsys.recommend.training import (
    TrainingLists,
    fit_candidate_models,
    train_on_lists,
    train_recommendation_ranker,
)
from recsys.search.vector_index import IndexParams, build_index

log = logging.getLogger(__name__)
K_MAX = 100
REFERENCE = "popularity"


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


def _rank_dense(scores: np.ndarray, blocked: np.ndarray) -> np.ndarray:
    items, _ = top_n(scores - np.nanmin(scores) + 1.0, K_MAX, blocked)  # keep zero scores
    return np.pad(items, (0, K_MAX - len(items)), constant_values=-1)


def _rank_list(items: np.ndarray) -> np.ndarray:
    items = items[:K_MAX]
    return np.pad(items, (0, K_MAX - len(items)), constant_values=-1)


def evaluate(
    inputs: EvalInputs,
    config: RecsysConfig,
    n_test: int = 10,
    min_history: int = 5,
    models: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Run every model on one split and return the results dict (see write_report)."""
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
    for u in users.tolist():
        states.append(
            user_state_from_log(train, u, int(test.cutoffs[u]), side, stats, config.features)
        )
        blocked = np.zeros(n_items, dtype=bool)
        blocked[states[-1].items] = True
        blocked_rows.append(blocked)

    scorers: dict[str, Callable[[], Callable[[int, UserState], np.ndarray]]] = {}
    train_counts = np.bincount(train.items, minlength=n_items).astype(np.float64)
    scorers["popularity"] = lambda: lambda _u, _s: train_counts
    scorers["popularity_recent"] = lambda: lambda _u, s: stats.all_counts(s.as_of, 365)

    def knn() -> Callable[[int, UserState], np.ndarray]:
        model = fit_item_knn(matrix)
        return lambda _u, s: model.scores(s.items)

    def ease() -> Callable[[int, UserState], np.ndarray]:
        model = fit_ease(matrix, l2=config.cf.ease_l2, min_item_count=config.cf.ease_min_count)
        return lambda _u, s: model.scores(s.items)

    def als() -> Callable[[int, UserState], np.ndarray] | None:
        model = fit_als(matrix)
        return None if model is None else (lambda u, _s: model.scores_for_user(u))

    scorers["item_knn"] = knn
    scorers["ease"] = ease
    scorers["als"] = als  # type: ignore[assignment]
    scorers["embedding"] = lambda: lambda _u, s: side.vectors @ s.profile
    # the same, restricted to items someone consumed in training (most of the catalog's
    # Netflix-only titles never are, and pure content similarity favours them)
    watched = train_counts > 0
    scorers["embedding_watched"] = lambda: (
        lambda _u, s: np.where(watched, side.vectors @ s.profile, np.nan)
    )

    ranked: dict[str, np.ndarray] = {}
    timing: dict[str, dict[str, float]] = {}
    wanted = models or (*scorers, "covisitation", "candidates", "lightgbm")
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
                for u, s, b in zip(users.tolist(), states, blocked_rows, strict=True)
            ]
        )
        timing[name] = {"fit_s": fit_s, "predict_s": time.perf_counter() - start}
        log.info("evaluated %s", name)

    train_report: dict[str, Any] = {}
    if {"covisitation", "candidates", "lightgbm"} & set(wanted):
        start = time.perf_counter()
        ranker, train_report, _ = train_recommendation_ranker(
            train, stats, side, item_index, config
        )
        candidate_models = fit_candidate_models(train, stats, side, item_index, config.cf)
        fit_s = time.perf_counter() - start
        rankers: dict[str, Ranker] = {
            "candidates": NoOpRanker(ranker.feature_names),
            "lightgbm": ranker,
        }
        if "covisitation" in wanted:
            start = time.perf_counter()
            covis = candidate_models.covis
            ranked["covisitation"] = np.vstack(
                [
                    _rank_dense(covis.scores(s.items, s.recency_weights()), b)
                    for s, b in zip(states, blocked_rows, strict=True)
                ]
            )
            timing["covisitation"] = {"fit_s": fit_s, "predict_s": time.perf_counter() - start}
        for name, model in rankers.items():
            if name not in wanted:
                continue
            start = time.perf_counter()
            ranked[name] = np.vstack(
                [
                    _rank_list(
                        rank_for_user(s, candidate_models, config.candidates, model, b).items
                    )
                    for s, b in zip(states, blocked_rows, strict=True)
                ]
            )
            timing[name] = {"fit_s": fit_s, "predict_s": time.perf_counter() - start}
            log.info("evaluated %s", name)

    relevant = [test.labels[u] for u in users.tolist()]
    per_user = {name: per_user_metrics(r, relevant) for name, r in ranked.items()}
    results: dict[str, Any] = {
        "split": {
            "kind": "temporal leave-last-N-out per user, full-catalog ranking",
            "n_test": n_test,
            "min_history": min_history,
            "users": int(len(users)),
            "train_interactions": int(len(train)),
            "test_interactions": int(sum(len(r) for r in relevant)),
            "catalog_items": n_items,
        },
        "models": {},
        "reference": REFERENCE if REFERENCE in ranked else None,
        "ranker_training": train_report,
    }
    for name, metrics in per_user.items():
        entry: dict[str, Any] = {
            "metrics": {m: s.as_dict() for m, s in summarize(metrics).items()},
            "coverage@10": catalog_coverage(ranked[name], n_items, 10),
            "fit_s": round(timing[name]["fit_s"], 3),
            "predict_ms_per_user": round(1000 * timing[name]["predict_s"] / len(users), 3),
        }
        if REFERENCE in per_user and name != REFERENCE:
            entry["vs_reference"] = {
                m: paired_difference(metrics[m], per_user[REFERENCE][m]).as_dict()
                for m in ("ndcg@10", "recall@10", "mrr")
            }
        results["models"][name] = entry
    notes = []
    for other in ("ease", "item_knn", "als"):
        if "lightgbm" in per_user and other in per_user:
            diff = paired_difference(per_user["lightgbm"]["ndcg@10"], per_user[other]["ndcg@10"])
            notes.append(
                f"lightgbm - {other}, NDCG@10: {diff.mean:+.4f} "
                f"[{diff.low:+.4f}, {diff.high:+.4f}] (paired bootstrap, 95%)"
            )
    notes.append(
        "Candidate models (co-visitation, EASE) are fitted on all users' training rows; a few "
        "of those happened after another user's cutoff (the usual leave-last-N caveat). "
        "Item statistics are strictly point-in-time."
    )
    results["notes"] = notes
    return results


def _list_metrics(lists: TrainingLists, scores: np.ndarray) -> dict[str, float]:
    """MRR and NDCG@10 of the (single) positive per list, ordered as the engine orders
    personal search results (``personal_search_order``)."""
    starts = np.concatenate([[0], np.cumsum(lists.groups)])
    query = [lists.feature_names.index(f) for f in QUERY_FEATURES]
    rr, ndcg = [], []
    for start, stop in zip(starts[:-1], starts[1:], strict=True):
        order = personal_search_order(lists.features[start:stop][:, query], scores[start:stop])
        rank = int(np.flatnonzero(lists.labels[start:stop][order] > 0)[0]) + 1
        rr.append(1.0 / rank)
        ndcg.append(1.0 / np.log2(rank + 1) if rank <= 10 else 0.0)
    return {"mrr": float(np.mean(rr)), "ndcg@10": float(np.mean(ndcg)), "lists": len(rr)}


def evaluate_search(
    inputs: EvalInputs, config: RecsysConfig, n_test: int = 10, min_history: int = 5
) -> dict[str, Any]:
    """Personal search on the same temporal split: queries derived from each user's held-out
    items (title fragments, genres, keywords); the search ranker is trained on the training
    part only; MRR of the consumed item, query-only order against the personal order.
    Only lists where retrieval found the item count (reranking cannot help the others)."""
    from recsys.ranking.search_training import search_lists
    from recsys.service import Engine

    engine = Engine.load(inputs.directory)
    positions = {item: i for i, item in enumerate(inputs.catalog["item_id"].to_list())}
    full = InteractionLog.from_frame(inputs.interactions, positions)
    stats = ItemStats.from_log(full, len(inputs.side))
    test = leave_last_n(full, n_test, min_history)
    inner = leave_last_n(test.history, config.split.holdout, config.split.min_history)
    searcher, training = engine.searcher, config.search_training
    train_lists, _ = search_lists(
        inner, inputs.side, stats, searcher, inputs.catalog, training, config.features
    )
    ranker, report = train_on_lists(train_lists, config.ranker, config.split.valid_share)
    test_lists, kinds = search_lists(
        test, inputs.side, stats, searcher, inputs.catalog, training, config.features
    )
    noop = NoOpRanker(test_lists.feature_names)
    out: dict[str, Any] = {}
    kind_of_list = np.array(kinds)
    for label, subset in [("all", None), *[(k, k) for k in sorted(set(kinds))]]:
        keep = np.arange(len(kinds)) if subset is None else np.flatnonzero(kind_of_list == subset)
        if not len(keep):
            continue
        part = TrainingLists(
            test_lists.features[test_lists.rows_of_lists(keep)],
            test_lists.labels[test_lists.rows_of_lists(keep)],
            test_lists.groups[keep],
            test_lists.users,
            test_lists.items,
            test_lists.as_of,
            test_lists.feature_names,
        )
        base = _list_metrics(part, noop.score(part.features))
        personal = _list_metrics(part, ranker.score(part.features))
        out[f"{label}: query only"] = base
        out[f"{label}: personal"] = personal
    out["queries"] = {
        "derived": test_lists.labels_total,
        "item_retrieved_in_top_50": len(kinds),
        "train_lists": int(len(train_lists.groups)),
        "best_iteration": report["best_iteration"],
    }
    return out


def run(
    artifacts: Path,
    data_dir: Path | None,
    config: RecsysConfig,
    out_dir: Path | None = None,
    n_test: int = 10,
    models: tuple[str, ...] | None = None,
    search: bool = True,
) -> tuple[dict[str, Any], dict[str, Path]]:
    inputs = load_inputs(artifacts, data_dir)
    results = evaluate(inputs, config, n_test=n_test, models=models)
    if search:
        results["search"] = evaluate_search(inputs, config, n_test=n_test)
    paths = write_report(results, out_dir or inputs.directory / "reports")
    return results, paths
