"""The offline build: data/ -> catalog -> documents -> embeddings -> index -> artifact.

``build()`` is a plain function; ``recsys build`` (pipelines.cli) is its thin CLI.
It works on any copy of data/ (a subset, ratings truncated at a date, ...): every input
is read from ``data_dir`` and its checksum is recorded in the manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pipelines.search_training import (
    calibrate_relevance,
    click_learning,
    train_anonymous_search_ranker,
    train_personal_search_ranker,
)
from recsys.catalog.documents import build_documents
from recsys.catalog.ingest import build_catalog
from recsys.catalog.items import ItemTable
from recsys.catalog.schema import validate_catalog
from recsys.core.artifacts import Manifest, code_version, publish, sha256_file
from recsys.core.errors import InputDataError
from recsys.core.memory import release_memory
from recsys.core.runner import LocalRunner, Runner
from recsys.history.interactions import read_movielens_interactions
from recsys.history.logged_events import (
    LoggedInteractions,
    check_events_db,
    load_logged_interactions,
)
from recsys.ranking.features import ItemSide, item_vectors
from recsys.recommend.config import RecsysConfig
from recsys.recommend.personalization import Personalization, fit_personalization
from recsys.search.embeddings import (
    STORED_DTYPE,
    EmbeddingStats,
    EncodeFn,
    as_stored,
    embed_texts,
)
from recsys.search.encoder import Encoder, EncoderConfig, document_batch_size, load_encoder
from recsys.search.hybrid import HybridSearcher
from recsys.search.lexical import LexicalIndex
from recsys.search.options import SearchOptions
from recsys.search.partitioned_index import PartitionedIndex, build_partitioned_index
from recsys.search.relevance import RelevanceParams
from recsys.search.vector_index import IndexParams, build_index

log = logging.getLogger(__name__)
CACHE_SUBDIR = ".cache/embeddings"


@dataclass
class BuildOptions:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    index: IndexParams = field(default_factory=IndexParams)
    device: str | None = None
    batch_size: int | None = None  # documents per forward pass; None: document_batch_size
    use_cache: bool = True
    progress: bool = True
    limit_items: int | None = None  # build on the first N items (smoke builds)
    config: RecsysConfig = field(default_factory=RecsysConfig.load)
    train_search_ranker: bool = True
    cache_dir: Path | None = None  # embedding cache; default <out>/.cache/embeddings
    # also learn from the service's logged events: its store (SQLite file or PostgreSQL URL)
    events_db: Path | str | None = None
    # where the parallel stages run: this process, or Ray (``recsys build --engine ray``)
    runner: Runner = field(default_factory=LocalRunner)


def input_checksums(data_dir: Path) -> dict[str, str]:
    files = sorted(p for p in data_dir.rglob("*") if p.is_file() and p.suffix in {".csv", ".txt"})
    return {str(p.relative_to(data_dir)): sha256_file(p) for p in files}


class Timings(dict[str, float]):
    """Seconds per stage, in the order the stages ran, and the process's peak RSS (MB) once
    each stage is done: the stage that raised it is the one that needed the memory (both
    recorded in the manifest's reports)."""

    def __init__(self) -> None:
        super().__init__()
        self.peak_rss_mb: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self[f"{name}_s"] = time.perf_counter() - start
        self.peak_rss_mb[name] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        release_memory()  # what the stage freed goes back before the next one allocates


@dataclass
class SearchParts:
    """What the search stages produce: documents, their vectors and both indexes."""

    documents: pl.DataFrame
    encoder: Encoder
    vectors: np.ndarray
    embed_stats: EmbeddingStats
    index: PartitionedIndex
    lexical: LexicalIndex


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
    timings = Timings()
    with timings.stage("catalog"):
        catalog, ingest_report = build_catalog(data_dir)
        if options.limit_items:
            catalog = catalog.head(options.limit_items)
        validate_catalog(catalog)
    for line in ingest_report.summary_lines():
        log.info("catalog: %s", line)
    search = _search_stages(catalog, out_dir, options, encoder, timings)
    with timings.stage("personalization"):
        interactions, reports, logged = _interactions(data_dir, catalog, options)
        personal, searcher = _personalization(catalog, search, interactions, options)
    with timings.stage("search_ranking"):
        searches = logged.searches if logged is not None else None
        search_section = _search_ranking(personal, searcher, catalog, options, data_dir, searches)
    personal.info["interactions_report"] = {k: v.to_dict() for k, v in reports.items()}
    if logged is not None:
        personal.info["logged_events"] = logged.summary
    inputs = input_checksums(data_dir)
    # the model configuration is an input too: two builds that differ only in --config
    # (e.g. learn_from_clicks) must not share a content hash
    config = json.dumps(dataclasses.asdict(options.config), sort_keys=True, default=str)
    hashed: tuple[object, ...] = (
        sorted(inputs.items()),
        search.encoder.config.fingerprint(),
        config,
    )
    if logged is not None:  # the events are an input too (a build without them hashes as before)
        hashed += (logged.summary["sha256"],)
        if logged.searches.height:  # clicked search pages train the search rankers
            hashed += (logged.summary["search_pages_sha256"],)
    content_hash = hashlib.sha256(repr(hashed).encode()).hexdigest()
    reports_section = {
        "ingest": ingest_report.to_dict(),
        "embeddings": search.embed_stats.to_dict(),
        "engine": _describe(options.runner),
    }
    write = _writer(catalog, search, personal, inputs, reports_section, timings, search_section)
    final = publish(out_dir, content_hash, write)
    log.info("published %s", final)
    return final


def _search_stages(
    catalog: pl.DataFrame,
    out_dir: Path,
    options: BuildOptions,
    encoder: Encoder | None,
    timings: Timings,
) -> SearchParts:
    """Documents -> embeddings (cached) -> vector index, and the lexical index."""
    with timings.stage("documents"):
        documents = build_documents(catalog)
    with timings.stage("encoder_load"):
        encoder = encoder or load_encoder(options.encoder, device=options.device)
    with timings.stage("embed"):
        cache_dir = (options.cache_dir or out_dir / CACHE_SUBDIR) if options.use_cache else None
        encode = _remote_encoder(options, encoder)
        vectors, embed_stats = embed_texts(
            documents["text"].to_list(),
            encoder,
            cache_dir,
            options.batch_size or document_batch_size(options.device),
            options.progress,
            encode,
        )
    log.info("embeddings: %s", embed_stats.to_dict())
    with timings.stage("index"):
        kinds = documents["kind"].to_numpy()
        index = build_partitioned_index(vectors, kinds, options.index, options.runner)
    log.info("index: %s", index.params)
    with timings.stage("lexical"):
        lexical = LexicalIndex.build(catalog)
    log.info("lexical index: %d terms, %d postings", len(lexical.vocab), lexical.matrix().nnz)
    return SearchParts(documents, encoder, vectors, embed_stats, index, lexical)


def _describe(runner: Runner) -> dict[str, Any]:
    describe = getattr(runner, "describe", None)
    return describe() if describe is not None else {"engine": runner.name}


def _remote_encoder(options: BuildOptions, encoder: Encoder) -> EncodeFn | None:
    """The runner's own encoders (Ray: an actor pool), or None to encode here."""
    encode = getattr(options.runner, "encode", None)
    if encode is None:
        return None
    config = {**encoder.config.to_dict(), "device": options.device}

    def run(texts: list[str], batch_size: int, chunk: int) -> np.ndarray:
        return np.asarray(encode(texts, config, batch_size, chunk), dtype=np.float32)

    return run


def _interactions(
    data_dir: Path, catalog: pl.DataFrame, options: BuildOptions
) -> tuple[pl.DataFrame, dict[str, Any], LoggedInteractions | None]:
    """MovieLens interactions, plus the service's logged events when asked for."""
    interactions, reports = read_movielens_interactions(data_dir, catalog)
    logged: LoggedInteractions | None = None
    if options.events_db is not None:
        logged = load_logged_interactions(
            options.events_db, catalog, interactions["user_id"].unique().to_list()
        )
        interactions = pl.concat([interactions, logged.frame]).sort("user_id", "ts", "item_id")
        reports[logged.report.name] = logged.report
        log.info("logged events: %s", logged.summary)
    return interactions, reports, logged


def _personalization(
    catalog: pl.DataFrame, search: SearchParts, interactions: pl.DataFrame, options: BuildOptions
) -> tuple[Personalization, HybridSearcher]:
    """Candidate models and the recommendation ranker; and the searcher the search rankers
    train on (over exactly the vectors the engine will serve)."""
    items = ItemTable(catalog)
    doc_items = items.positions(search.documents["item_id"].to_list())
    doc_kinds = search.documents["kind"].to_numpy()
    # the engine serves float16-stored vectors: train on exactly those values, so build-time
    # features equal served features bit for bit
    served = as_stored(search.vectors)
    search.vectors = served  # the same float16 values on disk; one float32 copy, not two
    side = ItemSide.from_catalog(catalog, item_vectors(doc_items, doc_kinds, served, len(items)))
    item_index = build_index(side.vectors, IndexParams(kind="auto"))
    personal = fit_personalization(
        interactions, items, side, item_index, options.config, options.runner
    )
    searcher = HybridSearcher.from_arrays(
        items,
        doc_items,
        doc_kinds,
        served,
        search.index,
        search.encoder,
        SearchOptions(query_cache_size=0),
        search.lexical,
    )
    return personal, searcher


def _search_ranking(
    personal: Personalization,
    searcher: HybridSearcher,
    catalog: pl.DataFrame,
    options: BuildOptions,
    data_dir: Path,
    searches: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """The relevance threshold's calibration, then both search rankers (when wanted and the
    log has enough users for a recommendation ranker), learning from the logged search
    pages too when given; returns the manifest's ``search``."""
    section = calibrate_relevance(searcher, RelevanceParams())
    config = options.config
    if not options.train_search_ranker or personal.ranker is None:
        reason = "not wanted" if not options.train_search_ranker else "no recommendation ranker"
        personal.info["search_ranker"] = {"skipped": reason}
        section["anonymous_search_ranker"] = {"skipped": reason}
        return section
    clicks = None
    if searches is not None and config.search_training.learn_from_clicks:
        clicks = click_learning(searches, searcher, catalog, config)
        section["click_learning"] = clicks.summary
    section["anonymous_search_ranker"] = train_anonymous_search_ranker(
        personal, searcher, catalog, config, data_dir, clicks
    )
    personal.info["search_ranker"] = train_personal_search_ranker(
        personal, searcher, catalog, config, clicks
    )
    return section


def _writer(
    catalog: pl.DataFrame,
    search: SearchParts,
    personal: Personalization,
    inputs: dict[str, str],
    reports: dict[str, Any],
    timings: Timings,
    search_section: dict[str, Any],
) -> Callable[[Path], Manifest]:
    """The function that writes every artifact file into a staging directory."""

    def write(tmp: Path) -> Manifest:
        catalog.write_parquet(tmp / "catalog.parquet")
        search.documents.write_parquet(tmp / "documents.parquet")
        np.save(tmp / "vectors.npy", search.vectors.astype(STORED_DTYPE))
        search.index.save(tmp)
        search.lexical.save(tmp / "lexical.npz")
        personalization = personal.save(tmp)
        return Manifest(
            version="",
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            code_version=code_version(),
            # where the documents were encoded (the index section says where it was built)
            encoder={
                **search.encoder.config.to_dict(),
                "device": str(getattr(search.encoder, "device", "cpu")),
            },
            index=search.index.params,
            counts=_counts(catalog, search.documents),
            files={},
            inputs=inputs,
            reports={
                **reports,
                "timings_s": {k: round(v, 3) for k, v in timings.items()},
                "peak_rss_mb": timings.peak_rss_mb,
            },
            personalization=personalization,
            lexical=search.lexical.params.to_dict(),
            search=search_section,
        )

    return write


def _counts(catalog: pl.DataFrame, documents: pl.DataFrame) -> dict[str, Any]:
    by_type = dict(catalog.group_by("type").len().iter_rows())
    by_kind = dict(documents.group_by("kind").len().iter_rows())
    return {
        "items": catalog.height,
        "documents": documents.height,
        **{f"items_{k}": int(v) for k, v in sorted(by_type.items())},
        **{f"documents_{k}": int(v) for k, v in sorted(by_kind.items())},
    }
