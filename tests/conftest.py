"""Shared fixtures for every test: offline model loading, synthetic vectors."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.postgres_server import REQUIRE_ENV, PostgresServer, find_bin  # noqa: E402

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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (tests/postgres_server.py); each test that uses
    it gets a fresh database through ``postgres_url``."""
    bindir = find_bin()
    if bindir is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail("PostgreSQL server binaries not found (apt-get install postgresql)")
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    server = PostgresServer(bindir)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A new, empty database on the session's server."""
    import psycopg

    name = f"t{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
