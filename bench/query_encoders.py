"""Query encoding per backend, one thread: PyTorch, ONNX Runtime fp32 and int8, for both
bundled models; latency per query (every query of the set, one at a time, after a warm-up)
and cosine to the PyTorch vectors.

    python -m bench.query_encoders [--models bundled:all-MiniLM-L6-v2 ...] [--out FILE]

Retrieval quality per backend is ``bench.search_quality --query-encoder B``; end-to-end
latency is ``bench.search_latency --query-encoder B``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    DEFAULT_QUERIES,
    RESULTS_DIR,
    load_queries,
    percentile,
    run_header,
    write_json,
)

BACKENDS = ("torch", "onnx", "onnx-int8")
WARMUP = 20


def measure(encoder: Any, texts: list[str]) -> tuple[dict[str, float], np.ndarray]:
    for text in texts[:WARMUP]:
        encoder.encode_queries([text])
    times, rows = [], []
    for text in texts:
        started = time.perf_counter()
        rows.append(encoder.encode_queries([text])[0])
        times.append((time.perf_counter() - started) * 1000)
    latency = {f"p{q}": round(percentile(times, q), 2) for q in (50, 99)}
    return latency, np.stack(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    parser.add_argument(
        "--models", nargs="+", default=["bundled:all-MiniLM-L6-v2", "bundled:multilingual-e5-small"]
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "query_encoders.json")
    args = parser.parse_args(argv)

    import torch

    from recsys.search.encoder import EncoderConfig, load_encoder, model_prompts

    torch.set_num_threads(1)  # as the service pins it
    texts = [query.query for query in load_queries(args.queries)]
    payload: dict[str, Any] = {**run_header(), "queries": len(texts), "threads": 1, "models": {}}
    for model in args.models:
        query_prompt, document_prompt = model_prompts(model)
        config = EncoderConfig(
            model=model, query_prompt=query_prompt, document_prompt=document_prompt
        )
        results: dict[str, Any] = {}
        reference = None
        for backend in BACKENDS:
            latency, vectors = measure(load_encoder(config, "cpu", backend, threads=1), texts)
            reference = vectors if reference is None else reference
            cosine = (vectors * reference).sum(axis=1)
            results[backend] = {
                "latency_ms": latency,
                "cosine_to_torch": {
                    "min": round(float(cosine.min()), 4),
                    "mean": round(float(cosine.mean()), 4),
                },
            }
            print(f"{model} {backend}: {results[backend]}")
        payload["models"][model] = results
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
