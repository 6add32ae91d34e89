"""Stage 3b: documents -> embedding matrix, with a content-addressed cache.

Vectors are cached per encoder fingerprint (model, document prompt, max length, dim) and
per text hash, so a rebuild after a data change encodes only new or changed documents.
The cache is a pair of .npy files written atomically; a corrupt cache is ignored, never fatal.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys.search.encoder import Encoder

log = logging.getLogger(__name__)
KEY_BYTES = 16


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()[:KEY_BYTES]


@dataclass
class EmbeddingStats:
    total: int  # documents asked for
    cached: int  # served from the cache
    encoded: int  # distinct texts run through the encoder
    deduplicated: int = 0  # repeats of a text encoded in the same call

    def to_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "cached": self.cached,
            "encoded": self.encoded,
            "deduplicated": self.deduplicated,
        }


class EmbeddingCache:
    """{text hash -> vector} for one encoder fingerprint, stored as keys.npy + vectors.npy."""

    def __init__(self, root: Path, fingerprint: str, dim: int) -> None:
        self.dir = root / fingerprint
        self.dim = dim
        self._index: dict[bytes, int] = {}
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self._load()

    @contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        """keys.npy and vectors.npy change together: builds sharing a cache take turns."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "a") as lock:
            fcntl.flock(lock, mode)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> None:
        keys_path, vec_path = self.dir / "keys.npy", self.dir / "vectors.npy"
        if not (keys_path.exists() and vec_path.exists()):
            return
        try:
            with self._locked(fcntl.LOCK_SH):
                keys = np.load(keys_path)
                vectors = np.load(vec_path).astype(np.float32)
        except (OSError, ValueError, EOFError) as exc:
            log.warning("ignoring unreadable embedding cache %s: %s", self.dir, exc)
            return
        if (
            keys.ndim != 2
            or keys.shape[1] != KEY_BYTES
            or len(keys) != len(vectors)
            or vectors.ndim != 2
            or vectors.shape[1] != self.dim
        ):
            log.warning("ignoring inconsistent embedding cache %s", self.dir)
            return
        self._vectors = vectors
        # keys are stored as an (n, KEY_BYTES) uint8 matrix: numpy "S" strings would drop
        # trailing NUL bytes and silently miss ~1 key in 256
        self._index = {row.tobytes(): i for i, row in enumerate(keys)}

    def __len__(self) -> int:
        return len(self._index)

    def get(self, keys: Sequence[bytes]) -> tuple[np.ndarray, list[int]]:
        """Vectors for the keys found (zeros elsewhere) and the positions that were missing."""
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        missing: list[int] = []
        for pos, key in enumerate(keys):
            row = self._index.get(key)
            if row is None:
                missing.append(pos)
            else:
                out[pos] = self._vectors[row]
        return out, missing

    def add(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        new = [(k, v) for k, v in zip(keys, vectors, strict=True) if k not in self._index]
        if not new:
            return
        start = len(self._vectors)
        self._vectors = np.vstack([self._vectors, np.stack([v for _, v in new])])
        for offset, (key, _) in enumerate(new):
            self._index[key] = start + offset

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        keys = np.frombuffer(b"".join(self._index), dtype=np.uint8).reshape(-1, KEY_BYTES)
        order = np.array(list(self._index.values()), dtype=np.int64)
        with self._locked(fcntl.LOCK_EX):
            for name, array in (("keys.npy", keys), ("vectors.npy", self._vectors[order])):
                tmp = self.dir / f".{name}.{os.getpid()}.tmp"
                with open(tmp, "wb") as handle:
                    np.save(handle, array)
                os.replace(tmp, self.dir / name)


ENCODE_CHUNK = 4096
# texts in encoding order, batch size, chunk size -> their vectors (e.g. on Ray)
EncodeFn = Callable[[list[str], int, int], np.ndarray]


def encoding_order(texts: Sequence[str]) -> list[int]:
    """Length-sorted, so every batch pads to similar lengths (local and Ray builds alike)."""
    return sorted(range(len(texts)), key=lambda i: len(texts[i]))


def _encode_in_chunks(
    texts: list[str],
    encoder: Encoder,
    batch_size: int,
    progress: bool,
    chunk: int = ENCODE_CHUNK,
    encode: EncodeFn | None = None,
) -> np.ndarray:
    """Encode in chunks so a long build logs its progress (and rate) as it goes; or hand the
    texts, in the same order and chunks, to ``encode`` (another engine's encoders)."""
    order = encoding_order(texts)
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    if encode is not None:
        out[order] = encode([texts[i] for i in order], batch_size, chunk)
        return out
    start = time.perf_counter()
    for offset in range(0, len(order), chunk):
        rows = order[offset : offset + chunk]
        out[rows] = encoder.encode_documents(
            [texts[i] for i in rows], batch_size=batch_size, progress=progress
        )
        done = offset + len(rows)
        rate = done / max(time.perf_counter() - start, 1e-9)
        log.info("encoded %d/%d documents (%.0f/s)", done, len(texts), rate)
    return out


def embed_texts(
    texts: Sequence[str],
    encoder: Encoder,
    cache_dir: Path | None = None,
    batch_size: int = 64,
    progress: bool = True,
    encode: EncodeFn | None = None,
) -> tuple[np.ndarray, EmbeddingStats]:
    """Encode documents, reusing cached vectors; returns (matrix in input order, stats).
    ``encode`` runs the encoding elsewhere (``recsys build --engine ray``)."""
    keys = [text_key(t) for t in texts]
    cache = (
        EmbeddingCache(cache_dir, encoder.config.fingerprint(), encoder.dim) if cache_dir else None
    )
    if cache is None:
        vectors, missing = (
            np.zeros((len(texts), encoder.dim), dtype=np.float32),
            list(range(len(texts))),
        )
    else:
        vectors, missing = cache.get(keys)
    distinct = 0  # texts actually run through the encoder
    if missing:
        # unique texts only: titles repeat across items
        unique: dict[bytes, int] = {}
        for pos in missing:
            unique.setdefault(keys[pos], pos)
        order = list(unique.values())
        distinct = len(order)
        encoded = _encode_in_chunks(
            [texts[p] for p in order], encoder, batch_size, progress, encode=encode
        )
        by_key = {keys[p]: encoded[i] for i, p in enumerate(order)}
        for pos in missing:
            vectors[pos] = by_key[keys[pos]]
        if cache is not None:
            cache.add([keys[p] for p in order], encoded)
            cache.save()
    stats = EmbeddingStats(len(texts), len(texts) - len(missing), distinct, len(missing) - distinct)
    return vectors, stats


STORED_DTYPE = np.float16  # vectors.npy precision in an artifact


def as_stored(vectors: np.ndarray) -> np.ndarray:
    """The float32 values the engine will read back from an artifact's vectors.npy."""
    return vectors.astype(STORED_DTYPE).astype(np.float32)
