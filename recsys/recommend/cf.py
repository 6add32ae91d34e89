"""Collaborative-filtering item models over integer user/item positions (numpy + scipy).

Every model scores the whole catalogue from a user's history of item positions:
``ItemNeighbors`` (sparse item->item weights: item-kNN, co-visitation, pruned EASE),
``EaseModel`` (dense EASE weights over the active items) and ``AlsModel`` (implicit ALS
factors, with least-squares fold-in for users unseen at training time). Users and items
are integer positions ``0..n_users-1`` and ``0..n_items-1``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.linalg
import scipy.sparse as sp

_BLOCK_CELLS = 1 << 23  # row blocks of ~8M cells (32 MB as dense float32)


def _top_k_per_row(block: np.ndarray | sp.spmatrix, k: int) -> sp.csr_matrix:
    """Keep the k largest positive entries of each row (ties go to the lower column)."""
    shape = block.shape
    if sp.issparse(block):
        coo = sp.coo_matrix(block)
        keep = coo.data > 0
        rows, cols, data = coo.row[keep], coo.col[keep], coo.data[keep]
    else:
        dense = np.asarray(block, dtype=np.float32)
        mask = dense > 0
        if 0 < k < dense.shape[1]:  # pre-filter to the k-th value; ties at it survive
            kth = -np.partition(-dense, k - 1, axis=1)[:, k - 1]
            mask &= dense >= kth[:, None]
        rows, cols = np.nonzero(mask)
        data = dense[rows, cols]
    order = np.lexsort((cols, -data, rows))
    rows, cols, data = rows[order], cols[order], data[order]
    rank = np.arange(rows.size) - np.searchsorted(rows, rows, side="left")
    keep = rank < max(k, 0)
    return sp.csr_matrix(
        (data[keep].astype(np.float32), (rows[keep], cols[keep])), shape=shape, dtype=np.float32
    )


def _top_k_blocks(
    shape: tuple[int, int], k: int, block: Callable[[int, int], np.ndarray | sp.spmatrix]
) -> sp.csr_matrix:
    """`_top_k_per_row` over row blocks ``block(start, stop)``, stacked (bounded memory)."""
    n_rows, step = shape[0], max(1, _BLOCK_CELLS // max(shape[1], 1))
    parts = [_top_k_per_row(block(s, min(s + step, n_rows)), k) for s in range(0, n_rows, step)]
    if not parts:
        return sp.csr_matrix(shape, dtype=np.float32)
    return sp.csr_matrix(sp.vstack(parts, format="csr"), dtype=np.float32)


def _weights(items: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    items = np.asarray(items, dtype=np.int64).ravel()
    if weights is None:
        return items, np.ones(items.size, dtype=np.float32)
    w = np.asarray(weights, dtype=np.float32).ravel()
    if w.size != items.size:
        raise ValueError(f"{items.size} items but {w.size} weights")
    return items, w


def interaction_matrix(
    user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int
) -> sp.csr_matrix:
    """Binary float32 user x item matrix; repeated (user, item) pairs collapse to 1."""
    users = np.asarray(user_idx, dtype=np.int64)
    items = np.asarray(item_idx, dtype=np.int64)
    ones = np.ones(users.size, dtype=np.float32)
    matrix = sp.csr_matrix((ones, (users, items)), shape=(n_users, n_items), dtype=np.float32)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


@dataclass
class ItemNeighbors:
    """Sparse item->item weights; row h holds the (top-k) neighbours of item h."""

    matrix: sp.csr_matrix  # (n_items, n_items) float32, no self-loops

    @property
    def n_items(self) -> int:
        return int(self.matrix.shape[0])

    def scores(self, items: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Dense float32 (n_items,): ``sum_h weights[h] * matrix[items[h]]``."""
        items, w = _weights(items, weights)
        if items.size == 0:
            return np.zeros(self.n_items, dtype=np.float32)
        return np.asarray(self.matrix[items].T @ w, dtype=np.float32).ravel()

    def top_contributor(
        self, items: np.ndarray, weights: np.ndarray | None, target: int
    ) -> int | None:
        """The history item contributing most (and positively) to `target`'s score."""
        return self.top_contributors(items, weights, np.array([target]))[0]

    def top_contributors(
        self, items: np.ndarray, weights: np.ndarray | None, targets: np.ndarray
    ) -> list[int | None]:
        """``top_contributor`` for many targets with one sparse slice."""
        items, w = _weights(items, weights)
        if items.size == 0 or len(targets) == 0:
            return [None] * len(targets)
        block = self.matrix[items][:, np.asarray(targets, dtype=np.int64)].toarray()
        contribution = w[:, None] * block
        best = contribution.argmax(axis=0)
        return [int(items[b]) if contribution[b, col] > 0 else None for col, b in enumerate(best)]

    def neighbours(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(items int64, weights float32) of `item`'s k strongest neighbours, best first."""
        start, stop = self.matrix.indptr[item], self.matrix.indptr[item + 1]
        cols = self.matrix.indices[start:stop].astype(np.int64)
        vals = self.matrix.data[start:stop].astype(np.float32)
        order = np.lexsort((cols, -vals))[: max(k, 0)]
        return cols[order], vals[order]

    def save(self, path: Path) -> None:
        with Path(path).open("wb") as fh:  # a file object: save_npz must not rename the path
            sp.save_npz(fh, self.matrix)

    @classmethod
    def load(cls, path: Path) -> ItemNeighbors:
        return cls(sp.csr_matrix(sp.load_npz(Path(path)), dtype=np.float32))


@dataclass
class EaseModel:
    """EASE (Steck 2019): B = I - P diag(1/diag(P)), P = (X^T X + l2 I)^-1, diag(B)=0,
    over 'active' items."""

    items: np.ndarray  # int64 global positions of the active items, ascending
    weights: np.ndarray  # float32 (n_active, n_active) dense B
    n_items: int

    def scores(self, items: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Dense float32 (n_items,); inactive history items are ignored, inactive targets get 0."""
        hist, w = _weights(items, weights)
        out = np.zeros(self.n_items, dtype=np.float32)
        if hist.size and self.items.size:
            pos = np.minimum(np.searchsorted(self.items, hist), self.items.size - 1)
            known = self.items[pos] == hist
            if np.any(known):
                out[self.items] = w[known] @ self.weights[pos[known]]
        return out

    def prune(self, top_k: int) -> ItemNeighbors:
        """Keep the top_k largest positive weights per row, in global item positions."""
        n = self.items.size
        local = _top_k_blocks((n, n), top_k, lambda s, e: self.weights[s:e])
        coo = local.tocoo()
        glob = (coo.data, (self.items[coo.row], self.items[coo.col]))
        shape = (self.n_items, self.n_items)
        return ItemNeighbors(sp.csr_matrix(glob, shape=shape, dtype=np.float32))


def fit_ease(X: sp.csr_matrix, l2: float = 500.0, min_item_count: int = 2) -> EaseModel:
    """EASE over the items with at least `min_item_count` interactions (columns of X).

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
    n_items = int(X.shape[1])
    if active.size == 0:
        return EaseModel(active, np.zeros((0, 0), dtype=np.float32), n_items)
    Xa = X[:, active].astype(np.float64)
    Xa = Xa[np.flatnonzero(Xa.getnnz(axis=1))]
    if Xa.shape[0] < active.size:
        kernel = np.asarray((Xa @ Xa.T).toarray(), dtype=np.float64)
        kernel[np.diag_indices_from(kernel)] += l2
        W = scipy.linalg.solve_triangular(np.linalg.cholesky(kernel), Xa.toarray(), lower=True)
        B = W.T @ W
        B /= (1.0 - np.diag(B))[None, :]
    else:
        gram = np.asarray((Xa.T @ Xa).toarray(), dtype=np.float64)
        gram[np.diag_indices_from(gram)] += l2
        chol, info = scipy.linalg.lapack.dpotrf(gram, lower=False, overwrite_a=True)
        if info == 0:
            P, info = scipy.linalg.lapack.dpotri(chol, lower=False, overwrite_c=True)
        if info != 0:
            raise np.linalg.LinAlgError(f"could not invert the EASE gram (LAPACK info={info})")
        P = np.triu(P) + np.triu(P, 1).T  # potri fills the upper triangle only
        B = P / (-np.diag(P))[None, :]
    np.fill_diagonal(B, 0.0)
    return EaseModel(active, B.astype(np.float32), n_items)


def fit_item_knn(X: sp.csr_matrix, top_k: int = 100, shrink: float = 10.0) -> ItemNeighbors:
    """Shrunk cosine between item columns: c_ij / (sqrt(n_i n_j) + shrink), top_k per row."""
    X = sp.csr_matrix(X, dtype=np.float32)
    n_items = int(X.shape[1])
    Xt = X.T.tocsr()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=0), dtype=np.float32).ravel())

    def block(start: int, stop: int) -> np.ndarray:  # dense rows: top-k by partition, not sort
        sim = np.asarray((Xt[start:stop] @ X).toarray(), dtype=np.float32)
        denom = np.outer(norms[start:stop], norms) + np.float32(shrink)
        denom[denom == 0] = 1.0  # zero co-count anyway (an empty item, shrink 0)
        sim /= denom
        sim[np.arange(stop - start), np.arange(start, stop)] = 0.0
        return sim

    matrix = _top_k_blocks((n_items, n_items), top_k, block)
    return ItemNeighbors(matrix)


