"""The build's parallel stages on a local Ray with 1 and 2 workers: speed-up, and the
per-worker rates a cluster's cost is projected from.

    python -m bench.ray_stages --artifacts /tmp/scale/artifacts-1000000-200000-20000000-0 \\
        [--encode-docs 8000] [--encoder bundled:all-MiniLM-L6-v2] [--index-vectors 1000000] \\
        [--out bench/results/ray_stages.json]

* encode: ``--encode-docs`` documents of the artifact through ``RayRunner.encode`` (an actor
  pool of encoders, the local batch order), and the same in this process for reference;
* index: an IVF index over ``--index-vectors`` of the artifact's vectors, trained once and
  filled in 1 or 2 shards (``vector_index._add_in_shards``), merged.

Each worker count gets its own ``ray.init(num_cpus=N)``. The projection: a cluster of W
workers at the 1-worker rate (an upper bound, since 2 workers on this machine share its
memory bandwidth), for the whole catalog.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench.common import RESULTS_DIR, run_header, write_json
from recsys.core.artifacts import resolve_artifact_dir
from recsys.search.embeddings import ENCODE_CHUNK, encoding_order
from recsys.search.encoder import EncoderConfig, load_encoder
from recsys.search.vector_index import IndexParams, build_index


def encode_local(texts: list[str], config: EncoderConfig) -> float:
    encoder = load_encoder(config)
    started = time.perf_counter()
    for start in range(0, len(texts), ENCODE_CHUNK):
        encoder.encode_documents(texts[start : start + ENCODE_CHUNK], batch_size=64)
    return time.perf_counter() - started


def on_ray(
    workers: int, texts: list[str], config: EncoderConfig, vectors: np.ndarray, chunk: int
) -> dict:
    import ray

    from pipelines.ray_engine import RayRunner

    runner = RayRunner(num_cpus=workers)
    try:
        runner.encode(texts[:256], config.to_dict(), 64, chunk)  # actors warm (model load)
        started = time.perf_counter()
        runner.encode(texts, config.to_dict(), 64, chunk)
        encode_s = time.perf_counter() - started
        params = IndexParams(kind="ivf")  # nprobe tuned to the recall target, as in a build
        started = time.perf_counter()
        index = build_index(vectors, params, sample_queries=200, runner=runner)
        index_s = time.perf_counter() - started
    finally:
        ray.shutdown()
    return {
        "workers": workers,
        "encode_s": round(encode_s, 1),
        "encode_docs_per_s": round(len(texts) / encode_s, 1),
        "index_s": round(index_s, 1),
        "index_vectors_per_s": round(len(vectors) / index_s, 1),
        "index": {k: index.params.to_dict()[k] for k in ("kind", "nlist", "nprobe", "extra")},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--encode-docs", type=int, default=8000)
    parser.add_argument("--encoder", default="bundled:all-MiniLM-L6-v2")
    parser.add_argument("--index-vectors", type=int, default=1_000_000)
    parser.add_argument("--cluster-workers", type=int, default=32)
    parser.add_argument(
        "--chunk", type=int, default=500, help="documents per actor batch (a build: 4096)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "ray_stages.json")
    args = parser.parse_args(argv)
    version = resolve_artifact_dir(args.artifacts)
    documents = pl.read_parquet(version / "documents.parquet", columns=["text"])
    texts = documents["text"].sample(args.encode_docs, seed=0).to_list()
    texts = [texts[i] for i in encoding_order(texts)]
    vectors = np.load(version / "vectors.npy", mmap_mode="r")[: args.index_vectors]
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    config = EncoderConfig(model=args.encoder)
    local_s = encode_local(texts, config)
    runs = [on_ray(workers, texts, config, vectors, args.chunk) for workers in (1, 2)]
    one, two = runs
    total_docs = documents.height
    payload: dict[str, Any] = {
        **run_header(),
        "artifact": str(version),
        "encoder": args.encoder,
        "encode_docs": len(texts),
        "index_vectors": len(vectors),
        "local_encode_docs_per_s": round(len(texts) / local_s, 1),
        "runs": runs,
        "speedup_2_workers": {
            "encode": round(one["encode_s"] / two["encode_s"], 2),
            "index": round(one["index_s"] / two["index_s"], 2),
        },
        "projection": {
            "catalog_documents": total_docs,
            "cluster_workers": args.cluster_workers,
            "encode_hours_on_1_worker": round(total_docs / one["encode_docs_per_s"] / 3600, 2),
            "encode_minutes_on_cluster": round(
                total_docs / (one["encode_docs_per_s"] * args.cluster_workers) / 60, 1
            ),
            "worker_hours_per_full_encode": round(total_docs / one["encode_docs_per_s"] / 3600, 2),
        },
    }
    print(payload["speedup_2_workers"], payload["projection"])
    write_json(args.out, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
