"""Dense retrieval over documents: an item scores by its best document of a kind.

Several documents per item (a content document, one per localization) live in one
``PartitionedIndex``, one part per kind. ``DenseDocuments`` searches one kind
at a time (each kind is its own ranked list in the fusion), maps documents back to items,
and falls back to exact search when filters are too selective for the ANN shortlist.
``kind_scores`` gives a result's exact best similarity per kind (the ranker's features).
"""

from __future__ import annotations

import numpy as np

from recsys.catalog.documents import CONTENT
from recsys.core.errors import ArtifactError
from recsys.search.partitioned_index import PartitionedIndex


class DenseDocuments:
    def __init__(
        self,
        doc_items: np.ndarray,
        doc_kinds: np.ndarray,
        vectors: np.ndarray,
        index: PartitionedIndex,
        n_items: int,
    ) -> None:
        if len(doc_items) != vectors.shape[0] or len(index) != vectors.shape[0]:
            raise ArtifactError("documents, vectors and index disagree on the number of rows")
        self.doc_items = doc_items
        self.doc_kinds = doc_kinds
        self.vectors = vectors
        self.index = index
        content = np.full(n_items, -1, dtype=np.int64)
        is_content = doc_kinds == CONTENT
        content[doc_items[is_content]] = np.flatnonzero(is_content)
        self.content_doc = content
        # documents of item i: self._docs_by_item[self._doc_bounds[i] : self._doc_bounds[i + 1]]
        self._docs_by_item = np.argsort(doc_items, kind="stable")
        self._doc_bounds = np.searchsorted(doc_items[self._docs_by_item], np.arange(n_items + 1))
        # the most documents one item has of each kind: how many documents to fetch so that
        # n items are among them (1 for content, a few for localized overviews)
        self._docs_per_item = {
            str(kind): int(np.bincount(doc_items[doc_kinds == kind]).max())
            for kind in np.unique(doc_kinds)
        }

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.doc_items)

    def best_per_item(
        self,
        query_vec: np.ndarray,
        allowed: np.ndarray | None,
        n_items: int,
        min_fetch: int,
        kind: str,
    ) -> dict[int, float]:
        """Best similarity per item over its documents of one kind, among the top documents
        of that kind, honouring the item mask."""
        fetch = max(min_fetch, n_items * self._docs_per_item.get(kind, 1))
        scores, ids = self.index.search_part(kind, query_vec, fetch)
        best = _best(scores[0], ids[0], self.doc_items, allowed)
        if len(best) < n_items and allowed is not None:
            # filters too selective for the ANN shortlist: exact search over what they allow
            doc_ids = np.flatnonzero((self.doc_kinds == kind) & allowed[self.doc_items])
            best = _best(self.vectors[doc_ids] @ query_vec[0], doc_ids, self.doc_items, None)
        return best

    def best_per_item_many(
        self, query_vecs: np.ndarray, n_items: int, min_fetch: int, kind: str
    ) -> list[dict[int, float]]:
        """``best_per_item`` of many queries with no item mask, in one index search (one
        matrix product for an exact index instead of one scan per query)."""
        fetch = max(min_fetch, n_items * self._docs_per_item.get(kind, 1))
        scores, ids = self.index.search_part(kind, query_vecs, fetch)
        return [_best(s, i, self.doc_items, None) for s, i in zip(scores, ids, strict=True)]

    def kind_scores(
        self, query_vec: np.ndarray, items: np.ndarray, kinds: tuple[str, ...]
    ) -> np.ndarray:
        """(len(items), len(kinds)): each item's best similarity over its documents of each
        kind, exact (NaN where the item has no document of the kind). Computed with einsum,
        so a row's value does not depend on which other items are scored with it."""
        out = np.full((len(items), len(kinds)), -np.inf)
        if not len(items):
            return out
        lo, hi = self._doc_bounds[items], self._doc_bounds[items + 1]
        counts = hi - lo
        rows = np.repeat(np.arange(len(items)), counts)
        within = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
        docs = self._docs_by_item[np.repeat(lo, counts) + within]
        sims = np.einsum("nd,d->n", self.vectors[docs].astype(np.float32), query_vec[0])
        kind_of = self.doc_kinds[docs]
        for column, kind in enumerate(kinds):
            mine = kind_of == kind
            np.maximum.at(out[:, column], rows[mine], sims[mine])
        out[np.isinf(out)] = np.nan
        return out


def _best(
    scores: np.ndarray, docs: np.ndarray, doc_items: np.ndarray, allowed: np.ndarray | None
) -> dict[int, float]:
    """Best score per item of scored documents (-1 ids skipped; masked items dropped), best
    first (ties by item)."""
    found = docs >= 0
    items, scores = doc_items[docs[found]], scores[found]
    if allowed is not None:
        keep = allowed[items]
        items, scores = items[keep], scores[keep]
    order = np.lexsort((-scores, items))  # by item, its best document first
    items, scores = items[order], scores[order]
    first = np.ones(len(items), dtype=bool)
    first[1:] = items[1:] != items[:-1]
    items, scores = items[first], scores[first]
    ranked = np.lexsort((items, -scores))
    return dict(zip(items[ranked].tolist(), scores[ranked].tolist(), strict=True))
