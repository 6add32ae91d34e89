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

from pathlib import Path
from typing import Any

from pipelines.evaluate_models import (
    CANDIDATE_MODELS,
    LIGHTGBM,
    EvalInputs,
    EvalSplit,
    Rankings,
    Timings,
    baseline_scorers,
    load_inputs,
    rank_baselines,
    rank_candidate_models,
    split_for_evaluation,
)
from pipelines.evaluate_search import evaluate_search
from pipelines.evaluation_report import write_report
from recsys.evaluation.offline import (
    catalog_coverage,
    paired_difference,
    per_user_metrics,
    summarize,
)
from recsys.ranking.rankers import PopularityRanker
from recsys.recommend.config import RecsysConfig

REFERENCE = PopularityRanker.name  # the model every other one is compared with


def evaluate(
    inputs: EvalInputs,
    config: RecsysConfig,
    n_test: int = 10,
    min_history: int = 5,
    models: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Run every model on one split and return the results dict (see write_report)."""
    split = split_for_evaluation(inputs, config, n_test, min_history)
    scorers = baseline_scorers(split, config)
    wanted = models or (*scorers, *CANDIDATE_MODELS)
    ranked, timing = rank_baselines(split, scorers, wanted)
    more, more_timing, train_report = rank_candidate_models(split, config, wanted)
    ranked.update(more)
    timing.update(more_timing)
    results = _results(split, ranked, timing, train_report, n_test, min_history)
    if config.split.liked_rating is not None:
        results["liked"] = _liked_results(split, ranked, config.split.liked_rating)
        results["notes"][-1:-1] = _liked_notes(results["liked"])
    return results


def _liked_results(split: EvalSplit, ranked: Rankings, rating: float) -> dict[str, Any]:
    """The same rankings scored on the held-out items the user rated ``rating`` or more
    (users with at least one): what a viewer would have enjoyed, not just watched."""
    mask, liked = split.liked(rating)
    per_user = {name: per_user_metrics(r[mask], liked) for name, r in ranked.items()}
    out: dict[str, Any] = {
        "liked_rating": rating,
        "users": int(mask.sum()),
        "test_interactions": int(sum(len(items) for items in liked)),
        "models": {
            n: {"metrics": {m: s.as_dict() for m, s in summarize(v).items()}}
            for n, v in per_user.items()
        },  # fmt: skip
    }
    if LIGHTGBM in per_user and "ease" in per_user:
        diff = paired_difference(per_user[LIGHTGBM]["ndcg@10"], per_user["ease"]["ndcg@10"])
        out["lightgbm_minus_ease_ndcg@10"] = diff.as_dict()
    return out


def _liked_notes(liked: dict[str, Any]) -> list[str]:
    models = liked["models"]
    if LIGHTGBM not in models or "ease" not in models:
        return []
    ratio = models[LIGHTGBM]["metrics"]["ndcg@10"]["mean"] / max(
        models["ease"]["metrics"]["ndcg@10"]["mean"], 1e-12
    )
    diff = liked["lightgbm_minus_ease_ndcg@10"]
    return [
        f"Liked items (rated >= {liked['liked_rating']:g}, {liked['users']} users): "
        f"{LIGHTGBM} / ease NDCG@10 = {ratio:.2f}x, difference {diff['mean']:+.4f} "
        f"[{diff['low']:+.4f}, {diff['high']:+.4f}]"
    ]


def _results(
    split: EvalSplit,
    ranked: Rankings,
    timing: Timings,
    train_report: dict[str, Any],
    n_test: int,
    min_history: int,
) -> dict[str, Any]:
    users, train, n_items = split.users, split.train, len(split.side)
    relevant = split.relevant
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
    results["notes"] = _notes(per_user)
    return results


def _notes(per_user: dict[str, dict[str, Any]]) -> list[str]:
    notes = []
    for other in ("ease", "item_knn", "als"):
        if LIGHTGBM in per_user and other in per_user:
            diff = paired_difference(per_user[LIGHTGBM]["ndcg@10"], per_user[other]["ndcg@10"])
            notes.append(
                f"{LIGHTGBM} - {other}, NDCG@10: {diff.mean:+.4f} "
                f"[{diff.low:+.4f}, {diff.high:+.4f}] (paired bootstrap, 95%)"
            )
    notes.append(
        "Candidate models (co-visitation, EASE) are fitted on all users' training rows; a few "
        "of those happened after another user's cutoff (the usual leave-last-N caveat). "
        "Item statistics are strictly point-in-time."
    )
    return notes


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
