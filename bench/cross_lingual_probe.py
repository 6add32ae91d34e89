"""Where multilingual descriptions fail: exact dense ranks over the artifact's content vectors
alone, for the `dev` cross-lingual and English description queries, with variants of the
query side (prompt, pseudo-relevance feedback) and, optionally, of the documents
(description-only texts, re-encoded: minutes).

    python -m bench.cross_lingual_probe --artifacts DIR [--description-documents] [--out FILE]

It answers one question: can fusion or ranking still lift these kinds, or does the encoder's
own ranking bound them? Only `dev` is read.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import DEFAULT_QUERIES, RESULTS_DIR, load_queries, run_header, write_json

KINDS = ("cross_lingual_description", "english_description")
MISSING = 10_000  # rank recorded when the item is not among the first 1,000


def ranks(
    queries: np.ndarray, docs: np.ndarray, doc_items: list[str], relevant: list[set[str]]
) -> list[int]:
    scores = queries @ docs.T
    out = []
    for row, wanted in zip(scores, relevant, strict=True):
        order = np.argsort(-row)[:1000]
        hit = [r for r, j in enumerate(order, 1) if doc_items[j] in wanted]
        out.append(hit[0] if hit else MISSING)
    return out


def summarize(name: str, rank_list: list[int], kinds: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for kind in KINDS:
        rs = [r for r, k in zip(rank_list, kinds, strict=True) if k == kind]
        result[kind] = {
            "recall@10": round(float(np.mean([r <= 10 for r in rs])), 3),
            "in_top_25": round(float(np.mean([r <= 25 for r in rs])), 3),
            "beyond_300": int(sum(r > 300 for r in rs)),
            "ranks": sorted(rs),
        }
        print(
            f"{name:32s} {kind:28s} recall@10 {result[kind]['recall@10']:.3f}  "
            f"top-25 {result[kind]['in_top_25']:.3f}  beyond 300: {result[kind]['beyond_300']}"
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    parser.add_argument("--description-documents", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "cross_lingual_probe.json")
    args = parser.parse_args(argv)

    import polars as pl

    from recsys.core.artifacts import load_manifest
    from recsys.search.encoder import EncoderConfig, load_encoder

    directory, manifest = load_manifest(args.artifacts, verify_checksums=False)
    encoder: Any = load_encoder(EncoderConfig.from_dict(manifest.encoder), backend="torch")
    documents = pl.read_parquet(directory / "documents.parquet").filter(pl.col("kind") == "content")
    vectors = np.load(directory / "vectors.npy")[documents["doc_id"].to_numpy()]
    doc_items = documents["item_id"].to_list()
    queries = [q for q in load_queries(args.queries, "dev") if q.kind in KINDS]
    texts, kinds = [q.query for q in queries], [q.kind for q in queries]
    relevant = [set(q.relevant) for q in queries]
    payload: dict[str, Any] = {**run_header(), "model": manifest.encoder["model"], "variants": {}}

    def run(
        name: str, q: np.ndarray, docs: np.ndarray = vectors, items: list[str] = doc_items
    ) -> None:
        payload["variants"][name] = summarize(name, ranks(q, docs, items, relevant), kinds)

    base = encoder.encode_queries(texts)
    run("content documents, query prompt", base)
    model = encoder._model  # the sentence-transformers model: other prompts
    for prompt in ("passage: ", None):
        q = model.encode(texts, prompt=prompt, normalize_embeddings=True)
        run(f"query prompt {prompt!r}", np.asarray(q, dtype=np.float32))
    for k, weight in ((3, 0.3), (10, 0.5)):
        top = np.argsort(-(base @ vectors.T), axis=1)[:, :k]
        expanded = base + weight * vectors[top].mean(axis=1)
        expanded /= np.linalg.norm(expanded, axis=1, keepdims=True)
        run(f"feedback from top {k} (weight {weight})", expanded)
    if args.description_documents:
        catalog = pl.read_parquet(directory / "catalog.parquet")
        descriptions = [
            d or t for t, d in zip(catalog["title"], catalog["description"], strict=True)
        ]
        docs = encoder.encode_documents(descriptions, batch_size=64, progress=True)
        run("description-only documents", base, docs, catalog["item_id"].to_list())
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
