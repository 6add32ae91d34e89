"""This checkout's query set and metrics, run over another checkout's engine: how "before"
numbers are measured for a change that also changed the engine's code.

    git worktree add /tmp/before <commit>        # and build its artifact with its code
    python bench/quality_of_checkout.py /tmp/before ARTIFACT OUT.json

The other checkout's ``recsys`` is imported (it must accept ``SearchRequest(query, k,
retrieval=..., ranker=...)``); queries, metrics and the report are this checkout's.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__)
        return 2
    checkout, artifact, out = Path(argv[0]), Path(argv[1]), Path(argv[2])
    sys.path[:0] = [str(HERE), str(checkout)]  # this bench, the other recsys
    for name in [m for m in sys.modules if m == "recsys" or m.startswith("recsys.")]:
        del sys.modules[name]
    from bench.common import DEFAULT_QUERIES, load_queries, run_header, write_json
    from bench.search_quality import evaluate, format_table
    from recsys.service import Engine

    engine = Engine.load(artifact)
    report = evaluate(engine, load_queries(DEFAULT_QUERIES), None, None)
    for split, section in report["splits"].items():
        print(f"split {split}:\n{format_table(section)}\n")
    write_json(out, {**run_header(), "artifact": str(artifact), "code": str(checkout), **report})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
