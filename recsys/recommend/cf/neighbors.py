"""``ItemNeighbors``: sparse item->item weights (item-kNN, co-visitation, pruned EASE), and
the two fits that produce them directly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys.core.runner import LocalRunner, Runner
from recsys.recommend.cf.sparse import history_weights, top_k_blocks, top_k_of_row, top_k_per_row


@dataclass
class ItemNeighbors:
    """Sparse item->item weights; row h holds the (top-k) neighbours of item h."""

    matrix: sp.csr_matrix  # (n_items, n_items) float32, no self-loops

    @property
    def n_items(self) -> int:
        return int(self.matrix.shape[0])

    def scores(self, items: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Dense float32 (n_items,): ``sum_h weights[h] * matrix[items[h]]``."""
        items, w = history_weights(items, weights)
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
        items, w = history_weights(items, weights)
        if items.size == 0 or len(targets) == 0:
            return [None] * len(targets)
        block = self.matrix[items][:, np.asarray(targets, dtype=np.int64)].toarray()
        contribution = w[:, None] * block
        best = contribution.argmax(axis=0)
        return [int(items[b]) if contribution[b, col] > 0 else None for col, b in enumerate(best)]

    def similar(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(items int64, weights float32) of `item`'s k strongest neighbours, best first."""
        start, stop = self.matrix.indptr[item], self.matrix.indptr[item + 1]
        cols = self.matrix.indices[start:stop].astype(np.int64)
        vals = self.matrix.data[start:stop].astype(np.float32)
        return top_k_of_row(cols, vals, k)

    def save(self, path: Path) -> None:
        with Path(path).open("wb") as fh:  # a file object: save_npz must not rename the path
            sp.save_npz(fh, self.matrix)

    @classmethod
    def load(cls, path: Path) -> ItemNeighbors:
        return cls(sp.csr_matrix(sp.load_npz(Path(path)), dtype=np.float32))


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

    matrix = top_k_blocks((n_items, n_items), top_k, block)
    return ItemNeighbors(matrix)


COVIS_BLOCK_ENTRIES = 16_000_000  # (row, col, value) entries held at once (~0.6 GB)


def _pairs(users: np.ndarray, items: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """The (earlier, later) item pairs ``d`` steps apart within one user's sequence."""
    a, b = items[:-d], items[d:]
    ok = (users[:-d] == users[d:]) & (a != b)
    return a[ok], b[ok]


def _row_blocks(
    users: np.ndarray, items: np.ndarray, n_items: int, window: int, budget: int, min_blocks: int
) -> list[tuple[int, int]]:
    """Consecutive item-row ranges holding about ``budget`` pair entries each (and at least
    ``min_blocks`` ranges), counted, not averaged: popular items' rows hold far more entries
    than the mean (a row over the budget gets a block of its own)."""
    per_row = np.zeros(n_items, dtype=np.int64)
    for d in range(1, window + 1):
        a, b = _pairs(users, items, d)
        per_row += np.bincount(a, minlength=n_items) + np.bincount(b, minlength=n_items)
    budget = max(1, min(budget, -(-int(per_row.sum()) // min_blocks)))
    bounds, held = [0], 0
    for row, entries in enumerate(per_row.tolist()):  # greedy: close a block before it spills
        if held and held + entries > budget:
            bounds.append(row)
            held = 0
        held += entries
    bounds.append(n_items)
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _covisitation_rows(
    block: tuple[int, int],
    users: np.ndarray,
    items: np.ndarray,
    count: np.ndarray,
    n_items: int,
    window: int,
    top_k: int,
    popularity_alpha: float,
) -> sp.csr_matrix:
    """Rows [start, stop) of the co-visitation matrix, summed and cut to top_k; entries in
    the order of the all-at-once sum (distance, direction, position), so sums are equal."""
    start, stop = block
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for d in range(1, window + 1):
        a, b = _pairs(users, items, d)
        for row, col in ((a, b), (b, a)):
            keep = (row >= start) & (row < stop)
            rows.append(row[keep] - start)
            cols.append(col[keep])
            vals.append(np.full(int(keep.sum()), 1.0 / d, dtype=np.float64))
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    del rows, cols, vals
    v /= count[c] ** popularity_alpha
    matrix = sp.csr_matrix((v, (r, c)), shape=(stop - start, n_items), dtype=np.float64)
    del r, c, v
    matrix.sum_duplicates()
    return top_k_per_row(matrix, top_k)


def fit_covisitation(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    n_items: int,
    window: int = 10,
    top_k: int = 100,
    popularity_alpha: float = 0.5,
    runner: Runner | None = None,
) -> ItemNeighbors:
    """Symmetric 1/distance co-visitation within `window` steps of each user's time-ordered
    sequence, divided by ``count_j ** popularity_alpha``, top_k per row. Computed a block of
    item rows at a time (on ``runner``'s workers when it has several), joined in row order."""
    # int32 positions: a third of the time of int64 per pass over the log, half the memory
    small = max(n_items, int(np.max(user_idx, initial=0)) + 1) < np.iinfo(np.int32).max
    index_dtype = np.int32 if small else np.int64
    users = np.asarray(user_idx, dtype=index_dtype)
    items = np.asarray(item_idx, dtype=index_dtype)
    window = min(window, max(items.size - 1, 0))
    if window < 1:
        return ItemNeighbors(sp.csr_matrix((n_items, n_items), dtype=np.float32))
    # all pairs at once (20M consumptions x 10 distances x 2 directions) held ~18 GB
    runner = runner or LocalRunner()  # at least one block per worker
    blocks = _row_blocks(users, items, n_items, window, COVIS_BLOCK_ENTRIES, runner.workers)
    count = np.bincount(items, minlength=n_items).astype(np.float64)  # once, for every block
    shared = {"users": users, "items": items, "count": count, "n_items": n_items}
    shared["window"] = window
    shared |= {"top_k": top_k, "popularity_alpha": popularity_alpha}
    parts = runner.map_shards(_covisitation_rows, blocks, shared)
    matrix = sp.csr_matrix(sp.vstack(parts, format="csr"), dtype=np.float32)
    return ItemNeighbors(matrix)
