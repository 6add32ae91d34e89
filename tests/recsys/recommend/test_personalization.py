"""The artifact's approximate item index is saved and loaded, never silently rebuilt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.core.errors import ArtifactError
from recsys.recommend.personalization import ITEM_INDEX, _item_index
from recsys.search.vector_index import FaissIndex, IndexParams, build_index


def vectors(n: int) -> np.ndarray:
    x = np.random.default_rng(0).normal(size=(n, 16)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_saved_hnsw_index_is_loaded_with_its_params(tmp_path: Path) -> None:
    x = vectors(300)
    built = build_index(x, IndexParams(kind="hnsw"))
    built.save(tmp_path / ITEM_INDEX)
    loaded = _item_index(tmp_path, {"item_index": built.params.to_dict()}, x)
    assert isinstance(loaded, FaissIndex) and loaded.params.kind == "hnsw"
    assert loaded.params.ef_search == built.params.ef_search
    np.testing.assert_array_equal(loaded.search(x[:5], 3)[1], built.search(x[:5], 3)[1])


def test_an_index_of_another_catalog_is_refused(tmp_path: Path) -> None:
    built = build_index(vectors(300), IndexParams(kind="hnsw"))
    built.save(tmp_path / ITEM_INDEX)
    with pytest.raises(ArtifactError, match="holds 300 items, the catalog 299"):
        _item_index(tmp_path, {"item_index": built.params.to_dict()}, vectors(299))


def test_without_a_saved_index_one_is_built(tmp_path: Path) -> None:
    index = _item_index(tmp_path, {}, vectors(50))
    assert len(index) == 50 and index.params.kind == "flat"
