"""``GET /v1/recommendations``: personalized recommendations for one user.

``GET /v1/recommendations?user_id=414&k=10`` answers
``{"request_id", "user_id", "model_version", "ranker", "cold_start", "items": [...]}``; each
item has the search hit fields (``item_id``, ``title``, ``score``, ``original_title``,
``year``, ``type``, ``genres``, ``description``, ``lang``) plus ``reasons`` (short strings such
as ``"because you watched Heat (1995)"``) and ``sources`` (the candidate sources that proposed
it).

Parameters: ``user_id`` (required; 1-128 characters, no control characters), ``k``
(1..``max_k``, default ``default_k``), ``include_seen`` (default false: items the user already
consumed are left out), ``lang``, and the search filters ``type``, ``genre``, ``year_min``,
``year_max``, ``original_language``, ``maturity_rating`` (``year_min > year_max`` is a 400),
and ``variant`` (QA: force an experiment arm).

Under a running experiment (recsys/defaults/experiments.toml) the response carries ``experiment``
and ``variant``, the arm's ranker orders the list (an interleaving arm team-drafts two
rankers' lists) and the exposure log records the list, the arm and the team per position.

An unknown user is not an error: the engine answers a cold-start (popularity) list with
``cold_start: true``. Engine errors map as everywhere else (``InvalidRequestError`` 400,
``NotFoundError`` 404), and the route answers 503 ``not_ready`` while the engine loads. What
was served goes to the request log with ``route: "recommendations"``.
"""

# No `from __future__ import annotations`: FastAPI evaluates the endpoint annotations.

import time
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.admission import check_deadline
from api.deps import EngineDep, ExperimentsDep, FiltersDep, PageSize
from api.params import LangQuery, RequiredUserIdQuery, VariantQuery, check_filters
from api.routes.serving import log_response, request_id_of
from api.schemas import RecommendationResponse, error_responses
from recsys.core.types import RecommendationResult, RecommendRequest
from recsys.experiments.serving import Served, assignment_for, serve_recommendations

router = APIRouter(prefix="/v1", tags=["recommendations"])


@router.get(
    "/recommendations",
    response_model=RecommendationResponse,
    summary="Recommendations for a user (cold-start popularity list for unknown users)",
    responses=error_responses(400, 422, 503),
)
def recommendations(
    request: Request,
    engine: EngineDep,
    user_id: RequiredUserIdQuery,
    filters: FiltersDep,
    experiments: ExperimentsDep,
    k: PageSize,
    include_seen: Annotated[
        bool,
        Query(
            description="Also recommend items the user already consumed (default: they "
            "are excluded).",
            examples=[False],
        ),
    ] = False,
    lang: LangQuery = None,
    variant: VariantQuery = None,
) -> RecommendationResponse:
    # A plain `def`: FastAPI runs it in the thread pool, so the CPU-bound engine call
    # does not block the event loop.
    check_deadline(request)  # waited too long for a worker: do not start
    started = time.perf_counter()
    request_id = request_id_of(request)
    arm = assignment_for(experiments, "recommendations", user_id, variant)
    recommend_request = RecommendRequest(user_id, k, check_filters(filters), lang, include_seen)
    served = serve_recommendations(engine, arm, request_id, recommend_request)
    params = {"k": k, "lang": lang, **asdict(filters), "include_seen": include_seen}
    return _answer(request, served, started, params, user_id)


def _answer(
    request: Request,
    served: Served[RecommendationResult],
    started: float,
    params: dict[str, Any],
    user_id: str | None,
) -> RecommendationResponse:
    """The response (``k`` items, the arm) and its log line / exposure."""
    request_id = request_id_of(request)
    response = RecommendationResponse.from_result(served.result, request_id)
    response.items = response.items[: params["k"]]
    response.experiment, response.variant = served.experiment, served.variant
    log_response(
        request,
        served,
        route="recommendations",
        started=started,
        request_id=request_id,
        model_version=response.model_version,
        items=[(item.item_id, item.score) for item in response.items],
        params=params,
        user_id=user_id,
    )
    return response


# no user: Recommender.state("") is None (posted user ids have 1..128 characters), so the
# engine answers with its cold-start list
NOBODY = ""


@router.get(
    "/popular",
    response_model=RecommendationResponse,
    summary="Popular and trending now, for nobody in particular (a visitor's home rows)",
    responses=error_responses(400, 422, 503),
)
def popular(
    request: Request,
    engine: EngineDep,
    filters: FiltersDep,
    k: PageSize,
    lang: LangQuery = None,
) -> RecommendationResponse:
    """What an unknown user gets from ``/v1/recommendations`` (most watched in the last
    year, then all time; ``lang`` puts titles originally in that language first), without
    an experiment and without a user: ``user_id`` is empty. With ``original_language`` it is
    the "Popular in <language>" row."""
    check_deadline(request)  # waited too long for a worker: do not start
    started = time.perf_counter()
    request_id = request_id_of(request)
    recommend_request = RecommendRequest(NOBODY, k, check_filters(filters), lang)
    served = serve_recommendations(engine, None, request_id, recommend_request)
    return _answer(request, served, started, {"k": k, "lang": lang, **asdict(filters)}, None)
