"""Derived training queries: each kind's shape, tags from tags.csv, popularity sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rapidfuzz.distance import DamerauLevenshtein

from recsys.ranking.derived_queries import (
    KINDS,
    derive_query,
    read_tag_texts,
    sample_targets,
)

ROW = {
    "title": "The Lord of the Rings",
    "original_title": None,
    "alt_titles": [],
    "localizations": [{"lang": "fr", "title": "Le Seigneur des anneaux", "description": None}],
    "keywords": ["ring", "hobbit"],
    "directors": ["Peter Jackson"],
    "cast": ["Elijah Wood", "Ian McKellen", "Viggo Mortensen", "Sean Astin"],
    "description": "A meek hobbit sets out on a journey to destroy a powerful ring of evil.",
}
TITLES = {"The Lord of the Rings", "Le Seigneur des anneaux"}


def derived(n: int = 400) -> dict[str, list[str]]:
    rng = np.random.default_rng(0)
    out: dict[str, list[str]] = {}
    for _ in range(n):
        found = derive_query(ROW, ["epic", "fantasy world"], rng)
        assert found is not None
        out.setdefault(found[0], []).append(found[1])
    return out


def test_every_kind_is_derived_with_its_shape() -> None:
    by_kind = derived()
    assert set(by_kind) == set(KINDS)
    assert set(by_kind["title"]) <= TITLES
    for fragment in by_kind["title_fragment"]:
        assert any(t.startswith(fragment) and t != fragment for t in TITLES)
    for prefix in by_kind["title_prefix"]:
        assert any(t.startswith(prefix) for t in TITLES) and len(prefix) >= 3
    for typo in by_kind["title_typo"]:
        assert min(DamerauLevenshtein.distance(typo, t) for t in TITLES) == 1
    assert set(by_kind["person"]) == {
        "Peter Jackson",
        "Elijah Wood",
        "Ian McKellen",
        "Viggo Mortensen",
    }  # not the fourth-billed
    assert set(by_kind["tag"]) <= {"epic", "fantasy world"}
    assert set(by_kind["keyword"]) <= {"ring", "hobbit"}
    for window in by_kind["description"]:
        assert window in ROW["description"] and 4 <= len(window.split()) <= 12


def test_an_item_without_text_gives_no_query() -> None:
    empty = {"title": None, "localizations": None, "keywords": None, "description": None}
    assert derive_query(empty, [], np.random.default_rng(0)) is None


def test_tags_are_read_per_item_most_used_first(tmp_path: Path) -> None:
    path = tmp_path / "tags.csv"
    path.write_text(
        "userId,movieId,tag,timestamp\n"
        "1,10,Mind-Bending,1\n2,10,mind-bending ,2\n3,10,dreams,3\n4,20,x,4\n5,99,orphan,5\n"
    )
    tags = read_tag_texts(path, {10: "i10", 20: "i20"})
    assert tags == {"i10": ["mind-bending", "dreams"]}  # "x" too short, 99 not in the catalog
    assert read_tag_texts(tmp_path / "missing.csv", {}) == {}


def test_targets_follow_popularity() -> None:
    counts = np.array([0, 0, 0, 99])
    rng = np.random.default_rng(0)
    uniform = np.bincount(sample_targets(counts, 20_000, 0.0, rng), minlength=4) / 20_000
    proportional = np.bincount(sample_targets(counts, 20_000, 1.0, rng), minlength=4) / 20_000
    np.testing.assert_allclose(uniform, 0.25, atol=0.02)
    np.testing.assert_allclose(proportional, [1 / 103] * 3 + [100 / 103], atol=0.01)


@pytest.mark.slow
def test_no_derived_query_is_a_benchmark_query() -> None:
    """The benchmark's hand-written descriptions are never training queries. (Its short
    head and title queries can coincide with generated title fragments, "star" is one:
    fragments of titles are what both are made of.)"""
    from bench.common import DEFAULT_QUERIES, load_queries
    from recsys.catalog.ingest import build_catalog
    from recsys.core.text import normalize_title

    catalog, _ = build_catalog(Path(__file__).parents[3] / "data")
    rng = np.random.default_rng(0)
    rows = catalog.to_dicts()
    derived_queries = set()
    for target in rng.choice(len(rows), size=4000).tolist():
        found = derive_query(rows[target], [], rng)
        if found is not None and found[0] not in ("title", "title_typo", "title_prefix"):
            derived_queries.add(normalize_title(found[1]))
    bench = {
        normalize_title(q.query)
        for q in load_queries(DEFAULT_QUERIES)
        if q.kind.endswith("description")
    }
    assert not derived_queries & bench
