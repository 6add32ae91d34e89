"""``GET /v1/suggest``: search-as-you-type completions (titles, people, genres)."""

# No `from __future__ import annotations`: FastAPI evaluates the endpoint annotations.

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AfterValidator

from api.admission import check_deadline
from api.deps import EngineDep
from api.params import SOME_TEXT, clean_prefix, comma_list_pattern, comma_names
from api.routes.serving import log_served, request_id_of, served_record
from api.schemas import SuggestResponse, error_responses
from recsys.core.types import SUGGEST_KINDS, SuggestRequest

MAX_SUGGESTIONS = 20


router = APIRouter(prefix="/v1", tags=["search"])


@router.get(
    "/suggest",
    response_model=SuggestResponse,
    summary="Complete what the user is typing: titles, people and genres",
    responses=error_responses(422, 503),
)
def suggest(
    request: Request,
    engine: EngineDep,
    q: Annotated[
        str,
        Query(
            description="The text typed so far (1-200 characters). A trailing space ends "
            "the last word: `star ` completes to Star Wars but not Stardust.",
            examples=["star w", "nolan", "amél"],
            json_schema_extra={"pattern": SOME_TEXT, "minLength": 1},
        ),
        AfterValidator(clean_prefix),
    ],
    k: Annotated[int, Query(ge=1, le=MAX_SUGGESTIONS, description="How many.")] = 8,
    kinds: Annotated[
        str | None,
        Query(
            description=f"Comma-separated kinds to suggest: any of {', '.join(SUGGEST_KINDS)} "
            "(default all).",
            examples=["title,person"],
            json_schema_extra={"pattern": comma_list_pattern("|".join(SUGGEST_KINDS))},
        ),
        AfterValidator(comma_names(SUGGEST_KINDS, "kind")),
    ] = None,
) -> SuggestResponse:
    check_deadline(request)  # waited too long for a worker: do not start
    started = time.perf_counter()
    wanted = tuple(kinds.split(",")) if kinds else SUGGEST_KINDS
    result = engine.suggest(SuggestRequest(q, k, wanted))
    response = SuggestResponse.from_result(result, request_id_of(request))
    log_served(
        request,
        served_record(
            request_id=response.request_id,
            route="suggest",
            started=started,
            model_version=response.model_version,
            item_ids=[s.item_id for s in response.suggestions if s.item_id is not None],
            scores=None,
            params={"k": k, "kinds": list(wanted)},
            query=q,
        ),
    )
    return response
