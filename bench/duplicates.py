"""Cross-source duplicate merging, measured on a hand-checked sample of pairs.

    python -m bench.duplicates                       # the catalog built from data/ now
    python -m bench.duplicates --catalog OLD.parquet # an older artifact's catalog (before)

``bench/catalog/duplicate_pairs.jsonl`` holds 111 (Netflix title, catalog item) pairs, each
judged "same" or "different" work by reading both titles, years, runtimes, directors and
descriptions: every pair that shares a title or main-title key with release years at most
one apart and was not merged by the exact-title rule before the near-duplicate matcher
(``recsys/catalog/ingest/dedupe.py``) existed (36), and a seeded random sample of 75
exact-title merges. Precision: merged pairs judged the same work / merged judged pairs.
Recall: judged same-work pairs that are merged / judged same-work pairs; it covers
duplicates that share a title key, not works whose titles share nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import polars as pl

from bench.common import RESULTS_DIR, run_header, write_json

PAIRS = Path(__file__).parent / "catalog" / "duplicate_pairs.jsonl"
DATA = Path(__file__).parents[1] / "data"


def load_pairs(path: Path) -> list[dict[str, Any]]:
    pairs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for pair in pairs:
        if pair.get("label") not in ("same", "different"):
            raise ValueError(f"{path}: pair {pair.get('netflix_id')} has no same/different label")
    return pairs


def merged_pairs(catalog: pl.DataFrame) -> set[tuple[str, str]]:
    """(netflix_id, item_id) of the catalog items that hold a Netflix title and another
    source's item."""
    both = catalog.filter(
        pl.col("netflix_id").is_not_null() & (pl.col("item_id") != pl.col("netflix_id"))
    )
    return {(n, i) for n, i in both.select("netflix_id", "item_id").iter_rows()}


def score(pairs: list[dict[str, Any]], merged: set[tuple[str, str]]) -> dict[str, Any]:
    judged_merged = [p for p in pairs if (p["netflix_id"], p["item_id"]) in merged]
    same = [p for p in pairs if p["label"] == "same"]
    true_merged = [p for p in judged_merged if p["label"] == "same"]
    missed = [p for p in same if (p["netflix_id"], p["item_id"]) not in merged]
    wrong = [p for p in judged_merged if p["label"] == "different"]
    return {
        "pairs": len(pairs),
        "judged_same": len(same),
        "merged": len(judged_merged),
        "precision": round(len(true_merged) / len(judged_merged), 4) if judged_merged else None,
        "recall": round(len(true_merged) / len(same), 4) if same else None,
        "wrongly_merged": [f"{p['netflix']} ~ {p['catalog']}" for p in wrong],
        "missed": [f"{p['netflix']} ~ {p['catalog']} ({p['note']})" for p in missed],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--catalog", type=Path, default=None, help="a catalog.parquet to score")
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "duplicates.json")
    args = parser.parse_args(argv)
    if args.catalog is not None:
        catalog = pl.read_parquet(args.catalog)
    else:
        from recsys.catalog.ingest import build_catalog

        catalog, _ = build_catalog(args.data)
    report = score(load_pairs(args.pairs), merged_pairs(catalog))
    print(json.dumps(report, indent=2, ensure_ascii=False))
    source = str(args.catalog) if args.catalog else f"build_catalog({args.data})"
    write_json(args.out, {**run_header(), "catalog": source, **report})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
