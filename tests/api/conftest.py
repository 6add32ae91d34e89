"""A small deterministic fake ``SearchService`` and app/client fixtures."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from recsys.core.errors import InvalidParameterError, InvalidRequestError, NotFoundError
from recsys.core.types import (
    Capabilities,
    Completion,
    Hit,
    Recommendation,
    RecommendationResult,
    RecommendRequest,
    SearchFilters,
    SearchRequest,
    SearchResult,
    SearchService,
    SimilarRequest,
    SuggestRequest,
    SuggestResult,
)
from recsys.experiments.loading import DECLARED
from recsys.ranking.rankers import RECOMMENDATION_RANKERS, SEARCH_RANKERS
from recsys.search.highlight import highlight_hit
from recsys.search.options import RETRIEVAL_MODES

FAKE_MAX_RESULTS = 200


@dataclass(frozen=True)
class FakeItem:
    item_id: str
    title: str
    year: int
    type: str
    genres: tuple[str, ...]
    description: str
    prior: float  # tie-breaker; distinct per item so every ranking is fully determined
    localized: dict[str, tuple[str, str]] = field(default_factory=dict)  # lang -> (title, desc)
    original_language: str | None = None  # unknown: excluded by an original_language filter
    maturity_rating: str | None = None


CATALOG: tuple[FakeItem, ...] = (
    FakeItem(
        "m1",
        "Robot Dreams",
        2023,
        "movie",
        ("Animation", "Drama"),
        "A dog builds a robot friend in New York.",
        0.06,
        {"fr": ("Mon ami robot", "Un chien construit un ami robot à New York.")},
    ),
    FakeItem(
        "m2",
        "The Matrix",
        1999,
        "movie",
        ("Action", "Science Fiction"),
        "A hacker learns reality is a simulation run by machines.",
        0.05,
        {"fr": ("Matrix", "Un pirate découvre que la réalité est une simulation.")},
    ),
    FakeItem(
        "m3",
        "Blade Runner",
        1982,
        "movie",
        ("Science Fiction", "Thriller"),
        "A detective hunts rogue replicant robots in Los Angeles.",
        0.04,
    ),
    FakeItem(
        "s1",
        "Westworld",
        2016,
        "tv_show",
        ("Science Fiction", "Western"),
        "Robot hosts in a western theme park awaken.",
        0.03,
        {"de": ("Westworld", "Roboter in einem Themenpark erwachen.")},
    ),
    FakeItem(
        "s2",
        "The Office",
        2005,
        "tv_show",
        ("Comedy",),
        "A mockumentary about office workers.",
        0.02,
    ),
    FakeItem(
        "m4",
        "Amelie",
        2001,
        "movie",
        ("Comedy", "Romance"),
        "A shy waitress in Paris helps the people around her.",
        0.01,
        {"fr": ("Le Fabuleux Destin d'Amélie Poulain", "Une serveuse timide à Paris.")},
        original_language="fr",
        maturity_rating="R",
    ),
)
BY_ID = {item.item_id: item for item in CATALOG}
# What each known user watched, oldest first; any other user id is a cold-start user.
HISTORY: dict[str, tuple[str, ...]] = {"u1": ("m2", "m3"), "u2": ("m4",)}


def _tokens(text: str) -> set[str]:
    return {t.strip(".,'").lower() for t in text.split()} - {""}


class FakeService:
    """score = number of query tokens found in title/description/genres + a per-item prior.

    Records every call in ``calls`` so tests can check what the API passed through.
    """

    model_version = "fake-1"

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.called_on_event_loop: list[bool] = []

    def _record(self, name: str, args: dict[str, Any]) -> None:
        self.calls.append((name, args))
        try:
            asyncio.get_running_loop()
            self.called_on_event_loop.append(True)
        except RuntimeError:
            self.called_on_event_loop.append(False)

    @staticmethod
    def _passes(item: FakeItem, filters: SearchFilters | None) -> bool:
        if filters is None:
            return True
        return (
            (filters.type is None or item.type == filters.type)
            and (filters.genre is None or filters.genre in item.genres)
            and (filters.year_min is None or item.year >= filters.year_min)
            and (filters.year_max is None or item.year <= filters.year_max)
            and (
                filters.original_language is None
                or item.original_language == filters.original_language
            )
            and (
                filters.maturity_ratings is None
                or (item.maturity_rating or "").lower()
                in {r.lower() for r in filters.maturity_ratings}
            )
        )

    @staticmethod
    def _hit(item: FakeItem, score: float, lang: str | None) -> Hit:
        title, desc, hit_lang = item.title, item.description, None
        if lang is not None and lang in item.localized:
            title, desc = item.localized[lang]
            hit_lang = lang
        return Hit(
            item_id=item.item_id,
            title=title,
            original_title=item.title,
            year=item.year,
            type=item.type,
            genres=list(item.genres),
            score=round(score, 4),
            description=desc,
            lang=hit_lang,
            original_language=item.original_language,
            maturity_rating=item.maturity_rating,
        )

    def _rank(self, scored: list[tuple[float, FakeItem]], k: int, lang: str | None) -> list[Hit]:
        scored.sort(key=lambda pair: (-pair[0], pair[1].item_id))
        return [self._hit(item, score, lang) for score, item in scored[:k]]

    def capabilities(self) -> Capabilities:
        return DECLARED

    def self_check(self) -> list[str]:
        """The known answer: searching a catalog title finds it."""
        found = self.search(SearchRequest("Robot Dreams", k=10))
        return [] if any(h.item_id == "m1" for h in found.items) else ["m1 not found"]

    def search(self, request: SearchRequest) -> SearchResult:
        """Score = query words found in title/description/genres + prior; ``ranker="noop"``
        drops the prior (a different order for interleaving tests)."""
        query, k, filters, lang = request.query, request.k, request.filters, request.lang
        user_id, ranker, retrieval = request.user_id, request.ranker, request.retrieval
        if ranker is not None and ranker not in SEARCH_RANKERS:
            raise InvalidRequestError(f"unknown search ranker {ranker!r}")
        if retrieval is not None and retrieval not in RETRIEVAL_MODES:
            raise InvalidRequestError(f"unknown retrieval mode {retrieval!r}")
        if not query.strip():
            raise InvalidRequestError("query is empty")
        genres = sorted({g for item in CATALOG for g in item.genres})
        wanted = filters.genre if filters is not None else None
        if wanted is not None and wanted.casefold() not in {g.casefold() for g in genres}:
            raise InvalidParameterError("genre", wanted, genres)
        if request.offset + k > FAKE_MAX_RESULTS:
            raise InvalidRequestError(f"offset + k must be at most {FAKE_MAX_RESULTS}")
        args = {"query": query, "k": k, "filters": filters, "lang": lang, "user_id": user_id}
        if ranker is not None or retrieval is not None:
            args.update(ranker=ranker, retrieval=retrieval)
        if request.offset or request.facets:
            args.update(offset=request.offset, facets=request.facets)
        self._record("search", args)
        q = _tokens(query)
        scored = []
        for item in CATALOG:
            if not self._passes(item, filters):
                continue
            text = _tokens(f"{item.title} {item.description} {' '.join(item.genres)}")
            prior = 0.0 if ranker == "noop" else item.prior
            scored.append((len(q & text) + prior, item))
        ranked = [
            highlight_hit(hit, query)
            for hit in self._rank(scored, request.offset + k, lang)[request.offset :]
        ]
        facets: dict[str, list[tuple[str, int]]] = {}
        for name in request.facets:
            values = [
                v for _, item in scored for v in (item.genres if name == "genre" else [item.type])
            ]
            counts = {v: values.count(v) for v in values}
            facets[name] = sorted(counts.items(), key=lambda vc: (-vc[1], vc[0]))
        return SearchResult(
            query,
            ranked,
            self.model_version,
            {"total": 1.5},
            found=len(scored),
            offset=request.offset,
            facets=facets,
            ranker=ranker or "lightgbm",
        )

    def suggest(self, request: SuggestRequest) -> SuggestResult:
        """Titles starting with the prefix (case-insensitive), by prior."""
        self._record("suggest", {"prefix": request.prefix, "k": request.k})
        prefix = request.prefix.casefold()
        found = sorted(
            (item for item in CATALOG if item.title.casefold().startswith(prefix)),
            key=lambda item: (-item.prior, item.item_id),
        )
        completions = [
            Completion("title", item.title, item.item_id, item.prior, item.year)
            for item in found[: request.k]
            if "title" in request.kinds
        ]
        return SuggestResult(request.prefix, completions, self.model_version)

    def similar(self, request: SimilarRequest) -> SearchResult:
        item_id, k, filters, lang = request.item_id, request.k, request.filters, request.lang
        self._record("similar", {"item_id": item_id, "k": k, "filters": filters, "lang": lang})
        if item_id not in BY_ID:
            raise NotFoundError(f"unknown item {item_id!r}")
        anchor = BY_ID[item_id]
        scored = [
            (len(set(anchor.genres) & set(item.genres)) + item.prior, item)
            for item in CATALOG
            if item.item_id != item_id and self._passes(item, filters)
        ]
        hits = self._rank(scored, k, lang)
        return SearchResult(item_id, hits, self.model_version, found=len(hits))

    def recommend(self, request: RecommendRequest) -> RecommendationResult:
        """Known user (``HISTORY``): score = number of the item's genres found in the history +
        prior; watched items are left out unless ``include_seen``; reasons name the watched
        items sharing a genre. Unknown user: cold start, by prior, reason "popular now".
        Either way an item localized in ``lang`` also gets "popular in your language"."""
        user_id, k, filters, lang = request.user_id, request.k, request.filters, request.lang
        include_seen, ranker = request.include_seen, request.ranker
        if ranker is not None and ranker not in RECOMMENDATION_RANKERS:
            raise InvalidRequestError(f"unknown ranker {ranker!r}")
        self._record(
            "recommend",
            {
                "user_id": user_id,
                "k": k,
                "filters": filters,
                "lang": lang,
                "include_seen": include_seen,
                "ranker": ranker,
            },
        )
        history = [BY_ID[item_id] for item_id in HISTORY.get(user_id, ())]
        seen = {item.item_id for item in history}
        liked = {genre for item in history for genre in item.genres}
        scored: list[tuple[float, FakeItem, list[str], list[str]]] = []
        for item in CATALOG:
            if not self._passes(item, filters) or (item.item_id in seen and not include_seen):
                continue
            overlap = len(liked & set(item.genres))
            reasons = [
                f"because you watched {watched.title}"
                for watched in history
                if watched.item_id != item.item_id and set(watched.genres) & set(item.genres)
            ]
            sources = ["genre"] if overlap else ["popularity"]
            if item.item_id in seen:
                reasons.insert(0, "you watched it")
            if not reasons:
                reasons.append("popular now")
            if lang is not None and lang in item.localized:
                reasons.append("popular in your language")
                sources.append("lang")
            # "noop" (candidate order) ignores taste: a different order for interleaving tests
            score = item.prior if ranker == "noop" else overlap + item.prior
            scored.append((score, item, reasons, sources))
        scored.sort(key=lambda entry: (-entry[0], entry[1].item_id))
        items = [
            Recommendation(self._hit(item, score, lang), reasons, sources)
            for score, item, reasons, sources in scored[:k]
        ]
        return RecommendationResult(
            user_id=user_id,
            items=items,
            model_version=self.model_version,
            ranker="popularity" if not history else (ranker or "fake-genre"),
            cold_start=not history,
            timings_ms={"total": 2.5},
        )

    def item(self, item_id: str, lang: str | None = None) -> dict[str, Any]:
        self._record("item", {"item_id": item_id, "lang": lang})
        if item_id not in BY_ID:
            raise NotFoundError(f"unknown item {item_id!r}")
        item = BY_ID[item_id]
        hit = self._hit(item, 0.0, lang)
        return {
            "item_id": item.item_id,
            "title": hit.title,
            "original_title": item.title,
            "year": item.year,
            "type": item.type,
            "genres": item.genres,  # a tuple on purpose: the API must serialize it
            "description": hit.description,
            "lang": hit.lang,
            "available_langs": sorted(item.localized),
        }

    def stats(self) -> dict[str, Any]:
        return {"n_items": len(CATALOG), "index": "fake-flat"}


def make_settings(**overrides: Any) -> Settings:
    """Explicit values for everything the tests depend on (immune to RECSYS_* env vars)."""
    values: dict[str, Any] = {
        "artifacts_dir": Path("does-not-exist"),
        "max_query_chars": 512,
        "max_k": 100,
        "default_k": 10,
        "request_log": None,
        "encoder_device": None,
        "log_level": "info",
        # never the repo's var/events.sqlite3: each app gets its own store
        "events_db": Path(tempfile.mkdtemp(prefix="recsys-events-")) / "events.sqlite3",
        "experiments_path": None,  # tests/api/test_experiments.py sets its own
        "reload_interval_s": 0,  # no watcher: tests/api/test_reload.py turns it on
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def fake() -> FakeService:
    return FakeService()


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """Factory: ``make_client(loader=..., wait=True, **settings)`` -> started TestClient."""
    with ExitStack() as stack:

        def _make(
            loader: Callable[[Settings], SearchService] | None = None,
            wait: bool = True,
            raise_server_exceptions: bool = True,
            **settings: Any,
        ) -> TestClient:
            app: FastAPI = create_app(make_settings(**settings), loader)
            client = TestClient(app, raise_server_exceptions=raise_server_exceptions)
            stack.enter_context(client)  # runs the lifespan (starts the loader thread)
            if wait:
                assert app.state.engine_state.wait(timeout=5.0), "loader did not finish"
            return client

        yield _make


@pytest.fixture
def client(make_client: Callable[..., TestClient], fake: FakeService) -> TestClient:
    return make_client(loader=lambda _settings: fake)
