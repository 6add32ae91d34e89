"""Simulated search sessions, judged offline: does learning from logged clicks help?

    python -m bench.search_sessions --holdout /tmp/sim/data/holdout.csv --skip-users 400 \\
        --artifacts /tmp/sim/no-clicks /tmp/sim/clicks /tmp/sim/clicks-naive

The sessions are those of ``recsys simulate --surface search`` (``pipelines.simulate_search``:
a held-out user types a query for one of their held-out items), generated here for users the
simulation that logged the clicks did NOT drive (``--skip-users`` = its ``--users``), with a
seed of their own. Each artifact is loaded in process and searched as that user with its
learned ranker (the RRF ``noop`` order of the first artifact is reported too). Per session:
the target's reciprocal rank in the top 10, whether it is there, and NDCG@10 with the
target at grade 2 and the user's other held-out items at grade 1. Differences are against
the first artifact, with paired bootstrap 95% intervals over sessions.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import RESULTS_DIR, artifact_info, run_header, write_json
from pipelines.simulate import read_holdout
from pipelines.simulate_search import page_truth, session_query
from recsys.core.errors import NotFoundError
from recsys.core.types import SearchRequest
from recsys.evaluation.offline import paired_difference

K = 10
METRICS = ("target_mrr@10", "target_success@10", "ndcg@10")


class EngineRows:
    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def get(self, item_id: str) -> dict[str, Any] | None:
        try:
            return dict(self.engine.item(item_id))
        except NotFoundError:  # an item the artifact lacks (merged away): no session
            return None


def sessions_for(
    engine: Any, truth: dict[str, dict[str, float]], users: list[str], n: int, seed: int
) -> list[tuple[str, str, str, str]]:
    """(user, target, kind, query) of every session (the first artifact's metadata)."""
    rows = EngineRows(engine)
    out = []
    for session in range(n):
        for user in users:
            asked = session_query(user, session, truth[user], rows, seed)
            if asked is not None:
                out.append((user, *asked))
    return out


def judge(ranked: list[str], target: str, grades: dict[str, float]) -> dict[str, float]:
    gains = [2.0 if item == target else (1.0 if item in grades else 0.0) for item in ranked[:K]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal_gains = sorted([2.0] + [1.0] * min(len(grades) - 1, K - 1), reverse=True)
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(ideal_gains))
    rank = ranked[:K].index(target) + 1 if target in ranked[:K] else 0
    return {
        "target_mrr@10": 1.0 / rank if rank else 0.0,
        "target_success@10": float(rank > 0),
        "ndcg@10": dcg / ideal,
    }


def run_arm(
    engine: Any,
    sessions: list[tuple[str, str, str, str]],
    truth: dict[str, dict[str, float]],
    ranker: str,
) -> dict[str, np.ndarray]:
    scores: dict[str, list[float]] = {m: [] for m in METRICS}
    for user, target, _, query in sessions:
        result = engine.search(SearchRequest(query, k=K, user_id=user, ranker=ranker))
        judged = judge(
            [hit.item_id for hit in result.items], target, page_truth(target, truth[user])
        )
        for metric in METRICS:
            scores[metric].append(judged[metric])
    return {m: np.array(v) for m, v in scores.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, nargs="+", required=True)
    parser.add_argument("--holdout", type=Path, required=True)
    parser.add_argument("--skip-users", type=int, default=0, help="users the logging run drove")
    parser.add_argument("--users", type=int, default=None, help="at most this many after them")
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "search_sessions.json")
    args = parser.parse_args(argv)

    from recsys.service import Engine  # late: --help must not pay for torch

    header = run_header()
    truth = read_holdout(args.holdout)
    ordered = sorted(truth, key=lambda u: (len(u), u))  # the simulator's order
    users = ordered[args.skip_users :][: args.users]
    engines = [Engine.load(path) for path in args.artifacts]
    sessions = sessions_for(engines[0], truth, users, args.sessions, args.seed)
    started = time.perf_counter()
    arms = {"noop (first artifact)": run_arm(engines[0], sessions, truth, "noop")}
    for path, engine in zip(args.artifacts, engines, strict=True):
        arms[str(path)] = run_arm(engine, sessions, truth, "lightgbm")
    base = str(args.artifacts[0])
    report: dict[str, Any] = {}
    for name, scores in arms.items():
        report[name] = {m: round(float(v.mean()), 4) for m, v in scores.items()}
        if name != base:
            for metric in METRICS:
                diff = paired_difference(scores[metric], arms[base][metric])
                report[name][f"{metric} diff"] = round(diff.mean, 4)
                report[name][f"{metric} ci95"] = [round(diff.low, 4), round(diff.high, 4)]
    for name, row in report.items():
        print(name)
        for metric in METRICS:
            extra = ""
            if f"{metric} diff" in row:
                low, high = row[f"{metric} ci95"]
                extra = f"  diff {row[f'{metric} diff']:+.4f} [{low:+.4f}, {high:+.4f}]"
            print(f"  {metric:<18} {row[metric]:.4f}{extra}")
    payload = {
        **header,
        "artifacts": [
            {"path": str(p), **artifact_info(e.manifest)}
            for p, e in zip(args.artifacts, engines, strict=True)
        ],
        "holdout": str(args.holdout),
        "users": len(users),
        "skipped_users": args.skip_users,
        "sessions": len(sessions),
        "seed": args.seed,
        "eval_s": round(time.perf_counter() - started, 2),
        "baseline": base,
        "report": report,
    }
    write_json(args.out, payload)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
