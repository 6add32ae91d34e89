"""Backtesting: build on the past, judge on the future.

    recsys truncate-data --data data --before 2017-01-01 --out /tmp/data-2016
    recsys build --data /tmp/data-2016 --out /tmp/artifacts-2016
    recsys serve --artifacts /tmp/artifacts-2016          # optional: try it by hand
    recsys backtest --artifacts /tmp/artifacts-2016 --future data

``backtest`` loads the artifact exactly as the service does, and for every user it knows who
consumed something after its snapshot time, ranks with each of its rankers (history
excluded, as served) and scores the list against what the user consumed later.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pipelines.evaluation_report import write_report
from pipelines.holdout import staged_copy
from recsys.catalog.items import ItemTable
from recsys.core.artifacts import Manifest, load_manifest
from recsys.core.progress import track
from recsys.evaluation.offline import (
    catalog_coverage,
    paired_difference,
    per_user_metrics,
    summarize,
)
from recsys.history.interactions import InteractionLog, read_movielens_interactions
from recsys.ranking.features import UserState
from recsys.ranking.rankers import PopularityRanker
from recsys.recommend.personalization import load_personalized
from recsys.recommend.recommender import Recommender, rank_for_user

K_MAX = 100
EVENT_FILES = ("ratings.csv", "tags.csv")


def parse_date(value: str) -> int:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--before must be a date like 2017-01-01, not {value!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def truncate_data_dir(data: Path, out: Path, before: str) -> dict[str, tuple[int, int]]:
    """Copy ``data`` to ``out`` with MovieLens events at or after ``before`` removed."""
    cutoff = parse_date(before)
    counts: dict[str, tuple[int, int]] = {}
    with staged_copy(data, out) as tmp:
        for name in EVENT_FILES:
            path = tmp / "movielens" / name
            if not path.is_file():
                continue
            frame = pl.read_csv(path, infer_schema=False)
            ts = frame["timestamp"].str.strip_chars().cast(pl.Int64, strict=False)
            kept = frame.filter(ts.is_not_null() & (ts < cutoff))
            kept.write_csv(path)
            counts[name] = (kept.height, frame.height)
    return counts


def run_backtest(
    artifacts: Path, future: Path, out: Path | None = None
) -> tuple[dict[str, Any], dict[str, Path]]:
    directory, manifest = load_manifest(artifacts)
    catalog = pl.read_parquet(directory / "catalog.parquet")
    items = ItemTable(catalog)
    recommender = _recommender(directory, manifest, items)
    states, relevant, new_users = _later_consumption(recommender, future, catalog, items)
    ranked = _rank_every_ranker(recommender, states, len(items))
    per_user = {name: per_user_metrics(r, relevant) for name, r in ranked.items()}
    snapshot = datetime.fromtimestamp(recommender.as_of, UTC).isoformat(timespec="seconds")
    results: dict[str, Any] = {
        "split": {
            "kind": "backtest: artifact snapshot vs later events",
            "artifact": directory.name,
            "snapshot": snapshot,
            "users": len(states),
            "later_users_unknown_to_the_artifact": new_users,
            "test_interactions": int(sum(len(r) for r in relevant)),
            "catalog_items": len(items),
        },
        "models": {},
        "reference": PopularityRanker.name,
    }
    for name, metrics in per_user.items():
        entry: dict[str, Any] = {
            "metrics": {m: s.as_dict() for m, s in summarize(metrics).items()},
            "coverage@10": catalog_coverage(ranked[name], len(items), 10),
        }
        if name != PopularityRanker.name:
            entry["vs_reference"] = {
                m: paired_difference(metrics[m], per_user[PopularityRanker.name][m]).as_dict()
                for m in ("ndcg@10", "recall@10", "mrr")
            }
        results["models"][name] = entry
    paths = write_report(results, out or directory / "reports" / "backtest")
    return results, paths


def _recommender(directory: Path, manifest: Manifest, items: ItemTable) -> Recommender:
    documents = pl.read_parquet(directory / "documents.parquet")
    doc_items = items.positions(documents["item_id"].to_list())
    vectors = np.load(directory / "vectors.npy").astype(np.float32)
    recommender, _, _ = load_personalized(
        directory,
        manifest.personalization,
        items,
        doc_items,
        documents["kind"].to_numpy(),
        vectors,
    )
    return recommender


def _later_consumption(
    recommender: Recommender, future: Path, catalog: pl.DataFrame, items: ItemTable
) -> tuple[list[UserState], list[np.ndarray], int]:
    """The artifact's users who consumed new items after its snapshot: their states as of
    the snapshot, what they consumed later, and how many later users the artifact lacks."""
    events, _ = read_movielens_interactions(future, catalog)
    later = InteractionLog.from_frame(
        events.filter(pl.col("ts") >= recommender.as_of),
        items.position_of,
    )
    known = recommender.log.user_index()
    states, relevant, new_users = [], [], 0
    for u, user_id in enumerate(later.users):
        state = recommender.state(user_id)
        if user_id not in known or state is None:
            new_users += 1
            continue
        wanted = np.setdiff1d(later.items[later.ptr[u] : later.ptr[u + 1]], state.items)
        if len(wanted):
            states.append(state)
            relevant.append(wanted)
    if not states:
        raise ValueError(
            f"no user of the artifact consumed anything in {future} after its snapshot"
        )
    return states, relevant, new_users


def _rank_every_ranker(
    recommender: Recommender, states: list[UserState], n_items: int
) -> dict[str, np.ndarray]:
    ranked: dict[str, np.ndarray] = {}
    for name, ranker in recommender.rankers.items():
        rows = []
        for state in track(states, f"backtest {name}", unit="users"):
            blocked = np.zeros(n_items, dtype=bool)
            blocked[state.items] = True
            top = rank_for_user(
                state, recommender.models, recommender.config.candidates, ranker, blocked
            ).items[:K_MAX]
            rows.append(np.pad(top, (0, K_MAX - len(top)), constant_values=-1))
        ranked[name] = np.vstack(rows)
    return ranked
