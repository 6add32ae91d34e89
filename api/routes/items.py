"""``GET /v1/items/{item_id}`` and ``GET /v1/items/{item_id}/similar``."""

# No `from __future__ import annotations`: FastAPI evaluates the endpoint annotations.

import time

from fastapi import APIRouter, Request

from api.admission import check_deadline
from api.deps import EngineDep, FiltersDep, PageSize
from api.params import ItemIdPath, LangQuery, check_filters
from api.routes.search import respond
from api.routes.serving import log_served, request_id_of, served_record
from api.schemas import ItemResponse, SearchResponse, error_responses, to_jsonable
from recsys.core.types import SimilarRequest
from recsys.experiments.serving import Served

router = APIRouter(prefix="/v1/items", tags=["items"])


@router.get(
    "/{item_id}",
    response_model=ItemResponse,
    summary="An item's metadata (localized when lang is given and available)",
    responses=error_responses(404, 422, 503),
)
def get_item(
    request: Request,
    engine: EngineDep,
    item_id: ItemIdPath,
    lang: LangQuery = None,
) -> ItemResponse:
    check_deadline(request)  # waited too long for a worker: do not start
    started = time.perf_counter()
    metadata = to_jsonable(engine.item(item_id, lang=lang))
    if not isinstance(metadata, dict):
        metadata = {}
    metadata.setdefault("item_id", item_id)
    response = ItemResponse.model_validate(metadata)
    log_served(
        request,
        served_record(
            request_id=request_id_of(request),
            route="item",
            started=started,
            model_version=str(engine.model_version),
            item_ids=[response.item_id],
            scores=None,
            params={"lang": lang},
            item_id=item_id,
        ),
    )
    return response


@router.get(
    "/{item_id}/similar",
    response_model=SearchResponse,
    summary="Items similar to the given one (the response's query field is the item id)",
    responses=error_responses(400, 404, 422, 503),
)
def similar(
    request: Request,
    engine: EngineDep,
    item_id: ItemIdPath,
    filters: FiltersDep,
    k: PageSize,
    lang: LangQuery = None,
) -> SearchResponse:
    check_deadline(request)  # waited too long for a worker: do not start
    started = time.perf_counter()
    result = engine.similar(SimilarRequest(item_id, k, check_filters(filters), lang))
    response = respond(
        request,
        route="similar",
        started=started,
        served=Served(result),
        k=k,
        lang=lang,
        filters=filters,
        item_id=item_id,
    )
    return response
