"""Stage 8: the engine behind the API: search(), similar(), item().

Loads one artifact through its manifest, keeps everything it needs in memory
(catalog columns as arrays, document->item map, vectors, index, encoder) and answers
requests without touching disk. Retrieval is hybrid: the vector index (items scored by
their best document) and the BM25 lexical index each rank the items the filters allow;
reciprocal-rank fusion merges the two lists, exact and near-exact title matches go on top,
and items in the query's detected language get a small boost. The reranker (personal
search) sees every one of those scores as a feature.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsys.catalog.items import ItemTable
from recsys.core.artifacts import load_manifest
from recsys.core.errors import ArtifactError, InvalidRequestError, NotFoundError
from recsys.core.text import search_tokens
from recsys.core.types import RecommendationResult, SearchFilters, SearchResult
from recsys.ranking.features import QUERY_FEATURES
from recsys.recommend.personalization import load_recommender
from recsys.recommend.recommender import Recommender, personal_search_order
from recsys.search.encoder import Encoder, EncoderConfig, load_encoder
from recsys.search.language import LanguageDetector, QueryLanguage
from recsys.search.lexical import LexicalIndex, LexicalParams
from recsys.search.title_match import TitleLexicon
from recsys.search.vector_index import FaissIndex, IndexParams, VectorIndex


@dataclass(frozen=True)
class EngineOptions:
    """Retrieval knobs (tuned on bench/queries; see bench/README.md)."""

    min_fetch: int = 200  # documents taken from the ANN index per query, at least
    # a title document scores this fraction of its similarity: short title documents that
    # share one word with a long descriptive query must not outrank the right plot
    title_weight: float = 0.8
    # query embeddings kept for repeated queries (search boxes see the same head queries
    # again and again); 0 turns the cache off
    query_cache_size: int = 4096
    # search results a known user's personal ranker reorders (k more when k is larger)
    personal_rerank_depth: int = 50
    # fusion: each list contributes weight / (rrf_k + rank); lists cut at fusion_depth
    rrf_k: float = 60.0
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    fusion_depth: int = 100
    # added to the fused score of items originally in, or localized into, the query's
    # (non-English) detected language
    language_boost: float = 0.005
    # a query of this many tokens or more describes rather than names: the dense list and
    # the lexical description fields count more, the title field less
    descriptive_min_tokens: int = 6
    descriptive_dense_weight: float = 1.5
    descriptive_field_weights: tuple[tuple[str, float], ...] = (
        ("title", 0.5),
        ("people", 0.5),
        ("text", 0.5),
        ("stems", 1.0),
    )
    # a language needs this many items (original or localized) to be detected at all
    min_language_items: int = 5


SEARCH_RANKERS = (None, "lightgbm", "noop")
# named retrieval configurations (benchmark ablations, experiment variants)
RETRIEVAL_MODES: dict[str, dict[str, Any]] = {
    "hybrid": {},
    "dense": {"lexical_weight": 0.0},
    "lexical": {"dense_weight": 0.0, "descriptive_dense_weight": 0.0},
}


def retrieval_options(base: EngineOptions, mode: str) -> EngineOptions:
    """``base`` with the fusion weights of a named mode (see ``RETRIEVAL_MODES``)."""
    if mode not in RETRIEVAL_MODES:
        raise InvalidRequestError(
            f"unknown retrieval mode {mode!r}; expected one of {', '.join(RETRIEVAL_MODES)}"
        )
    return dataclasses.replace(base, **RETRIEVAL_MODES[mode])


def catalog_languages(items: ItemTable, min_items: int) -> list[str]:
    """Languages with at least ``min_items`` items originally in or localized into them."""
    counts = Counter(lang for lang in items.original_languages.tolist() if lang)
    for row in items.frame["localizations"].to_list():
        counts.update({loc["lang"] for loc in row or []})
    return sorted({lang for lang, n in counts.items() if n >= min_items} | {"en"})


class Engine:
    def __init__(
        self,
        items: ItemTable,
        doc_items: np.ndarray,
        doc_kinds: np.ndarray,
        vectors: np.ndarray,
        index: VectorIndex,
        encoder: Encoder,
        model_version: str,
        manifest: dict[str, Any] | None = None,
        options: EngineOptions | None = None,
        recommender: Recommender | None = None,
        lexical: LexicalIndex | None = None,
    ) -> None:
        if len(doc_items) != vectors.shape[0] or len(index) != vectors.shape[0]:
            raise ArtifactError("documents, vectors and index disagree on the number of rows")
        if encoder.dim != vectors.shape[1]:
            raise ArtifactError(
                f"encoder dimension {encoder.dim} does not match the index dimension "
                f"{vectors.shape[1]}"
            )
        self.items = items
        self.doc_items = doc_items
        self.doc_kinds = doc_kinds
        self.vectors = vectors
        self.index = index
        self.encoder = encoder
        self._model_version = model_version
        self.manifest = manifest or {}
        self.options = options or EngineOptions()
        self.recommender = recommender
        self.doc_weight = np.where(doc_kinds == "title", self.options.title_weight, 1.0)
        self._encode_query = functools.lru_cache(maxsize=self.options.query_cache_size)(
            self._encode_query_uncached
        )
        self.lexicon = TitleLexicon.from_items(items)
        self._modes: dict[str, Engine] = {}
        self.lexical = lexical or LexicalIndex.build(items.frame)
        if self.lexical.n_items != len(items):
            raise ArtifactError("the lexical index and the catalog disagree on the item count")
        self.languages = LanguageDetector(catalog_languages(items, self.options.min_language_items))
        self.languages.detect("une phrase pour charger les modèles de langue")  # warm up
        content = np.full(len(items), -1, dtype=np.int64)
        is_content = doc_kinds == "content"
        content[doc_items[is_content]] = np.flatnonzero(is_content)
        self.content_doc = content
        # documents of item i: self._docs_by_item[self._doc_bounds[i] : self._doc_bounds[i + 1]]
        self._docs_by_item = np.argsort(doc_items, kind="stable")
        self._doc_bounds = np.searchsorted(doc_items[self._docs_by_item], np.arange(len(items) + 1))

    @classmethod
    def load(
        cls,
        artifacts_dir: Path,
        device: str | None = None,
        encoder: Encoder | None = None,
        verify_checksums: bool = True,
        options: EngineOptions | None = None,
    ) -> Engine:
        directory, manifest = load_manifest(Path(artifacts_dir), verify_checksums)
        config = EncoderConfig.from_dict(manifest.encoder)
        if encoder is None:
            encoder = load_encoder(config, device=device)
        elif (encoder.config.fingerprint(), encoder.config.query_prompt) != (
            config.fingerprint(),
            config.query_prompt,
        ):
            raise ArtifactError(
                f"encoder {encoder.config.model!r} does not match the artifact's {config.model!r}"
            )
        catalog = pl.read_parquet(directory / "catalog.parquet")
        documents = pl.read_parquet(directory / "documents.parquet")
        items = ItemTable(catalog)
        doc_items = items.positions(documents["item_id"].to_list())
        vectors = np.load(directory / "vectors.npy").astype(np.float32)
        index = FaissIndex.load(directory / "index.faiss", IndexParams.from_dict(manifest.index))
        doc_kinds = documents["kind"].to_numpy()
        recommender = load_recommender(
            directory, manifest.personalization, items, doc_items, doc_kinds, vectors
        )
        lexical = LexicalIndex.load(
            directory / "lexical.npz", LexicalParams.from_dict(manifest.lexical)
        )
        return cls(
            items,
            doc_items,
            doc_kinds,
            vectors,
            index,
            encoder,
            manifest.version,
            manifest.to_dict(),
            options,
            recommender,
            lexical,
        )

    def _retrieval_mode(self, mode: str) -> Engine:
        """This engine under a named retrieval mode, made once per mode."""
        if mode not in self._modes:
            self._modes[mode] = self.with_options(retrieval_options(self.options, mode))
        return self._modes[mode]

    def with_options(self, options: EngineOptions) -> Engine:
        """The same loaded engine under other retrieval options (ablations, A/B variants);
        shares every array and model, costs nothing."""
        other = copy.copy(self)
        other.options = options
        other._modes = {}
        other.doc_weight = np.where(self.doc_kinds == "title", options.title_weight, 1.0)
        other._encode_query = functools.lru_cache(maxsize=options.query_cache_size)(
            other._encode_query_uncached
        )
        return other

    @property
    def model_version(self) -> str:
        return self._model_version

    def stats(self) -> dict[str, Any]:
        return {
            "model_version": self._model_version,
            "items": len(self.items),
            "documents": int(self.vectors.shape[0]),
            "encoder": self.encoder.config.model,
            "index": self.manifest.get("index", {}).get("kind"),
            "index_recall_at_10": self.manifest.get("index", {}).get("recall_at_10"),
            "users": self.recommender.log.n_users if self.recommender else 0,
            "default_ranker": self.recommender.default_ranker if self.recommender else None,
            "search_ranker": bool(self.recommender and self.recommender.search_ranker),
        }

    # -- retrieval ---------------------------------------------------------------------------

    def _dense(
        self,
        query_vec: np.ndarray,
        allowed: np.ndarray | None,
        n_items: int,
        kinds: tuple[str, ...] | None = None,
    ) -> dict[int, float]:
        """Best document score per item among the top documents, honouring the item mask."""
        fetch = min(len(self.doc_items), max(self.options.min_fetch, 20 * n_items))
        scores, ids = self.index.search(query_vec, fetch)
        best = self._aggregate(scores[0], ids[0], allowed, kinds)
        if len(best) < n_items and (allowed is not None or kinds is not None):
            # filters too selective for the ANN shortlist: exact search over what they allow
            doc_mask = np.ones(len(self.doc_items), dtype=bool)
            if allowed is not None:
                doc_mask &= allowed[self.doc_items]
            if kinds is not None:
                doc_mask &= np.isin(self.doc_kinds, kinds)
            doc_ids = np.flatnonzero(doc_mask)
            sims = self.vectors[doc_ids] @ query_vec[0]
            best = self._aggregate(sims, doc_ids, None, None)
        return best

    def _aggregate(
        self,
        scores: np.ndarray,
        ids: np.ndarray,
        allowed: np.ndarray | None,
        kinds: tuple[str, ...] | None,
    ) -> dict[int, float]:
        best: dict[int, float] = {}
        weights = self.doc_weight[np.maximum(ids, 0)]
        for score, doc in zip((scores * weights).tolist(), ids.tolist(), strict=True):
            if doc < 0:
                continue
            if kinds is not None and self.doc_kinds[doc] not in kinds:
                continue
            item = int(self.doc_items[doc])
            if allowed is not None and not allowed[item]:
                continue
            if score > best.get(item, -np.inf):
                best[item] = float(score)
        return best

    def retrieve(
        self,
        query: str,
        n: int,
        allowed: np.ndarray | None = None,
        query_vec: np.ndarray | None = None,
        language: QueryLanguage | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The top ``n`` items for a query, best first, with their query features
        (``QUERY_FEATURES`` columns: dense similarity, BM25 score, title-match bonus,
        language match, fused score, 1-based rank)."""
        if query_vec is None:
            query_vec = self._encode_query(query)
        if language is None:
            language = self.languages.detect(query)
        opts = self.options
        depth = max(opts.fusion_depth, n)
        dense = self._dense(query_vec, allowed, depth)
        dense_ranked = sorted(dense, key=lambda item: (-dense[item], item))[:depth]
        descriptive = len(search_tokens(query)) >= opts.descriptive_min_tokens
        field_weights = dict(opts.descriptive_field_weights) if descriptive else None
        dense_weight = opts.descriptive_dense_weight if descriptive else opts.dense_weight
        lexical_items, lexical_scores = self.lexical.search(query, depth, allowed, field_weights)
        bm25 = dict(zip(lexical_items.tolist(), lexical_scores.tolist(), strict=True))
        fused: dict[int, float] = {}
        for weight, ranked in ((dense_weight, dense_ranked), (opts.lexical_weight, bm25)):
            if weight <= 0:  # a list weighted out contributes neither score nor candidates
                continue
            for rank, item in enumerate(ranked, start=1):
                fused[item] = fused.get(item, 0.0) + weight / (opts.rrf_k + rank)
        titles = {
            item: bonus
            for item, bonus in self.lexicon.match(query).items()
            if allowed is None or allowed[item]
        }
        for item, bonus in titles.items():
            fused[item] = fused.get(item, 0.0) + bonus
        in_language = None
        if language.lang is not None and language.lang != "en":
            in_language = self.items.language_mask(language.lang)
            for item in fused:
                if in_language[item]:
                    fused[item] += opts.language_boost
        ranked = sorted(fused, key=lambda item: (-fused[item], item))[:n]
        items = np.array(ranked, dtype=np.int64)
        columns = {
            "query_dense": [
                dense[i] if i in dense else self._score_item(query_vec, i) for i in ranked
            ],
            "query_bm25": [bm25.get(i, 0.0) for i in ranked],
            "query_title": [titles.get(i, 0.0) for i in ranked],
            "query_language": (
                in_language[items].astype(np.float64) if in_language is not None else [0.0] * n
            )[: len(ranked)],
            "query_fused": [fused[i] for i in ranked],
            "query_rank": np.arange(1, len(ranked) + 1, dtype=np.float64),
        }
        scores = np.column_stack([np.asarray(columns[f], dtype=np.float64) for f in QUERY_FEATURES])
        return items, scores.reshape(len(ranked), len(QUERY_FEATURES))

    def search(
        self,
        query: str,
        k: int = 10,
        filters: SearchFilters | None = None,
        lang: str | None = None,
        user_id: str | None = None,
        ranker: str | None = None,
        retrieval: str | None = None,
    ) -> SearchResult:
        """``ranker``: "lightgbm" (default: the personal search ranker, for known users) or
        "noop" (retrieval order); ``retrieval``: a ``RETRIEVAL_MODES`` name (default hybrid)."""
        if retrieval is not None and retrieval != "hybrid":
            return self._retrieval_mode(retrieval).search(query, k, filters, lang, user_id, ranker)
        if ranker not in SEARCH_RANKERS:
            raise InvalidRequestError(
                f"search ranker must be one of {', '.join(map(str, SEARCH_RANKERS[1:]))}, "
                f"got {ranker!r}"
            )
        query = query.strip()
        if not query:
            raise InvalidRequestError("query is empty")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        allowed = self.items.mask(filters)
        query_vec = self._encode_query(query)
        timings["encode_ms"] = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        language = self.languages.detect(query)
        personal = self.recommender is not None and user_id is not None and ranker != "noop"
        depth = max(k, self.options.personal_rerank_depth) if personal else k
        items, query_scores = self.retrieve(query, depth, allowed, query_vec, language)
        scores = query_scores[:, QUERY_FEATURES.index("query_fused")]
        timings["retrieve_ms"] = (time.perf_counter() - t1) * 1000
        if personal and self.recommender is not None and len(items):
            t2 = time.perf_counter()
            personal_scores = self.recommender.rerank_search(user_id, items, query_scores)
            if personal_scores is not None:
                order = personal_search_order(query_scores, personal_scores)
                items, scores = items[order], personal_scores[order]
                timings["rerank_ms"] = (time.perf_counter() - t2) * 1000
        hits = [
            self.items.hit(i, s, lang)
            for i, s in zip(items[:k].tolist(), scores[:k].tolist(), strict=True)
        ]
        return SearchResult(query, hits, self._model_version, timings, language.lang)

    def recommend(
        self,
        user_id: str,
        k: int = 10,
        filters: SearchFilters | None = None,
        lang: str | None = None,
        include_seen: bool = False,
        ranker: str | None = None,
    ) -> RecommendationResult:
        if self.recommender is None:
            raise ArtifactError("this engine was loaded without personalization")
        return self.recommender.recommend(
            user_id, k, filters, lang, include_seen, ranker, self._model_version
        )

    def _encode_query_uncached(self, query: str) -> np.ndarray:
        vector = self.encoder.encode_queries([query])
        vector.setflags(write=False)  # shared by every request that repeats the query
        return vector

    def _score_item(self, query_vec: np.ndarray, item: int) -> float:
        docs = self._docs_by_item[self._doc_bounds[item] : self._doc_bounds[item + 1]]
        if not len(docs):
            return 0.0
        return float(((self.vectors[docs] @ query_vec[0]) * self.doc_weight[docs]).max())

    def similar(
        self,
        item_id: str,
        k: int = 10,
        filters: SearchFilters | None = None,
        lang: str | None = None,
    ) -> SearchResult:
        item = self.items.position(item_id)
        doc = int(self.content_doc[item])
        if doc < 0:
            raise NotFoundError(f"item {item_id!r} has no content document")
        allowed = self.items.mask(filters)
        allowed = np.ones(len(self.items), dtype=bool) if allowed is None else allowed.copy()
        allowed[item] = False
        query_vec = self.vectors[doc : doc + 1]
        scores = self._dense(query_vec, allowed, k, kinds=("content",))
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        hits = [self.items.hit(i, s, lang) for i, s in ranked]
        return SearchResult(item_id, hits, self._model_version)

    def item(self, item_id: str, lang: str | None = None) -> dict[str, Any]:
        return self.items.details(self.items.position(item_id), lang)
