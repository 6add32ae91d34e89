"""The labelled query set and its dev/test split."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.common import DEFAULT_QUERIES, NONSENSE_KIND, SPLITS, Query, load_queries
from bench.search_quality import HEAD_KIND, format_table, miss_record, summarize
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


def test_head_and_nonsense_kinds() -> None:
    queries = load_queries(DEFAULT_QUERIES)
    counts = Counter((q.kind, q.split) for q in queries)
    assert counts[(HEAD_KIND, "dev")] + counts[(HEAD_KIND, "test")] >= 44
    assert counts[(NONSENSE_KIND, "dev")] + counts[(NONSENSE_KIND, "test")] >= 20
    for kind in (HEAD_KIND, NONSENSE_KIND):
        assert counts[(kind, "dev")] and counts[(kind, "test")], kind
    for query in queries:
        if query.kind == NONSENSE_KIND:
            assert query.relevant == (), query.query
        else:
            assert query.relevant, query.query


def test_empty_relevant_only_for_nonsense(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    rows = [
        {"query": "zzqx", "kind": "nonsense", "relevant": [], "split": "dev"},
        {"query": "star", "kind": "head", "relevant": [], "split": "dev"},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    with pytest.raises(ValueError, match="q.jsonl:2: empty relevant list for kind 'head'"):
        load_queries(path)
    rows[1]["relevant"] = ["260"]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    assert [q.relevant for q in load_queries(path)] == [(), ("260",)]
    rows[0]["relevant"] = ["1"]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    with pytest.raises(ValueError, match="q.jsonl:1: a nonsense query has relevant ids"):
        load_queries(path)


def test_success_at_3_and_empty_rate_on_a_tiny_example() -> None:
    queries = [
        Query("star", HEAD_KIND, ("260", "1196")),  # 1196 at rank 3: success@3
        Query("nolan", HEAD_KIND, ("79132",)),  # at rank 4: not success@3, success@10
        Query("pulp", HEAD_KIND, ("296",)),  # not returned
        Query("godfather", HEAD_KIND, ("858",)),  # rank 1
        Query("the godfather", "english_title", ("858",)),
        Query("xqzvbnm", NONSENSE_KIND, ()),  # no hit: good
        Query("zzzzzz", NONSENSE_KIND, ()),  # 3 hits
        Query("qqqqqq", NONSENSE_KIND, ()),  # no hit: good
        Query("wxqpz", NONSENSE_KIND, ()),  # 1 hit
    ]
    ranked = [
        ["1", "2", "1196", "260"],
        ["1", "2", "3", "79132"],
        ["1", "2"],
        ["858"],
        ["858"],
        [],
        ["1", "2", "3"],
        [],
        ["4"],
    ]
    report = summarize(queries, ranked)
    head = report["per_kind"][HEAD_KIND]
    assert head["n"] == 4
    assert head["success@3"] == 0.5
    assert head["success@10"] == 0.75
    assert head["success@1"] == 0.25
    assert "success@3" not in report["per_kind"]["english_title"]
    assert report["nonsense"] == {"n": 4.0, "empty_rate": 0.5, "mean_hits": 1.0}
    # nonsense queries stay out of the per-kind table and the overall recall / MRR
    assert NONSENSE_KIND not in report["per_kind"]
    assert report["overall"]["n"] == 5
    assert report["overall"]["success@1"] == 0.4
    assert "empty_rate 0.500" in format_table(report)
    assert "nonsense" not in summarize(queries[:5], ranked[:5])


def test_a_nonsense_query_misses_only_when_it_gets_hits() -> None:
    hit = SimpleNamespace(item_id="1", title="Toy Story", score=0.5)
    query = Query("xqzvbnm", NONSENSE_KIND, ())
    assert miss_record(query, []) is None
    miss = miss_record(query, [hit])
    assert miss is not None and miss["hits"] == 1 and miss["rank"] is None


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
