"""Before and after, side by side in one process, for two stages redesigned for scale:

* popular and trending candidates per training user: counting every item at the user's
  as-of time (``top_n`` over ``ItemStats.all_counts``, what the code did before) against
  ``PopularityLists`` (day anchors swept once, exact rescoring of what moved since);
* typo matching in the title matcher: scanning every title within the length window (before)
  against the letter-pair shortlist.

Both pairs must return the same answers (checked on every call here, and in the tests).

    python -m bench.stage_redesigns --artifacts /tmp/scale/artifacts-100000-50000-5000000-0 \\
        [--users 500] [--queries 300] [--out bench/results/stage_redesigns_100k.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process

from bench.common import RESULTS_DIR, run_header, write_json
from recsys.core.artifacts import resolve_artifact_dir
from recsys.core.text import normalize_title
from recsys.history.interactions import InteractionLog, leave_last_n
from recsys.history.item_stats import ItemStats
from recsys.history.popularity import SCORES, PopularityLists
from recsys.recommend.candidates import top_n
from recsys.search import title_match as tm


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


def typo_query(title: str, rng: np.random.Generator) -> str:
    if len(title) < 3:
        return title
    i = int(rng.integers(0, len(title) - 1))
    return title[:i] + title[i + 1] + title[i] + title[i + 2 :]  # a transposition


def title_matcher(version: Path, n_queries: int) -> dict[str, Any]:
    catalog = pl.read_parquet(version / "catalog.parquet", columns=["title"])
    rng = np.random.default_rng(0)
    rows = rng.choice(catalog.height, n_queries, replace=False)
    titles = [catalog["title"][int(i)] for i in rows]
    keys = {normalize_title(t) for t in catalog["title"].to_list()}
    started = time.perf_counter()
    lexicon = tm.TitleLexicon({k: [0] for k in keys if k})
    build_s = time.perf_counter() - started
    naive_s = fast_s = 0.0
    for query in (typo_query(normalize_title(t), rng) for t in titles):
        if len(query) < tm.MIN_FUZZY_CHARS:
            continue
        started = time.perf_counter()
        lo = int(np.searchsorted(lexicon._lengths, np.ceil(tm.FUZZY_CUTOFF * len(query))))
        hi = int(np.searchsorted(lexicon._lengths, len(query) // tm.FUZZY_CUTOFF, "right"))
        before = process.extract(
            query, lexicon._keys[lo:hi], scorer=fuzz.ratio,
            score_cutoff=tm.SHORTLIST_CUTOFF, limit=tm.SHORTLIST_LIMIT,
        )  # fmt: skip
        naive_s += time.perf_counter() - started
        started = time.perf_counter()
        after = process.extract(
            query, lexicon._typo_candidates(query), scorer=fuzz.ratio,
            score_cutoff=tm.SHORTLIST_CUTOFF, limit=tm.SHORTLIST_LIMIT,
        )  # fmt: skip
        fast_s += time.perf_counter() - started
        accepted = {t for t, _, _ in before if tm.DamerauLevenshtein.normalized_similarity(
            query, t) >= tm.FUZZY_CUTOFF}  # fmt: skip
        assert accepted <= {t for t, _, _ in after}, query
    return {
        "keys": len(lexicon),
        "queries": n_queries,
        "index_build_s": round(build_s, 2),
        "before_ms_per_query": round(naive_s / n_queries * 1000, 3),
        "after_ms_per_query": round(fast_s / n_queries * 1000, 3),
        "speedup": round(naive_s / fast_s, 1),
        "every_typo_match_kept": True,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "stage_redesigns.json")
    args = parser.parse_args(argv)
    version = resolve_artifact_dir(args.artifacts)
    payload = {
        **run_header(),
        "artifact": str(version),
        "popularity_candidates": popularity(version, args.users),
        "title_typo_matching": title_matcher(version, args.queries),
    }
    print(payload["popularity_candidates"], payload["title_typo_matching"], sep="\n")
    write_json(args.out, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
