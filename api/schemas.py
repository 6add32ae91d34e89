"""Response models (with OpenAPI examples) and helpers that shape engine output."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from recsys.core.types import (
    Hit,
    Recommendation,
    RecommendationResult,
    SearchResult,
    SuggestResult,
)
from recsys.ranking.rankers import LightGBMRanker

# --------------------------------------------------------------------------- errors

_ERROR_EXAMPLES: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "year_min (2010) must not be greater than year_max (2000)"),
    404: ("not_found", "unknown item 'tt0000000'"),
    422: ("invalid_parameter", "query parameter 'lang': String should match pattern '^[a-z]{2}$'"),
    500: ("internal", "internal server error"),
    503: ("not_ready", "engine is loading"),
}


class ErrorBody(BaseModel):
    code: str = Field(
        description="Stable machine-readable code: invalid_parameter, invalid_request, "
        "not_found, method_not_allowed, not_ready, internal.",
        examples=["invalid_parameter"],
    )
    message: str = Field(description="Human-readable explanation.")


class ErrorResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"error": {"code": "not_found", "message": "unknown item 'tt0000000'"}}]
        }
    )

    error: ErrorBody


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the given error statuses, with examples."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        code, message = _ERROR_EXAMPLES[status]
        out[status] = {
            "model": ErrorResponse,
            "description": code,
            "content": {
                "application/json": {"example": {"error": {"code": code, "message": message}}}
            },
        }
    return out


# --------------------------------------------------------------------------- search


class HitOut(BaseModel):
    item_id: str = Field(examples=["2571"])
    title: str = Field(examples=["The Matrix"])
    original_title: str | None = Field(default=None, examples=["The Matrix"])
    year: int | None = Field(default=None, examples=[1999])
    type: str = Field(description="movie or tv_show", examples=["movie"])
    genres: list[str] = Field(default_factory=list, examples=[["Action", "Science Fiction"]])
    score: float = Field(
        description="Ranking score; higher is better. Only comparable within one response.",
        examples=[0.873],
    )
    description: str | None = Field(default=None, examples=["Un pirate informatique..."])
    lang: str | None = Field(
        default=None,
        description="Language of title/description when localized, else null.",
        examples=["fr"],
    )
    original_language: str | None = Field(
        default=None, description="ISO 639-1 code, when known.", examples=["en"]
    )
    maturity_rating: str | None = Field(default=None, examples=["PG-13"])

    @classmethod
    def from_hit(cls, hit: Hit) -> HitOut:
        score = float(hit.score)
        return cls(
            item_id=str(hit.item_id),
            title=hit.title,
            original_title=hit.original_title,
            year=None if hit.year is None else int(hit.year),
            type=hit.type,
            genres=[str(g) for g in hit.genres],
            score=score if math.isfinite(score) else 0.0,
            description=hit.description,
            lang=hit.lang,
            original_language=hit.original_language,
            maturity_rating=hit.maturity_rating,
        )


class SearchHitOut(HitOut):
    highlights: dict[str, str] | None = Field(
        default=None,
        description="`title` and `description` snippets (HTML-escaped) with the query's "
        "words wrapped in <mark></mark>; a field without a match is absent.",
        examples=[{"title": "The <mark>Matrix</mark>"}],
    )

    @classmethod
    def from_search_hit(cls, hit: Hit) -> SearchHitOut:
        return cls(**HitOut.from_hit(hit).model_dump(), highlights=hit.highlights)


class FacetValue(BaseModel):
    value: str = Field(examples=["Drama"])
    count: int = Field(description="Matches with this value.", examples=[12])


class SearchResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request_id": "3f2b9c1e8a5d4f6b9e0c7a1d2b3c4d5e",
                    "query": "film de science-fiction avec des robots",
                    "model_version": "minilm-l6-v2+lgbm-2024-06-01",
                    "items": [
                        {
                            "item_id": "2571",
                            "title": "Matrix",
                            "original_title": "The Matrix",
                            "year": 1999,
                            "type": "movie",
                            "genres": ["Action", "Science Fiction"],
                            "score": 0.873,
                            "description": "Un pirate informatique découvre la vérité...",
                            "lang": "fr",
                        }
                    ],
                }
            ]
        }
    )

    request_id: str = Field(description="Same value as the X-Request-ID response header.")
    query: str = Field(description="The normalized query (for /similar: the item id).")
    model_version: str
    experiment: str | None = Field(
        default=None, description="The experiment this response belongs to, if any."
    )
    variant: str | None = Field(default=None, description="Its variant (arm), if any.")
    query_language: str | None = Field(
        default=None,
        description="The query's language (ISO 639-1) when detection was confident; items "
        "in it are slightly preferred. Null for short or ambiguous queries.",
        examples=["fr"],
    )
    found: int = Field(
        default=0,
        description="How many items match the query under the filters (0: nothing "
        "relevant; nonsense finds nothing). Counted over the deepest page a client can "
        "reach (RECSYS_SEARCH__MAX_RESULTS, default 200), so it is at most that. For "
        "/similar: the number of neighbours returned.",
        examples=[37],
    )
    offset: int = Field(default=0, description="Where this page starts.", examples=[0])
    ranker: str | None = Field(
        default=None,
        description="The ranker that ordered the results: the learned one (LambdaMART) or "
        "noop (reciprocal-rank fusion).",
        examples=[LightGBMRanker.name],
    )
    facets: dict[str, list[FacetValue]] = Field(
        default_factory=dict,
        description="For each field asked for in `facets`: its values over all the matches, "
        "most frequent first.",
        examples=[{"type": [{"value": "movie", "count": 30}, {"value": "tv_show", "count": 7}]}],
    )
    items: list[SearchHitOut]

    @classmethod
    def from_result(cls, result: SearchResult, request_id: str) -> SearchResponse:
        return cls(
            request_id=request_id,
            query=result.query,
            model_version=str(result.model_version),
            query_language=result.query_language,
            found=result.found,
            offset=result.offset,
            ranker=result.ranker,
            facets={
                name: [FacetValue(value=str(v), count=int(c)) for v, c in values]
                for name, values in result.facets.items()
            },
            items=[SearchHitOut.from_search_hit(hit) for hit in result.items],
        )


class SuggestionOut(BaseModel):
    kind: str = Field(description="title, person or genre", examples=["title"])
    text: str = Field(description="What to show (and to search for).", examples=["Star Wars"])
    item_id: str | None = Field(
        default=None, description="Titles: the item (open it directly).", examples=["260"]
    )
    year: int | None = Field(default=None, description="Titles: release year.", examples=[1977])
    score: float = Field(description="Higher first; only comparable within one response.")


class SuggestResponse(BaseModel):
    request_id: str = Field(description="Same value as the X-Request-ID response header.")
    query: str = Field(description="The prefix as understood (whitespace collapsed).")
    model_version: str
    suggestions: list[SuggestionOut]

    @classmethod
    def from_result(cls, result: SuggestResult, request_id: str) -> SuggestResponse:
        return cls(
            request_id=request_id,
            query=result.prefix,
            model_version=str(result.model_version),
            suggestions=[
                SuggestionOut(
                    kind=c.kind, text=c.text, item_id=c.item_id, year=c.year, score=c.score
                )
                for c in result.suggestions
            ],
        )


# --------------------------------------------------------------------------- recommendations


class RecommendationOut(HitOut):
    """A recommended item: the same display fields as a search hit, plus why and from where."""

    reasons: list[str] = Field(
        default_factory=list,
        description="Short human-readable explanations, most important first.",
        examples=[["because you watched Heat (1995)", "popular in your language"]],
    )
    sources: list[str] = Field(
        default_factory=list,
        description="The candidate sources that proposed the item.",
        examples=[["covis", "ease"]],
    )

    @classmethod
    def from_recommendation(cls, rec: Recommendation) -> RecommendationOut:
        return cls(
            **HitOut.from_hit(rec.hit).model_dump(),
            reasons=[str(reason) for reason in rec.reasons],
            sources=[str(source) for source in rec.sources],
        )


class RecommendationResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request_id": "3f2b9c1e8a5d4f6b9e0c7a1d2b3c4d5e",
                    "user_id": "414",
                    "model_version": "minilm-l6-v2+lgbm-2024-06-01",
                    "ranker": LightGBMRanker.name,
                    "cold_start": False,
                    "items": [
                        {
                            "item_id": "2571",
                            "title": "Matrix",
                            "score": 0.873,
                            "reasons": ["because you watched Heat (1995)"],
                            "sources": ["covis", "ease"],
                            "original_title": "The Matrix",
                            "year": 1999,
                            "type": "movie",
                            "genres": ["Action", "Science Fiction"],
                            "description": "Un pirate informatique découvre la vérité...",
                            "lang": "fr",
                        }
                    ],
                }
            ]
        }
    )

    request_id: str = Field(description="Same value as the X-Request-ID response header.")
    user_id: str
    model_version: str
    ranker: str = Field(
        description="The ranker that ordered the list (one of the artifact's recommendation "
        "rankers; 'a+b' for a team-draft interleaving of two).",
        examples=[LightGBMRanker.name],
    )
    experiment: str | None = Field(
        default=None, description="The experiment this response belongs to, if any."
    )
    variant: str | None = Field(default=None, description="Its variant (arm), if any.")
    cold_start: bool = Field(
        description="True when the user had no usable history (e.g. an unknown user): the "
        "list is then popularity-based.",
        examples=[False],
    )
    items: list[RecommendationOut]

    @classmethod
    def from_result(cls, result: RecommendationResult, request_id: str) -> RecommendationResponse:
        return cls(
            request_id=request_id,
            user_id=str(result.user_id),
            model_version=str(result.model_version),
            ranker=str(result.ranker),
            cold_start=bool(result.cold_start),
            items=[RecommendationOut.from_recommendation(rec) for rec in result.items],
        )


# --------------------------------------------------------------------------- items


class ItemResponse(BaseModel):
    """An item's metadata as the engine stores it. The documented fields are always
    present when known; the engine may add more (they are passed through)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "item_id": "2571",
                    "title": "Matrix",
                    "original_title": "The Matrix",
                    "year": 1999,
                    "type": "movie",
                    "genres": ["Action", "Science Fiction"],
                    "description": "Un pirate informatique découvre la vérité...",
                    "lang": "fr",
                    "cast": ["Keanu Reeves", "Laurence Fishburne"],
                }
            ]
        },
    )

    item_id: str
    title: str | None = None
    original_title: str | None = None
    year: int | None = None
    type: str | None = None
    genres: list[str] | None = None
    description: str | None = None
    lang: str | None = None


def to_jsonable(value: Any) -> Any:
    """Best-effort conversion of engine output (numpy scalars/arrays, tuples, NaN) to JSON."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays
    if callable(tolist):
        return to_jsonable(tolist())
    return str(value)


# --------------------------------------------------------------------------- health


class HealthResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str


class ReadyResponse(BaseModel):
    """``ready`` plus the engine's ``stats()``; or ``loading`` / ``failed`` with a reason."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "status": "ready",
                    "model_version": "minilm-l6-v2+lgbm-2024-06-01",
                    "n_items": 48213,
                },
                {"status": "failed", "reason": "artifacts/manifest.json: missing"},
            ]
        },
    )

    status: str = Field(examples=["ready"])
    model_version: str | None = None
    reason: str | None = None
