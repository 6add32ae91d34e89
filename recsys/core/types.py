"""The shapes passed to and handed back by the engine (the API, benchmarks, evaluation).

Requests are small frozen objects (``SearchRequest``, ``RecommendRequest``,
``SimilarRequest``), passed unchanged from the API through experiments to the engine. One
return shape for every retrieval entry point: a list of ``Hit``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

ITEM_TYPES = ("movie", "tv_show")


@dataclass(frozen=True)
class SearchFilters:
    """Structured filters applied to every retrieval path. All bounds are inclusive."""

    type: str | None = None
    genre: str | None = None
    year_min: int | None = None
    year_max: int | None = None
    original_language: str | None = None  # ISO 639-1, e.g. "fr"
    maturity_ratings: tuple[str, ...] | None = None  # any of these, e.g. ("PG", "PG-13")

    def is_empty(self) -> bool:
        return all(value is None for value in vars(self).values())


@dataclass(frozen=True)
class SearchRequest:
    """One search. ``ranker``: a search ranker name (default: the learned ranker, personal
    for known users); ``retrieval``: a retrieval mode name (default hybrid). See
    ``Capabilities``. ``offset`` + ``k`` is one page of the ranked matches; ``facets`` names
    the fields to count values of over all the matches (``FACET_FIELDS``)."""

    query: str
    k: int = 10
    filters: SearchFilters | None = None
    lang: str | None = None  # display language (ISO 639-1)
    user_id: str | None = None
    ranker: str | None = None
    retrieval: str | None = None
    offset: int = 0
    facets: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecommendRequest:
    """One recommendation list for a user (``ranker``: default the artifact's default)."""

    user_id: str
    k: int = 10
    filters: SearchFilters | None = None
    lang: str | None = None
    include_seen: bool = False
    ranker: str | None = None


@dataclass(frozen=True)
class SimilarRequest:
    """Content neighbours of one item (never the item itself)."""

    item_id: str
    k: int = 10
    filters: SearchFilters | None = None
    lang: str | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a loaded engine can serve, by name; experiments are validated against it."""

    search_rankers: tuple[str, ...]
    recommendation_rankers: tuple[str, ...]
    retrieval_modes: tuple[str, ...]


@dataclass(frozen=True)
class Hit:
    """One ranked item, with the display fields a client needs."""

    item_id: str
    title: str
    original_title: str | None
    year: int | None
    type: str
    genres: list[str]
    score: float
    description: str | None = None
    lang: str | None = None  # language of title/description when localized, else None
    original_language: str | None = None
    maturity_rating: str | None = None
    # search only: title / description snippets with the query's words in <mark></mark>
    highlights: dict[str, str] | None = None


@dataclass(frozen=True)
class SearchResult:
    query: str
    items: list[Hit]
    model_version: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    # the query's detected language (ISO 639-1) when search was confident about it
    query_language: str | None = None
    # search only: how many items match (pass the filters and the relevance threshold,
    # counted over the deepest page a client can reach), where this page starts, the facet
    # counts asked for ({field: [(value, count), ...]}) and the ranker that ordered them
    found: int = 0
    offset: int = 0
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    ranker: str | None = None


SUGGEST_KINDS = ("title", "person", "genre")


@dataclass(frozen=True)
class SuggestRequest:
    """Search-as-you-type: ``prefix`` as typed so far (a trailing space ends the word)."""

    prefix: str
    k: int = 8
    kinds: tuple[str, ...] = SUGGEST_KINDS


@dataclass(frozen=True)
class Completion:
    """One suggestion: a title (with its item), a person or a genre."""

    kind: str
    text: str
    item_id: str | None
    score: float
    year: int | None = None  # titles: tells namesakes apart


@dataclass(frozen=True)
class SuggestResult:
    prefix: str
    suggestions: list[Completion]
    model_version: str


@dataclass(frozen=True)
class Recommendation:
    """One recommended item: display fields, why it was recommended, where it came from."""

    hit: Hit
    reasons: list[str]  # a few words each, e.g. "because you watched Heat (1995)"
    sources: list[str]  # candidate sources that proposed it, e.g. ["covis", "ease"]


@dataclass(frozen=True)
class RecommendationResult:
    user_id: str
    items: list[Recommendation]
    model_version: str
    ranker: str  # the name of the ranker that ordered the list
    cold_start: bool  # True when the user had no usable history
    timings_ms: dict[str, float] = field(default_factory=dict)


class SearchService(Protocol):
    """What the HTTP layer needs from the engine. Errors: NotFoundError, InvalidRequestError.

    Every implementation (the real ``Engine``, the API tests' fake) runs the shared contract
    suite in ``tests/contracts/test_search_service.py``."""

    @property
    def model_version(self) -> str: ...

    def search(self, request: SearchRequest) -> SearchResult: ...

    def similar(self, request: SimilarRequest) -> SearchResult: ...

    def recommend(self, request: RecommendRequest) -> RecommendationResult: ...

    def suggest(self, request: SuggestRequest) -> SuggestResult: ...

    def item(self, item_id: str, lang: str | None = None) -> dict[str, Any]: ...

    def stats(self) -> dict[str, Any]: ...

    def capabilities(self) -> Capabilities: ...

    def self_check(self) -> list[str]:
        """Problems found on known answers (empty: healthy); run before a version serves."""
        ...


@runtime_checkable
class LearnsOnline(Protocol):
    """An engine whose recommendations react to feedback without a rebuild
    (``recsys.recommend.online``): the HTTP layer hands it every stored event batch."""

    def observe(self, events: Sequence[Any]) -> int:
        """Events just stored (``recsys.events.schema.Event``); returns new consumptions."""
        ...

    def catch_up(self, store: Any) -> None:
        """Replay the event store (all of it the first time, then what arrived since the
        previous call); idempotent."""
        ...

    def online_stats(self) -> dict[str, int]: ...
