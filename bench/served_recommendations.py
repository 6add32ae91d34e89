"""Recommendation quality as the service answers it, over HTTP, against offline baselines.

    recsys holdout-data --data data --n 5 --out /tmp/h5/data
    recsys build --data /tmp/h5/data --out /tmp/h5/artifacts
    python -m bench.served_recommendations --artifacts /tmp/h5/artifacts \\
        --holdout /tmp/h5/data/holdout.csv [--out FILE]

Each user's held-out ratings (the last N, never seen by the build) are the targets: "liked"
is rating >= 4, "consumed" any held-out rating. NDCG@10 (binary gains) per user, averaged
over users with at least one target, 95% bootstrap intervals over users:

* **served by default**: ``GET /v1/recommendations?user_id=U&k=10`` on a server with the
  shipped experiments (what ``make serve`` answers), each user in their assigned arm, and
  per arm;
* **per ranker**: the same, with every ranker forced (``?variant=``) through an experiments
  file that gives each ranker an arm;
* **offline baselines**: popularity (training counts), item-kNN and EASE over the full
  catalog, fitted on the artifact's own interactions with its CF settings, each user's
  history excluded (as ``recsys evaluate`` does).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl

from bench.common import RESULTS_DIR, artifact_info, run_header, write_json
from bench.search_latency import running_server
from recsys.evaluation.metrics import ndcg_at_k
from recsys.evaluation.offline import paired_difference, summarize

K = 10
RANKERS = ("lightgbm", "ease", "popularity", "noop")
FORCED_TOML = "\n".join(
    [
        '[[experiments]]\nkey = "bench-rankers"\nsalt = "x"\nstatus = "running"\ntraffic = 1.0',
        'surfaces = ["recommendations"]',
        *(f'[[experiments.variants]]\nname = "{r}"\nweight = 1\nranker = "{r}"' for r in RANKERS),
    ]
)


def ndcg(ranked: list[str], targets: set[str]) -> float:
    return ndcg_at_k(ranked, targets, K)


def summary(values: list[float]) -> dict[str, Any]:
    result = summarize({"ndcg": np.asarray(values)})["ndcg"]
    return {"users": len(values), "ndcg@10": round(result.mean, 4),
            "ci95": [round(result.low, 4), round(result.high, 4)]}  # fmt: skip


def targets_of(holdout: Path) -> dict[str, dict[str, set[str]]]:
    frame = pl.read_csv(holdout, schema_overrides={"userId": pl.Utf8, "movieId": pl.Utf8})
    out: dict[str, dict[str, set[str]]] = {}
    for user, item, rating in frame.select("userId", "movieId", "rating").iter_rows():
        sets = out.setdefault(user, {"liked": set(), "consumed": set()})
        sets["consumed"].add(item)
        if rating >= 4:
            sets["liked"].add(item)
    return out


def score(lists: dict[str, list[str]], targets: dict[str, dict[str, set[str]]]) -> dict[str, Any]:
    return {
        target: summary([ndcg(lists[u], t[target]) for u, t in targets.items() if t[target]])
        for target in ("liked", "consumed")
    }


def paired(
    lists: dict[str, list[str]], other: dict[str, list[str]], targets: dict[str, Any]
) -> dict[str, Any]:
    """Mean per-user NDCG@10 difference with a paired bootstrap 95% interval, per target."""
    out = {}
    for target in ("liked", "consumed"):
        users = [u for u, t in targets.items() if t[target]]
        mine = np.array([ndcg(lists[u], targets[u][target]) for u in users])
        theirs = np.array([ndcg(other[u], targets[u][target]) for u in users])
        diff = paired_difference(mine, theirs)
        out[target] = {"mean": round(diff.mean, 4),
                       "ci95": [round(diff.low, 4), round(diff.high, 4)]}  # fmt: skip
    return out


def served(client: httpx.Client, users: list[str], variant: str | None) -> tuple[dict, dict]:
    lists, arms = {}, {}
    for user in users:
        params: dict[str, Any] = {"user_id": user, "k": K}
        if variant:
            params["variant"] = variant
        body = client.get("/v1/recommendations", params=params).raise_for_status().json()
        lists[user] = [item["item_id"] for item in body["items"]]
        arms[user] = body.get("variant") or body["ranker"]
    return lists, arms


def offline_baselines(directory: Path, users: list[str]) -> dict[str, dict[str, list[str]]]:
    from recsys.core.artifacts import load_manifest
    from recsys.history.interactions import InteractionLog
    from recsys.recommend.candidates import top_n
    from recsys.recommend.cf.ease import fit_ease
    from recsys.recommend.cf.neighbors import fit_item_knn
    from recsys.recommend.cf.sparse import interaction_matrix
    from recsys.recommend.config import RecsysConfig

    _, manifest = load_manifest(directory, verify_checksums=False)
    config = RecsysConfig.from_dict(manifest.personalization["config"])
    ids = pl.read_parquet(directory / "catalog.parquet", columns=["item_id"])["item_id"].to_list()
    log = InteractionLog.from_frame(
        pl.read_parquet(directory / "interactions.parquet"), {item: i for i, item in enumerate(ids)}
    )
    matrix = interaction_matrix(log.user_of_rows(), log.items, log.n_users, len(ids))
    counts = np.bincount(log.items, minlength=len(ids)).astype(np.float64)
    cf = config.cf
    ease = fit_ease(matrix, cf.ease_l2, cf.ease_min_count, max_items=cf.ease_max_items)
    knn = fit_item_knn(matrix)
    index = log.user_index()
    out: dict[str, dict[str, list[str]]] = {"popularity": {}, "item_knn": {}, "ease": {}}
    for user in users:
        history = log.items[log.ptr[index[user]] : log.ptr[index[user] + 1]]
        blocked = np.zeros(len(ids), dtype=bool)
        blocked[history] = True
        for name, scores in (
            ("popularity", counts),
            ("item_knn", knn.scores(history)),
            ("ease", ease.scores(history)),
        ):
            scores = np.asarray(scores, dtype=np.float64)
            top, _ = top_n(scores - np.nanmin(scores) + 1.0, K, blocked)
            out[name][user] = [ids[i] for i in top.tolist()]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--holdout", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "served_recommendations.json")
    args = parser.parse_args(argv)

    from recsys.core.artifacts import load_manifest

    directory, manifest = load_manifest(args.artifacts, verify_checksums=False)
    targets = targets_of(args.holdout)
    users = sorted(targets)
    payload: dict[str, Any] = {**run_header(), "artifact": artifact_info(manifest.to_dict())}
    payload["holdout"] = {"path": str(args.holdout), "users": len(users)}
    baselines = offline_baselines(directory, users)
    payload["offline"] = {name: score(lists, targets) for name, lists in baselines.items()}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RECSYS_EVENTS_DB"] = str(Path(tmp) / "events.sqlite3")
        os.environ.pop("RECSYS_EXPERIMENTS_PATH", None)  # the shipped experiments
        with running_server(args.artifacts, 0) as (client, _):
            lists, arms = served(client, users, None)
        payload["served_default"] = {"all": score(lists, targets)}
        for arm in sorted(set(arms.values())):
            mine = {u: t for u, t in targets.items() if arms[u] == arm}
            payload["served_default"][arm] = score({u: lists[u] for u in mine}, mine)
        forced = Path(tmp) / "rankers.toml"
        forced.write_text(FORCED_TOML + "\n", encoding="utf-8")
        os.environ["RECSYS_EXPERIMENTS_PATH"] = str(forced)
        os.environ["RECSYS_EVENTS_DB"] = str(Path(tmp) / "events-forced.sqlite3")
        with running_server(args.artifacts, 0) as (client, _):
            per_ranker = {ranker: served(client, users, ranker)[0] for ranker in RANKERS}
        payload["served_per_ranker"] = {r: score(lists, targets) for r, lists in per_ranker.items()}
        payload["lightgbm_minus_ease"] = paired(per_ranker["lightgbm"], baselines["ease"], targets)
    ease = payload["offline"]["ease"]["liked"]["ndcg@10"]
    print(f"liked NDCG@10 (x EASE {ease}):")
    for section in ("offline", "served_per_ranker", "served_default"):
        for name, result in payload[section].items():
            value, ci = result["liked"]["ndcg@10"], result["liked"]["ci95"]
            print(f"  {section:18s} {name:12s} {value:.4f}  {value / ease:.2f}x  {ci}")
    print(f"served lightgbm - offline EASE: {payload['lightgbm_minus_ease']}")
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
