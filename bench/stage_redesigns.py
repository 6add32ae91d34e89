"""Before and after, side by side in one process, for the popular and trending candidates
per training user: counting every item at the user's as-of time (``top_n`` over
``ItemStats.all_counts``, what the code did before) against ``PopularityLists`` (day anchors
swept once, exact rescoring of what moved since). Both must return the same answers
(checked on every call here, and in the tests).

(A letter-pair shortlist for the title matcher was measured here too, at commit 35163a7
and before: it was slower than the scan on the synthetic titles, 32.7 against 28.3 ms per
query at 1M items, and was taken out; ``results/stage_redesigns_{100k,1m}.json``.)

    python -m bench.stage_redesigns --artifacts /tmp/scale/artifacts-100000-50000-5000000-0 \\
        [--users 500] [--out bench/results/stage_redesigns_100k.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench.common import RESULTS_DIR, run_header, write_json
from recsys.core.artifacts import resolve_artifact_dir
from recsys.history.interactions import InteractionLog, leave_last_n
from recsys.history.item_stats import ItemStats
from recsys.history.popularity import SCORES, PopularityLists
from recsys.recommend.candidates import top_n


def popularity(version: Path, n_users: int) -> dict[str, Any]:
    catalog = pl.read_parquet(version / "catalog.parquet", columns=["item_id"])
    positions = {item: i for i, item in enumerate(catalog["item_id"].to_list())}
    log = InteractionLog.from_frame(pl.read_parquet(version / "interactions.parquet"), positions)
    stats = ItemStats.from_log(log, len(positions))
    split = leave_last_n(log, 10, 5).sample(n_users, seed=0)
    users = split.evaluated_users()
    lists = PopularityLists(stats)
    started = time.perf_counter()
    lists.prefetch(split.cutoffs[users], 3)
    prefetch_s = time.perf_counter() - started
    naive_s = fast_s = 0.0
    for u in users.tolist():
        as_of = int(split.cutoffs[u])
        blocked = np.zeros(len(positions), dtype=bool)
        blocked[split.history.items[split.history.ptr[u] : split.history.ptr[u + 1]]] = True
        for kind, n in (("popular", 50), ("trending", 30)):
            started = time.perf_counter()
            score = SCORES[kind](stats.all_counts(as_of, 30), stats.all_counts(as_of, 365), 3)
            want = top_n(score, n, blocked)
            naive_s += time.perf_counter() - started
            started = time.perf_counter()
            got = lists.top(kind, as_of, n, blocked, 3)
            fast_s += time.perf_counter() - started
            assert got[0].tolist() == want[0].tolist(), (u, kind)
    return {
        "items": len(positions),
        "consumptions": len(log),
        "users": len(users),
        "anchors": len(lists._anchors) // len(SCORES),
        "prefetch_s": round(prefetch_s, 2),
        "before_ms_per_user": round(naive_s / len(users) * 1000, 3),
        "after_ms_per_user": round(fast_s / len(users) * 1000, 3),
        "speedup": round(naive_s / fast_s, 1),
        "same_answers": True,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "stage_redesigns.json")
    args = parser.parse_args(argv)
    version = resolve_artifact_dir(args.artifacts)
    payload = {
        **run_header(),
        "artifact": str(version),
        "popularity_candidates": popularity(version, args.users),
    }
    print(payload["popularity_candidates"])
    write_json(args.out, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
