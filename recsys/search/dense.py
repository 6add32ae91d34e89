"""Dense retrieval over documents: an item scores by its best document.

Several documents per item (a title document, a content document, one per localization)
share one vector index; ``DenseDocuments`` maps documents back to items, weighs title
documents down (a short title that shares one word with a long query must not outrank the
right plot) and falls back to exact search when filters are too selective for the ANN
shortlist.
"""

from __future__ import annotations

import numpy as np

from recsys.core.errors import ArtifactError
from recsys.search.vector_index import VectorIndex


class DenseDocuments:
    def __init__(
        self,
        doc_items: np.ndarray,
        doc_kinds: np.ndarray,
        vectors: np.ndarray,
        index: VectorIndex,
        n_items: int,
    ) -> None:
        if len(doc_items) != vectors.shape[0] or len(index) != vectors.shape[0]:
            raise ArtifactError("documents, vectors and index disagree on the number of rows")
        self.doc_items = doc_items
        self.doc_kinds = doc_kinds
        self.vectors = vectors
        self.index = index
        self._weights: dict[float, np.ndarray] = {}
        content = np.full(n_items, -1, dtype=np.int64)
        is_content = doc_kinds == "content"
        content[doc_items[is_content]] = np.flatnonzero(is_content)
        self.content_doc = content
        # documents of item i: self._docs_by_item[self._doc_bounds[i] : self._doc_bounds[i + 1]]
        self._docs_by_item = np.argsort(doc_items, kind="stable")
        self._doc_bounds = np.searchsorted(doc_items[self._docs_by_item], np.arange(n_items + 1))

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.doc_items)

    def weights(self, title_weight: float) -> np.ndarray:
        """Per-document score multiplier: ``title_weight`` for title documents, else 1."""
        if title_weight not in self._weights:
            self._weights[title_weight] = np.where(self.doc_kinds == "title", title_weight, 1.0)
        return self._weights[title_weight]

    def best_per_item(
        self,
        query_vec: np.ndarray,
        allowed: np.ndarray | None,
        n_items: int,
        min_fetch: int,
        title_weight: float,
        kinds: tuple[str, ...] | None = None,
    ) -> dict[int, float]:
        """Best document score per item among the top documents, honouring the item mask."""
        weights = self.weights(title_weight)
        fetch = min(len(self.doc_items), max(min_fetch, 20 * n_items))
        scores, ids = self.index.search(query_vec, fetch)
        best = self._aggregate(scores[0], ids[0], weights, allowed, kinds)
        if len(best) < n_items and (allowed is not None or kinds is not None):
            # filters too selective for the ANN shortlist: exact search over what they allow
            doc_mask = np.ones(len(self.doc_items), dtype=bool)
            if allowed is not None:
                doc_mask &= allowed[self.doc_items]
            if kinds is not None:
                doc_mask &= np.isin(self.doc_kinds, kinds)
            doc_ids = np.flatnonzero(doc_mask)
            sims = self.vectors[doc_ids] @ query_vec[0]
            best = self._aggregate(sims, doc_ids, weights, None, None)
        return best

    def _aggregate(
        self,
        scores: np.ndarray,
        ids: np.ndarray,
        weights: np.ndarray,
        allowed: np.ndarray | None,
        kinds: tuple[str, ...] | None,
    ) -> dict[int, float]:
        best: dict[int, float] = {}
        doc_weights = weights[np.maximum(ids, 0)]
        for score, doc in zip((scores * doc_weights).tolist(), ids.tolist(), strict=True):
            if doc < 0:
                continue
            if kinds is not None and self.doc_kinds[doc] not in kinds:
                continue
            item = int(self.doc_items[doc])
            if allowed is not None and not allowed[item]:
                continue
            if score > best.get(item, -np.inf):
                best[item] = float(score)
        return best

    def score_item(self, query_vec: np.ndarray, item: int, title_weight: float) -> float:
        """The item's best weighted document similarity (0 for an item with no documents)."""
        docs = self._docs_by_item[self._doc_bounds[item] : self._doc_bounds[item + 1]]
        if not len(docs):
            return 0.0
        weights = self.weights(title_weight)[docs]
        return float(((self.vectors[docs] @ query_vec[0]) * weights).max())
