"""One vector index per document kind, over one row space.

Titles, English content and localized overviews live on different similarity scales:
with a multilingual encoder a short title, or any overview in the query's own language,
sits closer to a query than the right film's English plot does (measured with
multilingual-e5-small: a Chinese plot query put 21,407 documents, mostly Chinese titles,
above the right English overview, which ranked in the top 10 among overviews alone).
Searched in one index, the kinds crowd each other out of the shortlist; searched apart,
each kind gives its own ranked list and the fusion weighs the lists.

``PartitionedIndex`` keeps one index per part (built with ``build_index``, so each part
gets the exact/HNSW/IVF choice its size calls for) and maps part rows back to global
document rows. ``search`` over all parts merges the parts' top-k, so it also satisfies
``VectorIndex``. On disk each part is ``index.<part>.faiss``; the manifest's ``index``
section records the parts' build parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recsys.core.errors import ArtifactError
from recsys.core.runner import Runner
from recsys.search.vector_index import FaissIndex, IndexParams, as_queries, build_index

PARTITIONED = "partitioned"


def part_file(part: str) -> str:
    return f"index.{part}.faiss"


class PartitionedIndex:
    def __init__(self, parts: dict[str, FaissIndex], rows: dict[str, np.ndarray]) -> None:
        if set(parts) != set(rows):
            raise ArtifactError("index parts and row maps name different parts")
        for part, index in parts.items():
            if len(index) != len(rows[part]):
                raise ArtifactError(
                    f"index part {part!r} holds {len(index)} vectors for {len(rows[part])} rows"
                )
        dims = {index.dim for index in parts.values()}
        if len(dims) > 1:
            raise ArtifactError(f"index parts disagree on the dimension: {sorted(dims)}")
        self.parts = parts
        self.rows = {part: np.asarray(r, dtype=np.int64) for part, r in rows.items()}
        self._dim = dims.pop() if dims else 0
        self._n = sum(len(r) for r in rows.values())

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        return self._n

    def search_part(self, part: str, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k of one part as ``(scores, global row ids)``; an absent part finds nothing."""
        queries = as_queries(queries, self.dim) if self.parts else np.atleast_2d(queries)
        if part not in self.parts:
            shape = (queries.shape[0], k)
            return np.full(shape, -np.inf, dtype=np.float32), np.full(shape, -1, dtype=np.int64)
        scores, local = self.parts[part].search(queries, k)
        rows = self.rows[part]
        return scores, np.where(local >= 0, rows[np.maximum(local, 0)], -1)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k over every part (each part's top-k, merged)."""
        queries = as_queries(queries, self.dim)
        results = [self.search_part(part, queries, k) for part in sorted(self.parts)]
        if not results:
            shape = (queries.shape[0], k)
            return np.full(shape, -np.inf, dtype=np.float32), np.full(shape, -1, dtype=np.int64)
        scores = np.concatenate([s for s, _ in results], axis=1)
        ids = np.concatenate([i for _, i in results], axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)

    @property
    def params(self) -> dict[str, Any]:
        """The manifest's ``index`` section."""
        return {
            "kind": PARTITIONED,
            "parts": {part: index.params.to_dict() for part, index in sorted(self.parts.items())},
        }

    def labels(self) -> np.ndarray:
        """Each row's part, in row order (what ``load`` takes back)."""
        labels = np.empty(len(self), dtype=object)
        for part, rows in self.rows.items():
            labels[rows] = part
        return labels

    def save(self, directory: Path) -> None:
        """Write every part into ``directory`` as ``index.<part>.faiss``."""
        for part, index in sorted(self.parts.items()):
            index.save(directory / part_file(part))

    @classmethod
    def load(cls, directory: Path, labels: np.ndarray, section: dict[str, Any]) -> PartitionedIndex:
        """Load the parts the manifest's ``index`` section names; ``labels`` is each
        document's part (its kind), in document order."""
        if section.get("kind") != PARTITIONED or not isinstance(section.get("parts"), dict):
            raise ArtifactError("the manifest's index section does not describe partitioned parts")
        parts, rows = {}, {}
        for part, params in section["parts"].items():
            path = directory / part_file(part)
            if not path.is_file():
                raise ArtifactError(f"index part {part!r} is missing: {path.name}")
            parts[part] = FaissIndex.load(path, IndexParams.from_dict(params))
            rows[part] = np.flatnonzero(labels == part)
        if set(np.unique(labels).tolist()) - set(parts):
            raise ArtifactError("some documents belong to no index part; rebuild the artifact")
        return cls(parts, rows)


def build_partitioned_index(
    vectors: np.ndarray,
    labels: np.ndarray,
    params: IndexParams | None = None,
    runner: Runner | None = None,
) -> PartitionedIndex:
    """One ``build_index`` per distinct label, over that label's rows (large flat and IVF
    parts filled in shards on ``runner``)."""
    if len(labels) != len(vectors):
        raise ValueError(f"{len(labels)} labels for {len(vectors)} vectors")
    parts, rows = {}, {}
    for part in sorted(set(np.asarray(labels).tolist())):
        rows[part] = np.flatnonzero(labels == part)
        parts[part] = build_index(vectors[rows[part]], params, runner=runner)
    return PartitionedIndex(parts, rows)
