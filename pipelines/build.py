"""The offline build: data/ -> catalog -> documents -> embeddings -> index -> artifact.

``build()`` is a plain function; ``recsys build`` (pipelines.cli) is its thin CLI.
It works on any copy of data/ (a subset, ratings truncated at a date, ...): every input
is read from ``data_dir`` and its checksum is recorded in the manifest.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsys.catalog.documents import build_documents
from recsys.catalog.ingest import build_catalog
from recsys.catalog.items import ItemTable
from recsys.catalog.schema import validate_catalog
from recsys.core.artifacts import Manifest, code_version, publish, sha256_file
from recsys.core.errors import InputDataError
from recsys.history.interactions import leave_last_n, read_movielens_interactions
from recsys.history.logged_events import (
    LoggedInteractions,
    check_events_db,
    load_logged_interactions,
)
from recsys.ranking.features import ItemSide, item_vectors
from recsys.ranking.lists import train_on_lists
from recsys.ranking.search_training import search_lists
from recsys.recommend.config import RecsysConfig
from recsys.recommend.personalization import Personalization, fit_personalization
from recsys.search.embeddings import STORED_DTYPE, as_stored, embed_texts
from recsys.search.encoder import Encoder, EncoderConfig, load_encoder
from recsys.search.hybrid import HybridSearcher, SearchOptions
from recsys.search.lexical import LexicalIndex
from recsys.search.vector_index import IndexParams, build_index

log = logging.getLogger(__name__)
CACHE_SUBDIR = ".cache/embeddings"


@dataclass
class BuildOptions:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    index: IndexParams = field(default_factory=IndexParams)
    device: str | None = None
    batch_size: int = 64
    use_cache: bool = True
    progress: bool = True
    limit_items: int | None = None  # build on the first N items (smoke builds)
    config: RecsysConfig = field(default_factory=RecsysConfig.load)
    train_search_ranker: bool = True
    cache_dir: Path | None = None  # embedding cache; default <out>/.cache/embeddings
    events_db: Path | None = None  # also learn from the service's logged events (SQLite store)


def input_checksums(data_dir: Path) -> dict[str, str]:
    files = sorted(p for p in data_dir.rglob("*") if p.is_file() and p.suffix in {".csv", ".txt"})
    return {str(p.relative_to(data_dir)): sha256_file(p) for p in files}


def build(
    data_dir: Path,
    out_dir: Path,
    options: BuildOptions | None = None,
    encoder: Encoder | None = None,
) -> Path:
    """Run every offline stage and publish a new artifact version; returns its directory."""
    options = options or BuildOptions()
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if not data_dir.is_dir():
        raise InputDataError(str(data_dir), "data directory does not exist")
    if options.events_db is not None:
        check_events_db(options.events_db)
    timings: dict[str, float] = {}

    start = time.perf_counter()
    catalog, ingest_report = build_catalog(data_dir)
    if options.limit_items:
        catalog = catalog.head(options.limit_items)
    validate_catalog(catalog)
    timings["catalog_s"] = time.perf_counter() - start
    for line in ingest_report.summary_lines():
        log.info("catalog: %s", line)

    start = time.perf_counter()
    documents = build_documents(catalog)
    timings["documents_s"] = time.perf_counter() - start

    start = time.perf_counter()
    encoder = encoder or load_encoder(options.encoder, device=options.device)
    timings["encoder_load_s"] = time.perf_counter() - start
    start = time.perf_counter()
    cache_dir = (options.cache_dir or out_dir / CACHE_SUBDIR) if options.use_cache else None
    vectors, embed_stats = embed_texts(
        documents["text"].to_list(), encoder, cache_dir, options.batch_size, options.progress
    )
    timings["embed_s"] = time.perf_counter() - start
    log.info("embeddings: %s", embed_stats.to_dict())

    start = time.perf_counter()
    index = build_index(vectors, options.index)
    timings["index_s"] = time.perf_counter() - start
    log.info("index: %s", index.params.to_dict())
    start = time.perf_counter()
    lexical = LexicalIndex.build(catalog)
    timings["lexical_s"] = time.perf_counter() - start
    log.info("lexical index: %d terms, %d postings", len(lexical.vocab), lexical.matrix().nnz)

    start = time.perf_counter()
    interactions, interaction_reports = read_movielens_interactions(data_dir, catalog)
    logged: LoggedInteractions | None = None
    if options.events_db is not None:
        logged = load_logged_interactions(
            options.events_db, catalog, interactions["user_id"].unique().to_list()
        )
        interactions = pl.concat([interactions, logged.frame]).sort("user_id", "ts", "item_id")
        interaction_reports[logged.report.name] = logged.report
        log.info("logged events: %s", logged.summary)
    items = ItemTable(catalog)
    doc_items = items.positions(documents["item_id"].to_list())
    doc_kinds = documents["kind"].to_numpy()
    # the engine serves float16-stored vectors: train on exactly those values, so build-time
    # features equal served features bit for bit
    served = as_stored(vectors)
    side = ItemSide.from_catalog(catalog, item_vectors(doc_items, doc_kinds, served, len(items)))
    item_index = build_index(side.vectors, IndexParams(kind="auto"))
    personal = fit_personalization(interactions, items, side, item_index, options.config)
    timings["personalization_s"] = time.perf_counter() - start
    if options.train_search_ranker and personal.ranker is not None:
        start = time.perf_counter()
        searcher = HybridSearcher.from_arrays(
            items,
            doc_items,
            doc_kinds,
            served,
            index,
            encoder,
            SearchOptions(query_cache_size=0),
            lexical,
        )
        _train_search_ranker(personal, searcher, catalog, options.config)
        timings["search_ranker_s"] = time.perf_counter() - start
    personal.info["interactions_report"] = {k: v.to_dict() for k, v in interaction_reports.items()}
    if logged is not None:
        personal.info["logged_events"] = logged.summary

    inputs = input_checksums(data_dir)
    hashed: tuple[object, ...] = (sorted(inputs.items()), encoder.config.fingerprint())
    if logged is not None:  # the events are an input too (a build without them hashes as before)
        hashed += (logged.summary["sha256"],)
    content_hash = hashlib.sha256(repr(hashed).encode()).hexdigest()

    def write(tmp: Path) -> Manifest:
        catalog.write_parquet(tmp / "catalog.parquet")
        documents.write_parquet(tmp / "documents.parquet")
        np.save(tmp / "vectors.npy", vectors.astype(STORED_DTYPE))
        index.save(tmp / "index.faiss")
        lexical.save(tmp / "lexical.npz")
        personalization = personal.save(tmp)
        return Manifest(
            version="",
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            code_version=code_version(),
            encoder=encoder.config.to_dict(),
            index=index.params.to_dict(),
            counts=_counts(catalog, documents),
            files={},
            inputs=inputs,
            reports={
                "ingest": ingest_report.to_dict(),
                "embeddings": embed_stats.to_dict(),
                "timings_s": {k: round(v, 3) for k, v in timings.items()},
            },
            personalization=personalization,
            lexical=lexical.params.to_dict(),
        )

    final = publish(out_dir, content_hash, write)
    log.info("published %s", final)
    return final


def _train_search_ranker(
    personal: Personalization,
    searcher: HybridSearcher,
    catalog: pl.DataFrame,
    config: RecsysConfig,
) -> None:
    """Personal search: lists of (user, derived query, search results) on the same temporal
    split as the recommendation ranker."""
    split = leave_last_n(personal.log, config.split.holdout, config.split.min_history)
    lists, kinds = search_lists(
        split,
        personal.models.side,
        personal.models.stats,
        searcher,
        catalog,
        config.search_training,
        config.features,
    )
    if len(lists.groups) < 10:
        personal.info["search_ranker"] = {"skipped": f"only {len(lists.groups)} usable lists"}
        return
    ranker, report = train_on_lists(lists, config.ranker, config.split.valid_share)
    report["query_kinds"] = {k: kinds.count(k) for k in sorted(set(kinds))}
    report["target_retrieved"] = report.pop("candidate_recall")
    personal.search_ranker = ranker
    personal.info["search_ranker"] = report
    log.info("search ranker: %s", report)


def _counts(catalog: pl.DataFrame, documents: pl.DataFrame) -> dict[str, Any]:
    by_type = dict(catalog.group_by("type").len().iter_rows())
    by_kind = dict(documents.group_by("kind").len().iter_rows())
    return {
        "items": catalog.height,
        "documents": documents.height,
        **{f"items_{k}": int(v) for k, v in sorted(by_type.items())},
        **{f"documents_{k}": int(v) for k, v in sorted(by_kind.items())},
    }
