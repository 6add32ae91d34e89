"""Grid search over the retrieval knobs, on the dev split only.

    python -m bench.tune_search --artifacts DIR --grid rrf_k=20,60 --grid dense_weight=1,2 \
        [--queries FILE] [--out bench/results/tune_search.json] [--top 10]

Loads the engine once and runs every dev query through ``HybridSearcher.retrieve`` (what
anonymous ``Engine.search`` returns) under each combination of the given ``SearchOptions``
fields. Prints the combinations best first by recall@10 over all dev queries, with the
per-kind recall@10, and writes them all as JSON. The test split is never read: choose on
dev, then report the chosen setting with ``bench.search_quality``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
from pathlib import Path
from typing import Any

from bench.common import (
    DEFAULT_QUERIES,
    RESULTS_DIR,
    artifact_info,
    load_queries,
    run_header,
    write_json,
)
from bench.search_quality import K, summarize
from recsys.search.options import SearchOptions

TUNABLE = {
    field.name: field.type
    for field in dataclasses.fields(SearchOptions)
    if field.type in ("int", "float", int, float)
}


def parse_grid(specs: list[str]) -> dict[str, list[float | int]]:
    """``["rrf_k=20,60", ...]`` -> ``{"rrf_k": [20.0, 60.0]}``, typed by the options field."""
    grid: dict[str, list[float | int]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        if not sep or name not in TUNABLE:
            raise SystemExit(
                f"--grid {spec!r}: expected FIELD=V1,V2,... with FIELD one of {', '.join(TUNABLE)}"
            )
        cast = int if TUNABLE[name] in ("int", int) else float
        try:
            grid[name] = [cast(value) for value in values.split(",")]
        except ValueError as exc:
            raise SystemExit(f"--grid {spec!r}: {exc}") from exc
    return grid


def run_grid(engine: Any, queries: list, grid: dict[str, list[float | int]]) -> list[dict]:
    """Metrics of every combination, best first by overall recall@10 then MRR@10."""
    searcher = engine.searcher
    ids = engine.items.ids
    vectors = {q.query: searcher.encode_query(q.query) for q in queries}
    languages = {q.query: searcher.languages.detect(q.query) for q in queries}
    rows = []
    for combo in itertools.product(*grid.values()):
        changes = dict(zip(grid, combo, strict=True))
        options = dataclasses.replace(searcher.options, **changes)
        ranked_lists = []
        for q in queries:
            items, _ = searcher.retrieve(
                q.query, K, None, vectors[q.query], languages[q.query], options
            )
            ranked_lists.append([ids[i] for i in items.tolist()])
        report = summarize(queries, ranked_lists)
        rows.append({"options": changes, **report})
    rows.sort(key=lambda r: (-r["overall"]["recall@10"], -r["overall"]["mrr@10"]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    parser.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "tune_search.json")
    parser.add_argument("--top", type=int, default=10, help="combinations printed")
    args = parser.parse_args(argv)
    grid = parse_grid(args.grid)

    from recsys.service import Engine  # late: --help must not pay for torch

    header = run_header()
    queries = load_queries(args.queries, "dev")
    engine = Engine.load(args.artifacts)
    started = time.perf_counter()
    rows = run_grid(engine, queries, grid)
    kinds = list(rows[0]["per_kind"])
    print("recall@10 on dev; " + ", ".join(f"{i}={kind}" for i, kind in enumerate(kinds)))
    for row in rows[: args.top]:
        per_kind = " ".join(f"{row['per_kind'][k]['recall@10']:.3f}" for k in kinds)
        total = f"{row['overall']['recall@10']:.4f} mrr {row['overall']['mrr@10']:.4f}"
        print(f"{total} | {per_kind} | {row['options']}")
    write_json(
        args.out,
        {
            **header,
            "artifact": {"path": str(args.artifacts), **artifact_info(engine.manifest)},
            "queries": {"path": str(args.queries), "split": "dev", "count": len(queries)},
            "defaults": dataclasses.asdict(engine.searcher.options),
            "grid": grid,
            "eval_s": round(time.perf_counter() - started, 1),
            "results": rows,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