def fit_covisitation(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    n_items: int,
    window: int = 10,
    top_k: int = 100,
    popularity_alpha: float = 0.5,
) -> ItemNeighbors:
    """Symmetric 1/distance co-visitation within `window` steps of each user's time-ordered
    sequence, divided by ``count_j ** popularity_alpha``, top_k per row."""
    users = np.asarray(user_idx, dtype=np.int64)
    items = np.asarray(item_idx, dtype=np.int64)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for d in range(1, min(window, max(items.size - 1, 0)) + 1):
        a, b = items[:-d], items[d:]
        ok = (users[:-d] == users[d:]) & (a != b)
        a, b = a[ok], b[ok]
        rows += [a, b]
        cols += [b, a]
        vals.append(np.full(2 * a.size, 1.0 / d, dtype=np.float64))
    if not rows:
        return ItemNeighbors(sp.csr_matrix((n_items, n_items), dtype=np.float32))
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    count = np.bincount(items, minlength=n_items).astype(np.float64)
    v = v / count[c] ** popularity_alpha
    summed = sp.csr_matrix((v, (r, c)), shape=(n_items, n_items), dtype=np.float64)
    summed.sum_duplicates()
    matrix = _top_k_per_row(summed, top_k)
    return ItemNeighbors(matrix)


