"""PartitionedIndex: one index per document kind (the VectorIndex contract runs it too)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.core.errors import ArtifactError
from recsys.search.dense import DenseDocuments
from recsys.search.partitioned_index import PartitionedIndex, build_partitioned_index, part_file
from recsys.search.vector_index import IndexParams


def unit(*rows: list[float]) -> np.ndarray:
    vectors = np.array(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


# rows 0-3 are titles of items 1..4 that sit close to the query; row 4 is item 0's content,
# further from it than any title
VECTORS = unit([1, 0.1, 0], [1, 0.2, 0], [1, 0.3, 0], [1, 0.4, 0], [0.5, 1, 0])
KINDS = np.array(["title", "title", "title", "title", "content"], dtype=object)
ITEMS = np.array([1, 2, 3, 4, 0])
QUERY = unit([1, 0, 0])


def test_search_part_returns_global_rows_of_that_part_only() -> None:
    index = build_partitioned_index(VECTORS, KINDS, IndexParams(kind="flat"))
    _, ids = index.search_part("content", QUERY, 3)
    assert ids.tolist() == [[4, -1, -1]]
    _, ids = index.search_part("title", QUERY, 2)
    assert ids.tolist() == [[0, 1]]
    scores, ids = index.search_part("localized", QUERY, 2)  # no such part: nothing found
    assert ids.tolist() == [[-1, -1]] and np.isneginf(scores).all()


def test_a_kind_is_not_crowded_out_by_another() -> None:
    """The content document is the fifth-best row overall, yet first of its kind."""
    index = build_partitioned_index(VECTORS, KINDS, IndexParams(kind="flat"))
    dense = DenseDocuments(ITEMS, KINDS, VECTORS, index, n_items=5)
    _, overall = index.search(QUERY, 5)
    assert overall[0].tolist()[-1] == 4
    assert list(dense.best_per_item(QUERY, None, 1, 1, "content")) == [0]
    assert list(dense.best_per_item(QUERY, None, 1, 1, "title"))[0] == 1


def test_filters_keep_only_allowed_items_of_the_kind() -> None:
    index = build_partitioned_index(VECTORS, KINDS, IndexParams(kind="flat"))
    dense = DenseDocuments(ITEMS, KINDS, VECTORS, index, n_items=5)
    allowed = np.array([False, False, False, False, True])  # only item 4
    assert list(dense.best_per_item(QUERY, allowed, 1, 1, "title")) == [4]


def test_load_refuses_a_missing_part_and_unindexed_documents(tmp_path: Path) -> None:
    index = build_partitioned_index(VECTORS, KINDS, IndexParams(kind="flat"))
    index.save(tmp_path)
    loaded = PartitionedIndex.load(tmp_path, KINDS, index.params)
    assert loaded.search(QUERY, 5)[1].tolist() == index.search(QUERY, 5)[1].tolist()
    with pytest.raises(ArtifactError, match="belong to no index part"):
        PartitionedIndex.load(
            tmp_path, np.array([*KINDS[:4], "localized"], dtype=object), index.params
        )
    (tmp_path / part_file("content")).unlink()
    with pytest.raises(ArtifactError, match="'content' is missing"):
        PartitionedIndex.load(tmp_path, KINDS, index.params)
    with pytest.raises(ArtifactError, match="partitioned parts"):
        PartitionedIndex.load(tmp_path, KINDS, {"kind": "flat"})


def test_parts_must_match_their_rows() -> None:
    index = build_partitioned_index(VECTORS, KINDS, IndexParams(kind="flat"))
    with pytest.raises(ArtifactError, match="holds 4 vectors for 3 rows"):
        PartitionedIndex(index.parts, {**index.rows, "title": np.arange(3)})


def test_an_item_scores_its_best_document_best_items_first() -> None:
    # item 0 has two localized documents (0.9 and 0.2 along the query), item 1 one (0.5),
    # item 2 one (0.9, a tie with item 0 broken by position)
    vectors = unit([0.9, 0.436, 0], [0.2, 0.98, 0], [0.5, 0.866, 0], [0.9, 0, 0.436])
    kinds = np.array(["localized"] * 4, dtype=object)
    items = np.array([0, 0, 1, 2])
    index = build_partitioned_index(vectors, kinds, IndexParams(kind="flat"))
    dense = DenseDocuments(items, kinds, vectors, index, n_items=3)
    best = dense.best_per_item(QUERY, None, 3, 4, "localized")
    assert list(best) == [0, 2, 1]
    np.testing.assert_allclose(list(best.values()), [0.9, 0.9, 0.5], atol=1e-4)
    allowed = np.array([False, True, True])
    assert list(dense.best_per_item(QUERY, allowed, 2, 4, "localized")) == [2, 1]
    many = dense.best_per_item_many(np.vstack([QUERY, unit([0, 1, 0])]), 3, 4, "localized")
    assert many[0] == best
    assert list(many[1]) == [0, 1, 2]  # item 0's second document is its best for this one
