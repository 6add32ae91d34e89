"""Stage 4: vector indexes behind one protocol, and the build-time choice between them.

Every index does inner-product search over L2-normalised float32 rows and returns
``(scores, ids)`` of shape (n_queries, k): ids are row numbers, -1 where fewer than k
exist, scores descending. ``ExactIndex`` (numpy) and ``FaissIndex`` (flat, IVF or HNSW,
built on a GPU when faiss sees one, always saved and served as a CPU index) are
interchangeable and share contract tests.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from recsys.core.errors import ArtifactError, RecsysError
from recsys.core.progress import Progress
from recsys.core.runner import Runner, split


@runtime_checkable
class VectorIndex(Protocol):
    @property
    def dim(self) -> int: ...

    def __len__(self) -> int: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, path: Path) -> None: ...


def as_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    if queries.shape[1] != dim:
        raise ValueError(f"query dimension {queries.shape[1]} does not match index dimension {dim}")
    return queries


EXACT_BLOCK_ENTRIES = 1 << 24  # similarities computed at once by ExactIndex.search


class ExactIndex:
    """Brute-force inner product in numpy: the reference every other index is tested against."""

    def __init__(self, vectors: np.ndarray) -> None:
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    @property
    def dim(self) -> int:
        return int(self._vectors.shape[1])

    def __len__(self) -> int:
        return int(self._vectors.shape[0])

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = as_queries(queries, self.dim)
        n = len(self)
        scores = np.full((queries.shape[0], k), -np.inf, dtype=np.float32)
        ids = np.full((queries.shape[0], k), -1, dtype=np.int64)
        if n == 0 or k <= 0:
            return scores, ids
        take = min(k, n)
        # queries a block at a time: one (block x n) similarity matrix and its top-k, never
        # (queries x n) at once (500 queries over 1M vectors: 2 GB of similarities and 4 GB
        # of argpartition indices)
        block = max(1, EXACT_BLOCK_ENTRIES // n)
        for start in range(0, queries.shape[0], block):
            sims = queries[start : start + block] @ self._vectors.T
            top = np.argpartition(-sims, take - 1, axis=1)[:, :take]
            top_scores = np.take_along_axis(sims, top, axis=1)
            order = np.argsort(-top_scores, axis=1, kind="stable")
            ids[start : start + block, :take] = np.take_along_axis(top, order, axis=1)
            scores[start : start + block, :take] = np.take_along_axis(top_scores, order, axis=1)
        return scores, ids

    def save(self, path: Path) -> None:
        with open(path, "wb") as handle:  # np.save(path) would append ".npy" to other names
            np.save(handle, self._vectors)

    @classmethod
    def load(cls, path: Path) -> ExactIndex:
        return cls(np.load(path))


@dataclass
class IndexParams:
    """How the index was (or will be) built; recorded verbatim in the manifest."""

    kind: str = "auto"  # auto | flat | ivf | hnsw
    exact_threshold: int = 20_000  # auto: flat below this many vectors
    ivf_threshold: int = 1_000_000  # auto: hnsw below this many vectors, ivf from here on
    nlist: int | None = None  # ivf: default 4*sqrt(n)
    nprobe: int | None = None  # ivf: default tuned at build time to reach target_recall
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int | None = None  # hnsw: default tuned at build time to reach target_recall
    target_recall: float = 0.95
    device: str = "auto"  # auto (a GPU where faiss sees one) | cpu | gpu
    built_on: str = "cpu"
    recall_at_10: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexParams:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class FaissIndex:
    """A faiss index (CPU at serving time) with its runtime knobs applied on load."""

    def __init__(self, index: Any, params: IndexParams) -> None:
        self._index = index
        self.params = params
        self.apply_search_params()

    def apply_search_params(self) -> None:
        import faiss

        if self.params.kind == "ivf" and self.params.nprobe:
            faiss.extract_index_ivf(self._index).nprobe = int(self.params.nprobe)
        if self.params.kind == "hnsw" and self.params.ef_search:
            self._index.hnsw.efSearch = int(self.params.ef_search)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = as_queries(queries, self.dim)
        scores, ids = self._index.search(queries, k)
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        return scores, ids.astype(np.int64)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (faiss's own serialization): Ray ships indexes to its workers."""
        import faiss

        return {"index": faiss.serialize_index(self._index), "params": self.params}

    def __setstate__(self, state: dict[str, Any]) -> None:
        import faiss

        self._index = faiss.deserialize_index(state["index"])
        self.params = state["params"]
        self.apply_search_params()

    @classmethod
    def load(cls, path: Path, params: IndexParams) -> FaissIndex:
        import faiss

        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise ArtifactError(f"cannot read faiss index {path}: {exc}") from exc
        return cls(index, params)