@dataclass
class AlsModel:
    user_factors: np.ndarray  # (n_users, f) float32
    item_factors: np.ndarray  # (n_items, f) float32
    regularization: float = 0.05
    alpha: float = 10.0  # confidence of an observed interaction, as in implicit (c = alpha * x)

    def scores_for_user(self, user: int) -> np.ndarray:
        return np.asarray(self.item_factors @ self.user_factors[user], dtype=np.float32)

    def fold_in(self, items: np.ndarray) -> np.ndarray:
        """Scores for an unseen user from their history: the ALS user step
        ``(Y^T C_u Y + reg I) x = Y^T C_u p_u`` with the training confidence, then ``Y x``."""
        hist = np.unique(np.asarray(items, dtype=np.int64))
        Y = self.item_factors.astype(np.float64)
        if hist.size == 0:
            return np.zeros(Y.shape[0], dtype=np.float32)
        Yh = Y[hist]
        A = Y.T @ Y + (self.alpha - 1.0) * (Yh.T @ Yh)
        A[np.diag_indices_from(A)] += self.regularization
        x = scipy.linalg.solve(A, self.alpha * Yh.sum(axis=0), assume_a="pos")
        return np.asarray(Y @ x, dtype=np.float32)


def fit_als(
    X: sp.csr_matrix,
    factors: int = 64,
    regularization: float = 0.05,
    alpha: float = 10.0,
    iterations: int = 15,
    seed: int = 0,
) -> AlsModel | None:
    """Implicit-feedback ALS via `implicit` (users are rows of X); None if it isn't installed."""
    try:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(OpenBLAS|MKL).*threads", category=Warning)
        model = AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            random_state=seed,
            num_threads=2,
        )
        model.fit(sp.csr_matrix(X, dtype=np.float32), show_progress=False)
    return AlsModel(
        user_factors=np.asarray(model.user_factors, dtype=np.float32),
        item_factors=np.asarray(model.item_factors, dtype=np.float32),
        regularization=regularization,
        alpha=alpha,
    )
