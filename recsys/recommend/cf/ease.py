"""EASE (Steck 2019): a dense item->item model over the items with enough interactions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from recsys.recommend.cf.neighbors import ItemNeighbors
from recsys.recommend.cf.sparse import history_weights, top_k_blocks, top_k_of_row


@dataclass
class EaseModel:
    """EASE (Steck 2019): B = I - P diag(1/diag(P)), P = (X^T X + l2 I)^-1, diag(B)=0,
    over 'active' items."""

    items: np.ndarray  # int64 global positions of the active items, ascending
    weights: np.ndarray  # float32 (n_active, n_active) dense B
    n_items: int

    def scores(self, items: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Dense float32 (n_items,); inactive history items are ignored, inactive targets get 0."""
        hist, w = history_weights(items, weights)
        out = np.zeros(self.n_items, dtype=np.float32)
        if hist.size and self.items.size:
            pos = np.minimum(np.searchsorted(self.items, hist), self.items.size - 1)
            known = self.items[pos] == hist
            if np.any(known):
                out[self.items] = w[known] @ self.weights[pos[known]]
        return out

    def similar(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` largest weights of the item's row (none for an inactive item)."""
        pos = int(np.searchsorted(self.items, item))
        if pos >= self.items.size or self.items[pos] != item:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        row = self.weights[pos]
        keep = (row != 0) & (self.items != item)
        return top_k_of_row(self.items[keep], row[keep], k)

    def prune(self, top_k: int) -> ItemNeighbors:
        """Keep the top_k largest positive weights per row, in global item positions."""
        n = self.items.size
        local = top_k_blocks((n, n), top_k, lambda s, e: self.weights[s:e])
        coo = local.tocoo()
        glob = (coo.data, (self.items[coo.row], self.items[coo.col]))
        shape = (self.n_items, self.n_items)
        return ItemNeighbors(sp.csr_matrix(glob, shape=shape, dtype=np.float32))


# scipy's LAPACK (OpenBLAS with 32-bit indices) crashes on an n x n float64 matrix of 2 GiB
# or more (n >= 16,384: potrf segfaulted at 16,384 and 20,000, not at 15,000)
MAX_DENSE_ITEMS = 16_000


def fit_ease(
    X: sp.csr_matrix, l2: float = 500.0, min_item_count: int = 2, max_items: int | None = None
) -> EaseModel:
    """EASE over the items with at least `min_item_count` interactions (columns of X), and
    at most the ``max_items`` most interacted of them (ties: the lower position): the dense
    model needs n^2 floats (100,000 items: 80 GB in float64), so at scale EASE covers the
    head and the long tail is left to co-visitation and content neighbours.

    Exact either way, in float64: with fewer (non-empty) users m than active items n it uses
    Woodbury, P = (I - W^T W) / l2 with W = L^-1 X, L L^T = X X^T + l2 I (m x m), so that
    B_ij = (W^T W)_ij / (1 - |w_j|^2) costs O(m n^2) instead of O(n^3); otherwise it inverts
    the n x n gram through its Cholesky factor (LAPACK potrf/potri).
    """
    if l2 <= 0:
        raise ValueError(f"l2 must be positive, got {l2}")
    X = sp.csr_matrix(X)
    counts = np.asarray(X.getnnz(axis=0)).ravel()
    active = np.flatnonzero(counts >= min_item_count).astype(np.int64)
    max_items = min(max_items or MAX_DENSE_ITEMS, MAX_DENSE_ITEMS)
    if active.size > max_items:
        head = np.argsort(-counts[active], kind="stable")[:max_items]
        active = np.sort(active[head])
    n_items = int(X.shape[1])
    if active.size == 0:
        return EaseModel(active, np.zeros((0, 0), dtype=np.float32), n_items)
    Xa = X[:, active].astype(np.float64)
    Xa = Xa[np.flatnonzero(Xa.getnnz(axis=1))]
    if Xa.shape[0] < active.size:
        kernel = np.asarray((Xa @ Xa.T).toarray(), dtype=np.float64)
        kernel[np.diag_indices_from(kernel)] += l2
        W = scipy.linalg.solve_triangular(np.linalg.cholesky(kernel), Xa.toarray(), lower=True)
        B = _gram_in_blocks(W)
        B /= (1.0 - np.diag(B))[None, :]
    else:
        gram = _sparse_gram(Xa)
        gram[np.diag_indices_from(gram)] += l2
        chol, info = scipy.linalg.lapack.dpotrf(gram, lower=False, overwrite_a=True)
        if info == 0:
            P, info = scipy.linalg.lapack.dpotri(chol, lower=False, overwrite_c=True)
        if info != 0:
            raise np.linalg.LinAlgError(f"could not invert the EASE gram (LAPACK info={info})")
        B = _symmetric_from_upper(P)  # potri fills the upper triangle only
        B /= -np.diag(B).copy()[None, :]  # in place: one n x n float64 matrix at a time
    np.fill_diagonal(B, 0.0)
    return EaseModel(active, B.astype(np.float32), n_items)


def _symmetric_from_upper(P: np.ndarray, block: int = 2048) -> np.ndarray:
    """Copy the upper triangle onto the lower one, in place, a block of rows at a time
    (``triu(P) + triu(P, 1).T`` held four n x n matrices: 7 GB at 15,000 items)."""
    n = P.shape[0]
    for start in range(0, n, block):
        stop = min(start + block, n)
        rows = P[start:stop, :stop]
        upper = P[:stop, start:stop].T
        mask = np.arange(stop)[None, :] < np.arange(start, stop)[:, None]  # strictly lower
        rows[mask] = upper[mask]
    return P


GRAM_BLOCK = 4096


def _sparse_gram(X: sp.csr_matrix, block: int = GRAM_BLOCK) -> np.ndarray:
    """X^T X as a dense float64 matrix, filled a block of columns at a time: the sparse
    product of a 15,000-item head is nearly dense, and held 3.5 GB beside the 1.8 GB result
    at a million items. The values are co-occurrence counts, exact in any order. Fortran
    order, as LAPACK's potrf wants it to work in place (a C-ordered gram is copied first)."""
    n = X.shape[1]
    columns = X.tocsc()
    out = np.empty((n, n), dtype=np.float64, order="F")
    for start in range(0, n, block):
        out[:, start : start + block] = (X.T @ columns[:, start : start + block]).toarray()
    return out


def _gram_in_blocks(W: np.ndarray) -> np.ndarray:
    """W^T W, a block of columns at a time: one 20,000-item product in a single call crashed
    OpenBLAS (segmentation fault, 10,000 users) where blocks of 4,096 columns do not."""
    n = W.shape[1]
    out = np.empty((n, n), dtype=np.float64)
    for start in range(0, n, GRAM_BLOCK):
        out[:, start : start + GRAM_BLOCK] = W.T @ W[:, start : start + GRAM_BLOCK]
    return out
