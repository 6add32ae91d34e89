"""The labelled query set and its dev/test split."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bench.common import DEFAULT_QUERIES, SPLITS, load_queries
from bench.tune_search import parse_grid


def test_every_kind_is_in_both_splits() -> None:
    queries = load_queries(DEFAULT_QUERIES)
    counts = Counter((q.kind, q.split) for q in queries)
    for kind in {q.kind for q in queries}:
        dev, test = counts[(kind, "dev")], counts[(kind, "test")]
        assert dev and test and abs(dev - test) <= 1, (kind, dev, test)


def test_splits_partition_the_set() -> None:
    everything = load_queries(DEFAULT_QUERIES)
    halves = [load_queries(DEFAULT_QUERIES, split) for split in SPLITS]
    assert sum(len(h) for h in halves) == len(everything)
    texts = [q.query for q in everything]
    assert len(set(texts)) == len(texts), "a query appears twice"


def test_the_multilingual_issue_counts() -> None:
    counts = Counter(q.kind for q in load_queries(DEFAULT_QUERIES))
    assert counts["cross_lingual_description"] >= 24 + 40
    assert counts["english_description"] >= 32 + 40


def test_unknown_split_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown split"):
        load_queries(DEFAULT_QUERIES, "train")
    path = tmp_path / "q.jsonl"
    row = {"query": "x", "kind": "typo", "relevant": ["1"], "split": "holdout"}
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="q.jsonl:1: unknown split"):
        load_queries(path)


def test_parse_grid_types_values_by_field() -> None:
    assert parse_grid(["rrf_k=20,60", "min_fetch=100"]) == {
        "rrf_k": [20.0, 60.0],
        "min_fetch": [100],
    }
    with pytest.raises(SystemExit, match="expected FIELD"):
        parse_grid(["no_such_knob=1"])
    with pytest.raises(SystemExit, match="rrf_k=x"):
        parse_grid(["rrf_k=x"])
