"""Retrieval knobs and the named retrieval modes (benchmark ablations, experiment variants).

``SearchOptions`` are the hybrid searcher's knobs, tuned on ``bench/queries`` (``dev``);
each mode of ``RETRIEVAL_MODES`` is the default options with some fields replaced, so one
loaded searcher serves every mode.
"""

from __future__ import annotations

from typing import Any

from pydantic.dataclasses import dataclass as pydantic_dataclass

from recsys.core.config import SECTION


@pydantic_dataclass(frozen=True, config=SECTION)
class SearchOptions:
    """Retrieval knobs (tuned on bench/queries; see bench/README.md). The service reads them
    from ``RECSYS_SEARCH__<KNOB>`` (``api.settings.Settings.search``)."""

    min_fetch: int = 200  # documents of each kind taken from the ANN index per query, at least
    # each document kind is its own dense list in the fusion, with this weight (times
    # dense_weight): English content (title, plot, genres, people), localized overviews
    content_list_weight: float = 1.0
    localized_list_weight: float = 0.5
    # query embeddings kept for repeated queries (search boxes see the same head queries
    # again and again); 0 turns the cache off
    query_cache_size: int = 4096
    # the deepest result a client can page to (offset + k); also the candidate pool that
    # ``found`` and facets count over
    max_results: int = 200
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
    descriptive_dense_weight: float = 1.0
    # a descriptive query in a detected non-English language, with a multilingual encoder
    # (MULTILINGUAL_MODELS): its target may have no text in that language at all (no lexical
    # overlap), so the dense lists must carry it
    foreign_dense_weight: float = 2.5
    descriptive_field_weights: tuple[tuple[str, float], ...] = (
        ("title", 0.5),
        ("people", 0.5),
        ("text", 0.5),
        ("stems", 1.0),
    )
    # a language needs this many items (original or localized) to be detected at all
    min_language_items: int = 5


# The one declaration of the retrieval modes (benchmark ablations, experiment variants):
# each is the default options with these fields replaced.
DEFAULT_RETRIEVAL = "hybrid"
RETRIEVAL_MODES: dict[str, dict[str, Any]] = {
    DEFAULT_RETRIEVAL: {},
    "dense": {"lexical_weight": 0.0},
    "lexical": {"dense_weight": 0.0, "descriptive_dense_weight": 0.0, "foreign_dense_weight": 0.0},
}
