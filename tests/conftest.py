"""Shared fixtures for every test: offline model loading, synthetic vectors."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

DIM = 32
CENTERS = 50


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def clustered_vectors(n: int, seed: int, noise: float = 0.15) -> np.ndarray:
    """n unit vectors around CENTERS fixed random unit centers (easy for IVF and HNSW)."""
    centers = unit_rows(np.random.default_rng(0).standard_normal((CENTERS, DIM)))
    rng = np.random.default_rng(seed)
    rows = centers[rng.integers(0, CENTERS, n)] + noise * rng.standard_normal((n, DIM))
    return unit_rows(rows)


@pytest.fixture(scope="session")
def corpus() -> np.ndarray:
    """3,000 clustered unit vectors in 32 dimensions."""
    return clustered_vectors(3000, seed=1)


@pytest.fixture(scope="session")
def queries() -> np.ndarray:
    """200 held-out queries around the same centers as `corpus`."""
    return clustered_vectors(200, seed=2)
