"""Hybrid retrieval: dense and lexical lists fused, titles and the query's language on top.

For a query, the vector index (one ranked list per document kind: English content,
localized overviews; items scored by their best document of the kind) and the BM25 lexical
index each rank the items the filters allow; reciprocal-rank fusion merges the lists,
exact and near-exact title matches go on top, and items in the query's detected language get
a small boost. What comes back carries every one of those scores (``QUERY_FEATURES``), so a
ranker can learn from them. Retrieval modes (``RETRIEVAL_MODES``) are ``SearchOptions``
objects: the same loaded searcher serves every mode.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np

from recsys.catalog.documents import CONTENT, LOCALIZED
from recsys.catalog.items import ItemTable
from recsys.core.errors import ArtifactError, InvalidRequestError
from recsys.core.text import search_tokens
from recsys.search.dense import DenseDocuments
from recsys.search.encoder import MULTILINGUAL_MODELS, Encoder
from recsys.search.language import LanguageDetector, QueryLanguage
from recsys.search.lexical import EVIDENCE, LexicalIndex
from recsys.search.options import RETRIEVAL_MODES, SearchOptions
from recsys.search.partitioned_index import PartitionedIndex, build_partitioned_index
from recsys.search.query_features import QUERY_FEATURES, column
from recsys.search.relevance import RelevanceFloors, RelevanceParams, is_sentence, relevant
from recsys.search.title_match import TitleLexicon
from recsys.search.vector_index import IndexParams


def catalog_languages(items: ItemTable, min_items: int) -> list[str]:
    """Languages with at least ``min_items`` items originally in or localized into them."""
    counts = Counter(lang for lang in items.original_languages.tolist() if lang)
    for row in items.frame["localizations"].to_list():
        counts.update({loc["lang"] for loc in row or []})
    return sorted({lang for lang, n in counts.items() if n >= min_items} | {"en"})


class HybridSearcher:
    """Dense + lexical retrieval and fusion over one loaded catalog."""

    def __init__(
        self,
        items: ItemTable,
        dense: DenseDocuments,
        lexical: LexicalIndex,
        encoder: Encoder,
        options: SearchOptions | None = None,
        floors: RelevanceFloors | None = None,
        relevance: RelevanceParams | None = None,
    ) -> None:
        """``floors``: the relevance threshold's calibrated dense similarities (None: no
        threshold, every retrieved item counts as a match)."""
        if encoder.dim != dense.dim:
            raise ArtifactError(
                f"encoder dimension {encoder.dim} does not match the index dimension {dense.dim}"
            )
        if lexical.n_items != len(items):
            raise ArtifactError("the lexical index and the catalog disagree on the item count")
        self.items = items
        self.dense = dense
        self.lexical = lexical
        self.encoder = encoder
        self.options = options or SearchOptions()
        self.floors = floors
        self.relevance = relevance or RelevanceParams()
        self.multilingual = encoder.config.model in MULTILINGUAL_MODELS
        self.lexicon = TitleLexicon.from_items(items)
        self.languages = LanguageDetector(catalog_languages(items, self.options.min_language_items))
        self._modes = {
            mode: dataclasses.replace(self.options, **overrides)
            for mode, overrides in RETRIEVAL_MODES.items()
        }
        self.encode_query = functools.lru_cache(maxsize=self.options.query_cache_size)(
            self._encode_query_uncached
        )

    @classmethod
    def from_arrays(
        cls,
        items: ItemTable,
        doc_items: np.ndarray,
        doc_kinds: np.ndarray,
        vectors: np.ndarray,
        index: PartitionedIndex | None,
        encoder: Encoder,
        options: SearchOptions | None = None,
        lexical: LexicalIndex | None = None,
    ) -> HybridSearcher:
        """A searcher over in-memory documents (the build's search training, tests); exact
        per-kind indexes and the lexical index are built when not given."""
        if index is None:
            index = build_partitioned_index(vectors, doc_kinds, IndexParams(kind="flat"))
        dense = DenseDocuments(doc_items, doc_kinds, vectors, index, len(items))
        return cls(items, dense, lexical or LexicalIndex.build(items.frame), encoder, options)

    def warm_up(self) -> None:
        """Build what is built lazily (language models, the items of each catalog language,
        the lexical matrices of both field weightings) before the first request pays for it."""
        self.languages.detect("une phrase pour charger les modèles de langue")
        for lang in self.languages.languages:  # each ~150 ms at a million items
            self.items.language_mask(lang)
        self.lexical.matrix(None)
        for options in self._modes.values():
            self.lexical.matrix(dict(options.descriptive_field_weights))

    def options_for(self, mode: str | None) -> SearchOptions:
        """The options of a named retrieval mode (None: this searcher's own options)."""
        if mode is None:
            return self.options
        if mode not in self._modes:
            raise InvalidRequestError(
                f"unknown retrieval mode {mode!r}; expected one of {', '.join(RETRIEVAL_MODES)}"
            )
        return self._modes[mode]

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        """Many queries at once (batched; the build's training queries), uncached."""
        return self.encoder.encode_queries(queries)

    def matches(self, query: str, query_scores: np.ndarray, language: QueryLanguage) -> np.ndarray:
        """Which results (rows of ``QUERY_FEATURES``) pass the relevance threshold."""
        if self.floors is None:
            return np.ones(len(query_scores), dtype=bool)
        words = search_tokens(query)
        sentence = is_sentence(
            len(words), self.lexical.known_share(words), language.lang, language.script
        )
        return relevant(query_scores, self.floors, self.relevance, sentence)

    def _encode_query_uncached(self, query: str) -> np.ndarray:
        vector = self.encoder.encode_queries([query])
        vector.setflags(write=False)  # shared by every request that repeats the query
        return vector

    def retrieve(
        self,
        query: str,
        n: int,
        allowed: np.ndarray | None = None,
        query_vec: np.ndarray | None = None,
        language: QueryLanguage | None = None,
        options: SearchOptions | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The top ``n`` items for a query in fused order, with their ``QUERY_FEATURES``
        (dense similarity per document kind, BM25 per field, word coverage, title match,
        prefix and share, language match, fused score, 1-based rank)."""
        opts = options or self.options
        if query_vec is None:
            query_vec = self.encode_query(query)
        if language is None:
            language = self.languages.detect(query)
        depth = max(opts.fusion_depth, n)
        _, dense_weight = self._dense_weight(query, language, opts)
        dense = {
            kind: self.dense.best_per_item(query_vec, allowed, depth, opts.min_fetch, kind)
            for kind, weight in _dense_lists(opts)
            if dense_weight * weight > 0
        }
        return self._fuse(query, query_vec, dense, n, allowed, language, opts)

    def retrieve_many(
        self, queries: Sequence[str], n: int, chunk: int = 1024
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``retrieve`` of each query in turn, unfiltered, with this searcher's options:
        queries encoded and dense-searched ``chunk`` at a time (the build's training
        queries: one batched index search per kind instead of one per query and kind)."""
        opts = self.options
        depth = max(opts.fusion_depth, n)
        for start in range(0, len(queries), chunk):
            part = list(queries[start : start + chunk])
            vectors = self.encode_queries(part)
            dense = {
                kind: self.dense.best_per_item_many(vectors, depth, opts.min_fetch, kind)
                for kind, _ in _dense_lists(opts)
            }
            for number, query in enumerate(part):
                language = self.languages.detect(query)
                _, dense_weight = self._dense_weight(query, language, opts)
                found = {
                    kind: dense[kind][number]
                    for kind, weight in _dense_lists(opts)
                    if dense_weight * weight > 0
                }
                vec = vectors[number : number + 1]
                yield self._fuse(query, vec, found, n, None, language, opts)

    def _dense_weight(
        self, query: str, language: QueryLanguage, opts: SearchOptions
    ) -> tuple[bool, float]:
        """Whether the query describes rather than names, and the weight of its dense lists:
        a description counts on them more, one in a non-English language (with a multilingual
        encoder) most, since nothing lexical may lead to its target."""
        descriptive = len(search_tokens(query)) >= opts.descriptive_min_tokens
        if not descriptive:
            return False, opts.dense_weight
        foreign = self.multilingual and language.lang not in (None, "en")
        return True, opts.foreign_dense_weight if foreign else opts.descriptive_dense_weight

    def _fuse(
        self,
        query: str,
        query_vec: np.ndarray,
        dense: dict[str, dict[int, float]],
        n: int,
        allowed: np.ndarray | None,
        language: QueryLanguage,
        opts: SearchOptions,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``retrieve`` once the best items of each dense kind it needs (``dense``) are
        known."""
        depth = max(opts.fusion_depth, n)
        descriptive, dense_weight = self._dense_weight(query, language, opts)
        lists: list[tuple[float, list[int]]] = []
        for kind, weight in _dense_lists(opts):
            if kind in dense:
                best = dense[kind]
                ranked = sorted(best, key=lambda i: (-best[i], i))[:depth]
                lists.append((dense_weight * weight, ranked))
        field_weights = dict(opts.descriptive_field_weights) if descriptive else None
        lexical_items, lexical_scores = self.lexical.search(query, depth, allowed, field_weights)
        bm25 = dict(zip(lexical_items.tolist(), lexical_scores.tolist(), strict=True))
        # an item counts once in the dense side, at its best kind (as within a kind it counts
        # at its best document): an item with an overview in the query's language must not
        # win on two lists against the right film that has one English overview
        fused = _rrf(lists, opts.rrf_k)
        for item, score in _rrf([(opts.lexical_weight, list(bm25))], opts.rrf_k).items():
            fused[item] = fused.get(item, 0.0) + score
        pool = np.fromiter(fused, dtype=np.int64, count=len(fused))
        titles = {
            item: bonus
            for item, bonus in self.lexicon.match(query, pool).items()
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
        features = self.features(query, query_vec, items, bm25, titles, in_language)
        features[:, column("query_fused")] = [fused[i] for i in ranked]
        features[:, column("query_rank")] = np.arange(1, len(ranked) + 1)
        return items, features

    def features(
        self,
        query: str,
        query_vec: np.ndarray,
        items: np.ndarray,
        bm25: dict[int, float],
        titles: dict[int, float],
        in_language: np.ndarray | None,
    ) -> np.ndarray:
        """``QUERY_FEATURES`` of the given results (the fusion columns left at 0)."""
        out = np.zeros((len(items), len(QUERY_FEATURES)), dtype=np.float64)
        kinds = self.dense.kind_scores(query_vec, items, (CONTENT, LOCALIZED))
        out[:, column("query_dense_content")] = kinds[:, 0]
        out[:, column("query_dense_localized")] = kinds[:, 1]
        with np.errstate(invalid="ignore"):
            best = np.fmax(kinds[:, 0], kinds[:, 1])
        out[:, column("query_dense")] = np.nan_to_num(best, nan=0.0)
        out[:, column("query_bm25")] = [bm25.get(i, 0.0) for i in items.tolist()]
        evidence = self.lexical.evidence(query, items)
        for name, values in zip(EVIDENCE, evidence.T, strict=True):
            out[:, column(f"query_{name}")] = values
        out[:, column("query_title")] = [titles.get(i, 0.0) for i in items.tolist()]
        shape = self.lexicon.shape(query, items)
        out[:, column("query_title_prefix")] = shape[:, 0]
        out[:, column("query_title_share")] = shape[:, 1]
        if in_language is not None:
            out[:, column("query_language")] = in_language[items]
        out[:, column("query_words")] = len(search_tokens(query))
        return out

    def similar(self, item: int, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        """Content neighbours of item position ``item`` (never itself), best first. The item
        must have a content document (``dense.content_doc[item] >= 0``)."""
        doc = int(self.dense.content_doc[item])
        allowed = np.ones(len(self.items), dtype=bool) if allowed is None else allowed.copy()
        allowed[item] = False
        query_vec = self.dense.vectors[doc : doc + 1]
        opts = self.options
        scores = self.dense.best_per_item(query_vec, allowed, k, opts.min_fetch, CONTENT)
        return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def _dense_lists(opts: SearchOptions) -> tuple[tuple[str, float], ...]:
    """The dense lists of the fusion: each document kind with its weight (times the query's
    dense weight). A kind whose weight is 0 is neither searched nor fused."""
    kinds = ((CONTENT, opts.content_list_weight), (LOCALIZED, opts.localized_list_weight))
    return tuple((kind, weight) for kind, weight in kinds if weight > 0)


def _rrf(lists: list[tuple[float, list[int]]], rrf_k: float) -> dict[int, float]:
    """Reciprocal-rank fusion of lists that rank the same evidence (one call per side of
    the fusion): each item scores its best ``weight / (rrf_k + rank)`` over the lists; a
    list weighted out contributes neither score nor candidates."""
    fused: dict[int, float] = {}
    for weight, ranked in lists:
        if weight <= 0:
            continue
        for rank, item in enumerate(ranked, start=1):
            fused[item] = max(fused.get(item, 0.0), weight / (rrf_k + rank))
    return fused
