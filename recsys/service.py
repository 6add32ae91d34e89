"""The engine behind the API: a thin facade over hybrid search, personal search reranking
and the recommender, loaded from one artifact through its manifest.

Everything lives in memory after ``Engine.load`` (catalog columns as arrays, documents,
vectors, indexes, encoder, models); requests never touch disk. ``capabilities()`` says which
rankers and retrieval modes this artifact can serve, by name.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsys.catalog.items import ItemTable
from recsys.core.artifacts import load_manifest
from recsys.core.errors import ArtifactError, InvalidRequestError, NotFoundError
from recsys.core.types import (
    Capabilities,
    RecommendationResult,
    RecommendRequest,
    SearchRequest,
    SearchResult,
    SimilarRequest,
)
from recsys.ranking.personal_search import PersonalSearchRanker, personal_search_order
from recsys.ranking.rankers import SEARCH_RANKERS, LightGBMRanker, NoOpRanker
from recsys.recommend.personalization import load_personalized
from recsys.recommend.recommender import Recommender
from recsys.search.dense import DenseDocuments
from recsys.search.encoder import Encoder, EncoderConfig, load_encoder
from recsys.search.hybrid import RETRIEVAL_MODES, HybridSearcher, SearchOptions
from recsys.search.lexical import LexicalIndex, LexicalParams
from recsys.search.partitioned_index import PartitionedIndex
from recsys.search.query_features import QUERY_FEATURES


class Engine:
    def __init__(
        self,
        searcher: HybridSearcher,
        model_version: str,
        manifest: dict[str, Any] | None = None,
        recommender: Recommender | None = None,
        personal_search: PersonalSearchRanker | None = None,
    ) -> None:
        self.searcher = searcher
        self.items = searcher.items
        self._model_version = model_version
        self.manifest = manifest or {}
        self.recommender = recommender
        self.personal_search = personal_search

    @classmethod
    def load(
        cls,
        artifacts_dir: Path,
        device: str | None = None,
        encoder: Encoder | None = None,
        verify_checksums: bool = True,
        options: SearchOptions | None = None,
    ) -> Engine:
        directory, manifest = load_manifest(Path(artifacts_dir), verify_checksums)
        encoder = _matching_encoder(EncoderConfig.from_dict(manifest.encoder), encoder, device)
        items = ItemTable(pl.read_parquet(directory / "catalog.parquet"))
        documents = pl.read_parquet(directory / "documents.parquet")
        doc_items = items.positions(documents["item_id"].to_list())
        doc_kinds = documents["kind"].to_numpy()
        vectors = np.load(directory / "vectors.npy").astype(np.float32)
        index = PartitionedIndex.load(directory, doc_kinds, manifest.index)
        dense = DenseDocuments(doc_items, doc_kinds, vectors, index, len(items))
        lexical = LexicalIndex.load(
            directory / "lexical.npz", LexicalParams.from_dict(manifest.lexical)
        )
        searcher = HybridSearcher(items, dense, lexical, encoder, options)
        searcher.warm_up()
        recommender, personal = load_personalized(
            directory, manifest.personalization, items, doc_items, doc_kinds, vectors
        )
        return cls(searcher, manifest.version, manifest.to_dict(), recommender, personal)

    @property
    def model_version(self) -> str:
        return self._model_version

    def capabilities(self) -> Capabilities:
        """Rankers and retrieval modes this engine serves (derived from what was loaded)."""
        search = [NoOpRanker.name]
        if self.personal_search is not None:
            search.insert(0, LightGBMRanker.name)
        recommend = tuple(self.recommender.rankers) if self.recommender else ()
        return Capabilities(tuple(search), recommend, tuple(RETRIEVAL_MODES))

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
        }

    def _index_parts(self) -> dict[str, dict[str, Any]]:
        return dict(self.manifest.get("index", {}).get("parts", {}))

    def search(self, request: SearchRequest) -> SearchResult:
        options = self.searcher.options_for(request.retrieval)
        if request.ranker is not None and request.ranker not in SEARCH_RANKERS:
            raise InvalidRequestError(
                f"search ranker must be one of {', '.join(SEARCH_RANKERS)}, got {request.ranker!r}"
            )
        query = request.query.strip()
        if not query:
            raise InvalidRequestError("query is empty")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        allowed = self.items.mask(request.filters)
        query_vec = self.searcher.encode_query(query)
        timings["encode_ms"] = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        language = self.searcher.languages.detect(query)
        personal = (
            self.personal_search
            if request.user_id is not None and request.ranker != NoOpRanker.name
            else None
        )
        depth = max(request.k, options.personal_rerank_depth) if personal else request.k
        items, query_scores = self.searcher.retrieve(
            query, depth, allowed, query_vec, language, options
        )
        scores = query_scores[:, QUERY_FEATURES.index("query_fused")]
        timings["retrieve_ms"] = (time.perf_counter() - t1) * 1000
        if personal is not None and len(items):
            t2 = time.perf_counter()
            personal_scores = personal.scores(request.user_id, items, query_scores)
            if personal_scores is not None:
                order = personal_search_order(query_scores, personal_scores)
                items, scores = items[order], personal_scores[order]
                timings["rerank_ms"] = (time.perf_counter() - t2) * 1000
        hits = [
            self.items.hit(i, s, request.lang)
            for i, s in zip(items[: request.k].tolist(), scores[: request.k].tolist(), strict=True)
        ]
        return SearchResult(query, hits, self._model_version, timings, language.lang)

    def recommend(self, request: RecommendRequest) -> RecommendationResult:
        if self.recommender is None:
            raise ArtifactError("this engine was loaded without personalization")
        return self.recommender.recommend(request, self._model_version)

    def similar(self, request: SimilarRequest) -> SearchResult:
        item = self.items.position(request.item_id)
        if self.searcher.dense.content_doc[item] < 0:
            raise NotFoundError(f"item {request.item_id!r} has no content document")
        neighbours = self.searcher.similar(item, request.k, self.items.mask(request.filters))
        hits = [self.items.hit(i, s, request.lang) for i, s in neighbours]
        return SearchResult(request.item_id, hits, self._model_version)

    def item(self, item_id: str, lang: str | None = None) -> dict[str, Any]:
        return self.items.details(self.items.position(item_id), lang)


def _matching_encoder(
    config: EncoderConfig, encoder: Encoder | None, device: str | None
) -> Encoder:
    """The artifact's encoder: loaded from its config, or a given one that must match it."""
    if encoder is None:
        return load_encoder(config, device=device)
    if (encoder.config.fingerprint(), encoder.config.query_prompt) != (
        config.fingerprint(),
        config.query_prompt,
    ):
        raise ArtifactError(
            f"encoder {encoder.config.model!r} does not match the artifact's {config.model!r}"
        )
    return encoder
