"""``GET /v1/search``: free-text (multilingual) search, optionally personalized."""

# No `from __future__ import annotations`: FastAPI evaluates the endpoint annotations.

import time
from dataclasses import asdict

from fastapi import APIRouter, Request

from api.admission import check_deadline
from api.deps import (
    EngineDep,
    ExperimentsDep,
    FiltersDep,
    PageSize,
    QueryText,
)
from api.params import (
    FacetsQuery,
    LangQuery,
    OffsetQuery,
    PageQuery,
    UserIdQuery,
    VariantQuery,
    check_filters,
    page_offset,
)
from api.routes.serving import log_response, request_id_of
from api.schemas import SearchResponse, error_responses
from recsys.core.types import SearchFilters, SearchRequest, SearchResult
from recsys.experiments.serving import Served, assignment_for, serve_search


def respond(
    request: Request,
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
        served,
        route=route,
        started=started,
        request_id=request_id,
        model_version=response.model_version,
        items=[(hit.item_id, hit.score) for hit in response.items],
        params={
            "k": k,
            "lang": lang,
            **({"offset": result.offset} if route == "search" else {}),
            **asdict(filters),
        },
        query=query,
        item_id=item_id,
        user_id=user_id,
        exposed_query=response.query,
    )
    return response


router = APIRouter(prefix="/v1", tags=["search"])


@router.get(
    "/search",
    response_model=SearchResponse,
    summary="Search the catalog with a free-text query in any supported language",
    responses=error_responses(400, 422, 503),
)
def search(
    request: Request,
    engine: EngineDep,
    q: QueryText,
    filters: FiltersDep,
    experiments: ExperimentsDep,
    k: PageSize,
    lang: LangQuery = None,
    user_id: UserIdQuery = None,
    variant: VariantQuery = None,
    offset: OffsetQuery = 0,
    page: PageQuery = None,
    facets: FacetsQuery = None,
) -> SearchResponse:
    # A plain `def`: FastAPI runs it in the thread pool, so the CPU-bound engine call
    # does not block the event loop.
    check_deadline(request)  # waited too long for a worker: do not start
    started = time.perf_counter()
    arm = assignment_for(experiments, "search", user_id, variant)
    search_request = SearchRequest(
        q,
        k,
        check_filters(filters),
        lang,
        user_id,
        offset=page_offset(offset, page, k),
        facets=tuple(facets.split(",")) if facets else (),
    )
    served = serve_search(engine, arm, request_id_of(request), search_request)
    return respond(
        request,
        route="search",
        started=started,
        served=served,
        k=k,
        lang=lang,
        filters=filters,
        query=q,
        user_id=user_id,
    )