IVF_TRAIN_POINTS_PER_LIST = 64


def gpu_count() -> int:
    try:
        import faiss

        return int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0
    except Exception:  # noqa: BLE001 - a broken GPU runtime means "no GPU"
        return 0


def _add_in_chunks(index: Any, vectors: np.ndarray, chunk: int = 50_000) -> None:
    """``index.add`` a chunk at a time (the same index), reporting progress on large ones."""
    progress = (
        Progress(len(vectors), "vector index", unit="vectors") if len(vectors) > chunk else None
    )
    for start in range(0, len(vectors), chunk):
        index.add(vectors[start : start + chunk])
        if progress is not None:
            progress.advance(min(chunk, len(vectors) - start))
    if progress is not None:
        progress.close()


SHARD_MIN = 50_000  # fewer vectors are added in place, whatever the runner


def _add_in_shards(index: Any, vectors: np.ndarray, runner: Runner, ids_stored: bool) -> Any:
    """The trained (empty) index filled shard by shard in parallel, merged in shard order:
    inverted lists (and flat codes) end up in the order a single ``add`` gives."""
    import faiss

    trained = faiss.serialize_index(index)
    shards = [vectors[start:stop] for start, stop in split(len(vectors), runner.workers)]
    filled = runner.map_shards(_filled_shard, shards, {"trained": trained})
    merged = faiss.deserialize_index(filled[0])
    for part in filled[1:]:
        # IVF stores ids (shift the shard's by what is there); flat ids are positions
        merged.merge_from(faiss.deserialize_index(part), merged.ntotal if ids_stored else 0)
    return merged


def _filled_shard(shard: np.ndarray, trained: np.ndarray) -> np.ndarray:
    import faiss

    index = faiss.deserialize_index(trained)
    index.add(np.ascontiguousarray(shard, dtype=np.float32))
    return faiss.serialize_index(index)


def _on_gpu(params: IndexParams, kind: str) -> bool:
    """Train and add on the GPU? ``gpu`` without one faiss can use is an error; HNSW has no
    faiss GPU build, so it stays on the CPU (recorded in ``extra``)."""
    import faiss

    if params.device not in {"auto", "cpu", "gpu"}:
        raise RecsysError(f"index device must be auto, cpu or gpu, not {params.device!r}")
    usable = gpu_count() > 0 and hasattr(faiss, "StandardGpuResources")
    if params.device == "gpu" and not usable:
        raise RecsysError(
            "a GPU index build was asked for, but faiss sees no GPU (faiss-cpu installed, or "
            "no CUDA device): install with `make install-gpu` on a GPU machine"
        )
    if params.device != "cpu" and usable and kind == "hnsw":
        params.extra["gpu_skipped"] = "faiss has no GPU HNSW; built on the CPU"
        return False
    return params.device != "cpu" and usable


def resolve_kind(params: IndexParams, n: int) -> str:
    if params.kind != "auto":
        return params.kind
    if n < params.exact_threshold:
        return "flat"
    return "hnsw" if n < params.ivf_threshold else "ivf"


