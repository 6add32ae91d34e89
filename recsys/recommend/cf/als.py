"""Implicit-feedback ALS (through the ``implicit`` package), with least-squares fold-in."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from recsys.recommend.cf.sparse import top_k_of_row


@dataclass
class AlsModel:
    user_factors: np.ndarray  # (n_users, f) float32
    item_factors: np.ndarray  # (n_items, f) float32
    regularization: float = 0.05
    alpha: float = 10.0  # confidence of an observed interaction, as in implicit (c = alpha * x)

    @property
    def n_items(self) -> int:
        return int(self.item_factors.shape[0])

    def scores(self, items: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Fold-in scores for a history (ALS confidence is binary: ``weights`` are not used)."""
        return self.fold_in(items)

    def similar(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine of the item factors (never the item itself)."""
        factors = self.item_factors.astype(np.float64)
        norms = np.linalg.norm(factors, axis=1)
        cosine = factors @ factors[item] / np.maximum(norms * norms[item], 1e-12)
        others = np.flatnonzero(np.arange(len(cosine)) != item)
        return top_k_of_row(others, cosine[others].astype(np.float32), k)

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
