"""``GET /v1/search``: free-text (multilingual) search, optionally personalized."""

# No `from __future__ import annotations`: the endpoints are closures whose parameter
# annotations use per-app values, and FastAPI must evaluate them at definition time.

import time
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AfterValidator

from api.deps import (
    LangQuery,
    UserIdQuery,
    VariantQuery,
    check_filters,
    get_engine,
    get_experiments,
    get_filters,
    k_query,
    make_query_validator,
)
from api.observability import RequestLog
from api.routes.serving import log_response, request_id_of
from api.schemas import SearchResponse, error_responses
from api.settings import Settings
from recsys.core.types import SearchFilters, SearchRequest, SearchResult, SearchService
from recsys.experiments.config import ExperimentConfig
from recsys.experiments.serving import Served, assignment_for, serve_search


def respond(
    request: Request,
    request_log: RequestLog | None,
    *,
    route: str,
    started: float,
    served: Served[SearchResult],
    k: int,
    lang: str | None,
    filters: SearchFilters,
    query: str | None = None,
    item_id: str | None = None,
    user_id: str | None = None,
) -> SearchResponse:
    """Shape an engine result into the response and log what was served (request log and
    exposure log)."""
    result = served.result
    request_id = request_id_of(request)
    response = SearchResponse.from_result(result, request_id)
    response.items = response.items[:k]
    response.query = query if query is not None else (item_id or result.query)
    response.experiment, response.variant = served.experiment, served.variant
    log_response(
        request,
        request_log,
        served,
        route=route,
        started=started,
        request_id=request_id,
        model_version=response.model_version,
        items=[(hit.item_id, hit.score) for hit in response.items],
        params={"k": k, "lang": lang, **asdict(filters)},
        query=query,
        item_id=item_id,
        user_id=user_id,
        exposed_query=response.query,
    )
    return response


def build_router(settings: Settings, request_log: RequestLog | None) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["search"])

    @router.get(
        "/search",
        response_model=SearchResponse,
        summary="Search the catalog with a free-text query in any supported language",
        responses=error_responses(400, 422, 503),
    )
    def search(
        request: Request,
        engine: Annotated[SearchService, Depends(get_engine)],
        q: Annotated[
            str,
            Query(
                description=(
                    "Free-text query. Surrounding whitespace is stripped and internal "
                    "whitespace collapsed; control characters (e.g. NUL) are rejected with 422; "
                    f"at most {settings.max_query_chars} characters after trimming."
                ),
                examples=["film de science-fiction avec des robots"],
                json_schema_extra={"maxLength": settings.max_query_chars},
            ),
            AfterValidator(make_query_validator(settings.max_query_chars)),
        ],
        filters: Annotated[SearchFilters, Depends(get_filters)],
        experiments: Annotated[ExperimentConfig, Depends(get_experiments)],
        k: Annotated[int, k_query(settings)] = settings.default_k,
        lang: LangQuery = None,
        user_id: UserIdQuery = None,
        variant: VariantQuery = None,
    ) -> SearchResponse:
        # A plain `def`: FastAPI runs it in the thread pool, so the CPU-bound engine call
        # does not block the event loop.
        started = time.perf_counter()
        arm = assignment_for(experiments, "search", user_id, variant)
        search_request = SearchRequest(q, k, check_filters(filters), lang, user_id)
        served = serve_search(engine, arm, request_id_of(request), search_request)
        response = respond(
            request,
            request_log,
            route="search",
            started=started,
            served=served,
            k=k,
            lang=lang,
            filters=filters,
            query=q,
            user_id=user_id,
        )
        return response

    return router