def _factory(kind: str, dim: int, n: int, params: IndexParams) -> tuple[str, IndexParams]:
    if kind == "flat":
        return "Flat", params
    if kind == "ivf":
        nlist = params.nlist or max(1, min(int(4 * math.sqrt(n)), n // 39 or 1))
        params.nlist = nlist
        return f"IVF{nlist},Flat", params
    if kind == "hnsw":
        return f"HNSW{params.hnsw_m},Flat", params
    raise ValueError(f"unknown index kind {kind!r}; expected auto, flat, ivf or hnsw")


def recall_at_k(
    approx_ids: np.ndarray,
    exact_ids: np.ndarray,
    k: int = 10,
    approx_scores: np.ndarray | None = None,
    exact_scores: np.ndarray | None = None,
) -> float:
    """Share of the exact top-k that the approximate top-k found, averaged over queries.

    With scores given, ties are forgiven: an approximate hit scoring at least the exact k-th
    score (within 1e-5) counts, whichever of several equal-scored rows either side returned.
    """
    hits = []
    for row, (a, e) in enumerate(zip(approx_ids, exact_ids, strict=True)):
        a, e = a[:k], e[:k]
        wanted = max(1, int((e >= 0).sum()))
        found = len(set(a[a >= 0]) & set(e[e >= 0]))
        if approx_scores is not None and exact_scores is not None:
            kth = exact_scores[row][:k][e >= 0].min() if (e >= 0).any() else np.inf
            found = int(((a >= 0) & (approx_scores[row][:k] >= kth - 1e-5)).sum())
        hits.append(min(found, wanted) / wanted)
    return float(np.mean(hits)) if hits else 1.0


def build_index(
    vectors: np.ndarray,
    params: IndexParams | None = None,
    sample_queries: int = 500,
    seed: int = 0,
    runner: Runner | None = None,
) -> FaissIndex:
    """Build the index the collection size calls for; measure recall@10 against exact search.

    For IVF without an explicit nprobe, the smallest nprobe reaching ``target_recall`` on
    sampled vectors (the documents themselves, as queries) is chosen and recorded.
    """
    import faiss

    params = IndexParams(**{**(params or IndexParams()).to_dict()})
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    kind = resolve_kind(params, n)
    spec, params = _factory(kind, dim, n, params)
    params.kind = kind
    index = faiss.index_factory(dim, spec, faiss.METRIC_INNER_PRODUCT)
    if kind == "hnsw":
        index.hnsw.efConstruction = params.ef_construction  # type: ignore[attr-defined]
    if kind == "ivf":
        # k-means on a sample of IVF_TRAIN_POINTS_PER_LIST x nlist vectors (faiss's default,
        # 256, is the whole million at 1M vectors: ~13 min on 2 cores for no recall gained)
        faiss.extract_index_ivf(index).cp.max_points_per_centroid = IVF_TRAIN_POINTS_PER_LIST
        params.extra["train_points"] = min(n, IVF_TRAIN_POINTS_PER_LIST * int(params.nlist or 1))
    if _on_gpu(params, kind):
        resources = faiss.StandardGpuResources()
        gpu_index = faiss.index_cpu_to_gpu(resources, 0, index)
        gpu_index.train(vectors)
        gpu_index.add(vectors)
        index = faiss.index_gpu_to_cpu(gpu_index)
        params.built_on = "gpu"
    else:
        index.train(vectors)
        if runner is not None and runner.workers > 1 and kind != "hnsw" and n > SHARD_MIN:
            index = _add_in_shards(index, vectors, runner, ids_stored=kind == "ivf")
            params.extra["add_shards"] = runner.workers
        else:
            _add_in_chunks(index, vectors)
        params.built_on = "cpu"

    rng = np.random.default_rng(seed)
    sample = vectors[rng.choice(n, size=min(sample_queries, n), replace=False)] if n else vectors
    exact_scores, exact_ids = ExactIndex(vectors).search(sample, 10)
    built = FaissIndex(index, params)

    def measured() -> float:
        scores, ids = built.search(sample, 10)
        return recall_at_k(ids, exact_ids, 10, scores, exact_scores)

    if kind == "ivf" and params.nprobe is None and params.nlist:
        for nprobe in (1, 2, 4, 8, 16, 32, 64, 128, 256):
            params.nprobe = min(nprobe, params.nlist)
            built.apply_search_params()
            if measured() >= params.target_recall:
                break
    if kind == "hnsw" and params.ef_search is None:
        # from 64 up: document vectors as queries are easier than real text queries
        # (measured: ef 16 met the target on documents but found 86% on bench queries)
        for ef in (64, 128, 256, 512):
            params.ef_search = ef
            built.apply_search_params()
            if measured() >= params.target_recall:
                break
    params.recall_at_10 = measured()
    params.extra["sample_queries"] = int(sample.shape[0])
    if kind in {"ivf", "hnsw"} and params.recall_at_10 < params.target_recall:
        # no search setting reached the target: an exact index is the honest choice
        fallback = IndexParams(
            **{**params.to_dict(), "kind": "flat", "nprobe": None, "ef_search": None}
        )
        fallback.extra["fallback_from"] = {"kind": kind, "recall_at_10": params.recall_at_10}
        return build_index(vectors, fallback, sample_queries, seed, runner)
    return built
