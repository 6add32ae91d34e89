"""Sparse-matrix helpers shared by the CF models: the interaction matrix, top-k per row in
bounded memory, history weights."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

_BLOCK_CELLS = 1 << 23  # row blocks of ~8M cells (32 MB as dense float32)


def top_k_per_row(block: np.ndarray | sp.spmatrix, k: int) -> sp.csr_matrix:
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


def top_k_blocks(
    shape: tuple[int, int], k: int, block: Callable[[int, int], np.ndarray | sp.spmatrix]
) -> sp.csr_matrix:
    """`top_k_per_row` over row blocks ``block(start, stop)``, stacked (bounded memory)."""
    n_rows, step = shape[0], max(1, _BLOCK_CELLS // max(shape[1], 1))
    parts = [top_k_per_row(block(s, min(s + step, n_rows)), k) for s in range(0, n_rows, step)]
    if not parts:
        return sp.csr_matrix(shape, dtype=np.float32)
    return sp.csr_matrix(sp.vstack(parts, format="csr"), dtype=np.float32)


def history_weights(items: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
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


def top_k_of_row(
    row_items: np.ndarray, row_scores: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (items, scores) of one row, best first (ties: the lower item)."""
    order = np.lexsort((row_items, -row_scores))[: max(k, 0)]
    return row_items[order].astype(np.int64), row_scores[order].astype(np.float32)
