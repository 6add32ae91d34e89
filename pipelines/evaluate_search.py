"""Personal search on the same temporal split as ``recsys evaluate``: the search ranker
trained on the training part only, against the query-only order."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipelines.evaluate_models import EvalInputs
from recsys.history.interactions import InteractionLog, leave_last_n
from recsys.history.item_stats import ItemStats
from recsys.ranking.lists import TrainingLists, train_on_lists
from recsys.ranking.personal_search import personal_search_order
from recsys.ranking.rankers import NoOpRanker
from recsys.recommend.config import RecsysConfig
from recsys.search.query_features import QUERY_FEATURES


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
