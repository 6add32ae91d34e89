"""The engine behind the API: a thin facade over hybrid search, personal search reranking
and the recommender, loaded from one artifact through its manifest.

Everything lives in memory after ``Engine.load`` (catalog columns as arrays, documents,
vectors, indexes, encoder, models); requests never touch disk. ``capabilities()`` says which
rankers and retrieval modes this artifact can serve, by name.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsys.catalog.facets import FacetTable
from recsys.catalog.items import ItemTable
from recsys.core.artifacts import load_manifest
from recsys.core.errors import ArtifactError, InvalidRequestError, NotFoundError
from recsys.core.types import (
    SUGGEST_KINDS,
    Capabilities,
    Completion,
    RecommendationResult,
    RecommendRequest,
    SearchRequest,
    SearchResult,
    SimilarRequest,
    SuggestRequest,
    SuggestResult,
)
from recsys.events.schema import Event
from recsys.events.store import EventStore
from recsys.history.interactions import CONSUME_TYPES
from recsys.ranking.anonymous_search import AnonymousSearchRanker
from recsys.ranking.personal_search import PersonalSearchRanker
from recsys.ranking.search_order import SearchOrdering
from recsys.recommend.online import events_frame, replay
from recsys.recommend.personalization import load_personalized
from recsys.recommend.recommender import Recommender
from recsys.search.dense import DenseDocuments
from recsys.search.encoder import Encoder, EncoderConfig, load_encoder
from recsys.search.highlight import highlight_hit
from recsys.search.hybrid import HybridSearcher
from recsys.search.lexical import LexicalIndex, LexicalParams
from recsys.search.options import RETRIEVAL_MODES, SearchOptions
from recsys.search.partitioned_index import PartitionedIndex
from recsys.search.relevance import RelevanceFloors, RelevanceParams
from recsys.search.suggest import SuggestIndex

SELF_CHECK_TITLES = 3  # the most watched titles must find themselves before a version serves


def relevance_params(values: dict[str, Any], directory: Path) -> RelevanceParams:
    """The relevance rules the artifact was calibrated with (its manifest's
    ``search.relevance_params``; the code's defaults for an artifact without them)."""
    try:
        return RelevanceParams(**values)
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"{directory}: invalid search.relevance_params: {exc}") from exc


