"""``Engine.suggest`` latency in process: every prefix a person types on the way to each
query of the set (1, 2, 3... characters), after a warm-up.

    python -m bench.suggest_latency --artifacts DIR [--out FILE]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.common import (
    DEFAULT_QUERIES,
    RESULTS_DIR,
    artifact_info,
    load_queries,
    percentile,
    run_header,
    write_json,
)
from recsys.core.types import SuggestRequest


def prefixes(queries: list[str], max_chars: int = 12) -> list[str]:
    return [q[:n] for q in queries for n in range(1, min(len(q), max_chars) + 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "suggest_latency.json")
    args = parser.parse_args(argv)

    from recsys.service import Engine  # late: --help must not pay for torch

    engine = Engine.load(args.artifacts)
    typed = prefixes([q.query for q in load_queries(args.queries)])
    for prefix in typed[:200]:
        engine.suggest(SuggestRequest(prefix))
    times, empty = [], 0
    for prefix in typed:
        start = time.perf_counter()
        result = engine.suggest(SuggestRequest(prefix))
        times.append((time.perf_counter() - start) * 1000)
        empty += not result.suggestions
    summary = {
        "calls": len(times),
        "p50_ms": round(percentile(times, 50), 3),
        "p99_ms": round(percentile(times, 99), 3),
        "max_ms": round(max(times), 3),
        "empty": empty,
    }
    print(summary)
    write_json(
        args.out,
        {**run_header(), "artifact": artifact_info(engine.manifest), "suggest": summary},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
