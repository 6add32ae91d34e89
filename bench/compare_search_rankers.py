"""The learned search ranker against reciprocal-rank fusion, query by query, with paired
bootstrap intervals (per kind and overall), on one split of the query set.

    python -m bench.compare_search_rankers --artifacts artifacts --split test

Both arms run on the same loaded engine, the same retrieval and the same relevance
threshold; only the order differs (``ranker=lightgbm`` vs ``ranker=noop``). Differences
are lightgbm - noop; an interval that excludes 0 is a difference the query set can see.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    DEFAULT_QUERIES,
    RESULTS_DIR,
    SPLITS,
    Query,
    artifact_info,
    load_queries,
    run_header,
    write_json,
)
from bench.search_quality import HEAD_K, HEAD_KIND, K, score_query
from recsys.core.types import SearchRequest
from recsys.evaluation.offline import paired_difference

ARMS = ("lightgbm", "noop")
COMPARED = ("recall@10", "mrr@10", "success@1")
NONSENSE = "nonsense"


def per_query(engine: Any, queries: list[Query], ranker: str) -> list[dict[str, float]]:
    rows = []
    for query in queries:
        result = engine.search(SearchRequest(query.query, k=K, ranker=ranker))
        ranked = [hit.item_id for hit in result.items]
        if query.kind == NONSENSE:
            rows.append({"empty": float(not ranked), "found": float(result.found)})
        else:
            rows.append(score_query(ranked, query.relevant, query.kind))
    return rows


def compare(queries: list[Query], rows: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """Means per arm and paired differences, per kind and over all judged queries."""
    judged = [i for i, q in enumerate(queries) if q.kind != NONSENSE]
    groups = {"all": judged}
    for kind in sorted({queries[i].kind for i in judged}):
        groups[kind] = [i for i in judged if queries[i].kind == kind]
    out: dict[str, Any] = {}
    for name, members in groups.items():
        metrics = list(COMPARED)
        if name == HEAD_KIND:
            metrics.append(f"success@{HEAD_K}")
        section: dict[str, Any] = {"n": len(members)}
        for metric in metrics:
            values = {arm: np.array([rows[arm][i][metric] for i in members]) for arm in ARMS}
            diff = paired_difference(values["lightgbm"], values["noop"])
            section[metric] = {
                **{arm: round(float(v.mean()), 4) for arm, v in values.items()},
                "diff": round(diff.mean, 4),
                "ci95": [round(diff.low, 4), round(diff.high, 4)],
            }
        out[name] = section
    nonsense = [i for i, q in enumerate(queries) if q.kind == NONSENSE]
    if nonsense:
        out[NONSENSE] = {
            "n": len(nonsense),
            "empty_rate": round(
                float(np.mean([rows["lightgbm"][i]["empty"] for i in nonsense])), 4
            ),
        }
    return out


def format_report(report: dict[str, Any]) -> str:
    lines = [f"{'kind':<28} {'n':>4}  metric       lightgbm   noop    diff   95% CI"]
    for kind, section in report.items():
        if kind == NONSENSE:
            lines.append(f"{kind:<28} {section['n']:>4}  empty_rate   {section['empty_rate']:.3f}")
            continue
        for metric, v in section.items():
            if metric == "n":
                continue
            lines.append(
                f"{kind:<28} {section['n']:>4}  {metric:<11} {v['lightgbm']:>7.3f} "
                f"{v['noop']:>7.3f} {v['diff']:>+7.3f}  [{v['ci95'][0]:+.3f}, {v['ci95'][1]:+.3f}]"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    parser.add_argument("--split", choices=SPLITS, default="test")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "compare_search_rankers.json")
    args = parser.parse_args(argv)

    from recsys.service import Engine  # late: --help must not pay for torch

    header = run_header()
    queries = load_queries(args.queries, args.split)
    engine = Engine.load(args.artifacts)
    if "lightgbm" not in engine.capabilities().search_rankers:
        raise SystemExit("this artifact has no learned search ranker; rebuild it")
    started = time.perf_counter()
    rows = {arm: per_query(engine, queries, arm) for arm in ARMS}
    report = compare(queries, rows)
    print(format_report(report))
    payload = {
        **header,
        "artifact": {"path": str(args.artifacts), **artifact_info(engine.manifest)},
        "queries": {"path": str(args.queries), "count": len(queries), "split": args.split},
        "eval_s": round(time.perf_counter() - started, 2),
        "comparison": report,
    }
    write_json(args.out, payload)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