class Engine:
    def __init__(
        self,
        searcher: HybridSearcher,
        model_version: str,
        manifest: dict[str, Any] | None = None,
        recommender: Recommender | None = None,
        personal_search: PersonalSearchRanker | None = None,
        anonymous_search: AnonymousSearchRanker | None = None,
    ) -> None:
        self.searcher = searcher
        self.items = searcher.items
        self._model_version = model_version
        self.manifest = manifest or {}
        self.recommender = recommender
        self.personal_search = personal_search
        self.ordering = SearchOrdering(anonymous_search, personal_search)
        self.facets = FacetTable.from_frame(self.items.frame)
        self.suggestions = SuggestIndex.from_catalog(self.items.frame, self._popularity())
        self._replayed_at: datetime | None = None  # when catch_up last read the event store

    @classmethod
    def load(
        cls,
        artifacts_dir: Path,
        device: str | None = None,
        encoder: Encoder | None = None,
        verify_checksums: bool = True,
        options: SearchOptions | None = None,
        query_backend: str = "auto",
        threads: int = 1,
    ) -> Engine:
        """``query_backend``/``threads``: how the query encoder runs (``load_encoder``)."""
        directory, manifest = load_manifest(Path(artifacts_dir), verify_checksums)
        config = EncoderConfig.from_dict(manifest.encoder)
        if encoder is None:
            encoder = load_encoder(config, device, query_backend, threads)
        encoder = _matching_encoder(config, encoder)
        items = ItemTable(pl.read_parquet(directory / "catalog.parquet"))
        documents = pl.read_parquet(directory / "documents.parquet")
        doc_items = items.positions(documents["item_id"].to_list())
        doc_kinds = documents["kind"].to_numpy()
        vectors = np.load(directory / "vectors.npy").astype(np.float32)
        if len(vectors) != len(documents):
            raise ArtifactError(
                f"{directory}/vectors.npy: {len(vectors)} vectors for {len(documents)} "
                "documents; rebuild the artifact"
            )
        if not np.isfinite(vectors).all():
            raise ArtifactError(
                f"{directory}/vectors.npy holds NaN or infinite values; rebuild the artifact"
            )
        index = PartitionedIndex.load(directory, doc_kinds, manifest.index)
        dense = DenseDocuments(doc_items, doc_kinds, vectors, index, len(items))
        lexical = LexicalIndex.load(
            directory / "lexical.npz", LexicalParams.from_dict(manifest.lexical)
        )
        relevance = manifest.search.get("relevance", {})
        if "dense_floor" not in relevance:
            raise ArtifactError(f"{directory}: the manifest has no relevance threshold; rebuild")
        floors = RelevanceFloors.from_calibration(relevance)
        searcher = HybridSearcher(
            items,
            dense,
            lexical,
            encoder,
            options,
            floors,
            relevance_params(manifest.search.get("relevance_params", {}), directory),
        )
        searcher.warm_up()
        recommender, personal, anonymous = load_personalized(
            directory, manifest.personalization, items, doc_items, doc_kinds, vectors
        )
        engine = cls(
            searcher, manifest.version, manifest.to_dict(), recommender, personal, anonymous
        )
        if recommender is not None:
            recommender.warm_up()
        # The loaded engine is millions of long-lived objects (item ids, suggestion keys,
        # title variants): without this, every full garbage collection walks them all, a
        # ~0.4 s pause in the middle of some request. Unfreezing first lets a previously
        # loaded engine that is no longer referenced be collected.
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        return engine

    @property
    def model_version(self) -> str:
        return self._model_version

    def capabilities(self) -> Capabilities:
        """Rankers and retrieval modes this engine serves (derived from what was loaded)."""
        recommend = tuple(self.recommender.rankers) if self.recommender else ()
        return Capabilities(self.ordering.rankers, recommend, tuple(RETRIEVAL_MODES))

    def stats(self) -> dict[str, Any]:
        return {
            "model_version": self._model_version,
            "items": len(self.items),
            "documents": len(self.searcher.dense),
            "encoder": self.searcher.encoder.config.model,
            "index": {part: p["kind"] for part, p in self._index_parts().items()},
            "index_recall_at_10": {
                part: p["recall_at_10"] for part, p in self._index_parts().items()
            },
            "users": self.recommender.log.n_users if self.recommender else 0,
            "default_ranker": self.recommender.default_ranker if self.recommender else None,
            "search_ranker": self.personal_search is not None,
            "anonymous_search_ranker": self.ordering.anonymous is not None,
            "relevance_floors": (
                dataclasses.asdict(self.searcher.floors) if self.searcher.floors else None
            ),
        }

    def self_check(self, n: int = SELF_CHECK_TITLES) -> list[str]:
        """Known answers a healthy engine gives (empty list: all good): each of the ``n``
        most watched titles, searched for by its own title, is in its top 10."""
        problems = []
        for position in np.argsort(-self._popularity(), kind="stable")[:n].tolist():
            hit = self.items.hit(position, 0.0)
            if not hit.title:
                continue
            found = self.search(SearchRequest(hit.title, k=10))
            if hit.item_id not in [h.item_id for h in found.items]:
                problems.append(f"searching {hit.title!r} does not find item {hit.item_id}")
        return problems

    def _index_parts(self) -> dict[str, dict[str, Any]]:
        return dict(self.manifest.get("index", {}).get("parts", {}))

    def search(self, request: SearchRequest) -> SearchResult:
        options = self.searcher.options_for(request.retrieval)
        query = request.query.strip()
        if not query:
            raise InvalidRequestError("query is empty")
        if request.offset < 0 or request.offset + request.k > options.max_results:
            raise InvalidRequestError(
                f"offset + k must be at most {options.max_results} "
                f"(got {request.offset} + {request.k})"
            )
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        allowed = self.items.mask(request.filters)
        query_vec = self.searcher.encode_query(query)
        timings["encode_ms"] = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        language = self.searcher.languages.detect(query)
        items, query_scores = self.searcher.retrieve(
            query, options.max_results, allowed, query_vec, language, options
        )
        keep = self.searcher.matches(query, query_scores, language)
        items, query_scores = items[keep], query_scores[keep]
        timings["retrieve_ms"] = (time.perf_counter() - t1) * 1000
        t2 = time.perf_counter()
        order, scores, ranker = self.ordering.order(
            items, query_scores, request.user_id, request.ranker
        )
        timings["rank_ms"] = (time.perf_counter() - t2) * 1000
        page = order[request.offset : request.offset + request.k]
        hits = [
            highlight_hit(self.items.hit(i, s, request.lang), query)
            for i, s in zip(items[page].tolist(), scores[page].tolist(), strict=True)
        ]
        facets = self.facets.counts(items, request.facets) if request.facets else {}
        return SearchResult(
            query,
            hits,
            self._model_version,
            timings,
            language.lang,
            found=len(items),
            offset=request.offset,
            facets=facets,
            ranker=ranker,
        )

    def _popularity(self) -> np.ndarray:
        """Per item, what suggestions rank by: consumptions (log) when the artifact has a
        log, plus a tenth of the log TMDB popularity (known for never-watched items)."""
        meta = self.items.frame["popularity"].fill_null(0.0).to_numpy()
        weights = 0.1 * np.log1p(np.maximum(meta, 0.0))
        if self.recommender is not None:
            log = self.recommender.log
            weights += np.log1p(np.bincount(log.items, minlength=len(self.items)))
        return np.asarray(weights, dtype=np.float64)

    def suggest(self, request: SuggestRequest) -> SuggestResult:
        unknown = sorted(set(request.kinds) - set(SUGGEST_KINDS))
        if unknown:
            raise InvalidRequestError(f"unknown suggestion kinds {unknown}")
        found = self.suggestions.suggest(request.prefix, request.k, set(request.kinds))
        completions = [
            Completion(
                s.kind,
                s.text,
                None if s.item_position is None else self.items.ids[s.item_position],
                round(float(s.score), 6),
                None if s.item_position is None else self.items.year_of(s.item_position),
            )
            for s in found
        ]
        return SuggestResult(request.prefix, completions, self._model_version)

    def recommend(self, request: RecommendRequest) -> RecommendationResult:
        if self.recommender is None:
            raise ArtifactError("this engine was loaded without personalization")
        return self.recommender.recommend(request, self._model_version)

    def observe(self, events: Sequence[Event]) -> int:
        """Feedback just stored: the users' next recommendations and personal searches see
        it (``recsys.recommend.online``)."""
        if self.recommender is None:
            return 0
        return self.recommender.online.observe(events_frame(events))

    def catch_up(self, store: EventStore) -> None:
        """Replay ``store`` into the online state: everything the first time, then what
        arrived since the previous call. A user pushed out of memory is read back from it."""
        if self.recommender is None:
            return
        online = self.recommender.online
        online.loader = lambda user_id: store.read_events(CONSUME_TYPES, user_id=user_id)
        self._replayed_at = replay(online, store, self._replayed_at)

    def online_stats(self) -> dict[str, int]:
        return self.recommender.online.stats() if self.recommender else {}

    def similar(self, request: SimilarRequest) -> SearchResult:
        item = self.items.position(request.item_id)
        if self.searcher.dense.content_doc[item] < 0:
            raise NotFoundError(f"item {request.item_id!r} has no content document")
        neighbours = self.searcher.similar(item, request.k, self.items.mask(request.filters))
        hits = [self.items.hit(i, s, request.lang) for i, s in neighbours]
        return SearchResult(request.item_id, hits, self._model_version, found=len(hits))

    def item(self, item_id: str, lang: str | None = None) -> dict[str, Any]:
        return self.items.details(self.items.position(item_id), lang)


def _matching_encoder(config: EncoderConfig, encoder: Encoder) -> Encoder:
    """The artifact's encoder: the given one must match the artifact's vector space."""
    if (encoder.config.fingerprint(), encoder.config.query_prompt) != (
        config.fingerprint(),
        config.query_prompt,
    ):
        raise ArtifactError(
            f"encoder {encoder.config.model!r} does not match the artifact's {config.model!r}"
        )
    return encoder
