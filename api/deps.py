"""Request dependencies: the app's settings, engine and experiments, and the
limits that depend on the app's settings (``k``, ``q``). Everything is read from the app the
request belongs to (``request.app.state``), so two apps in one process never share state.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError

from api.errors import ApiError, redact_paths
from api.lifecycle import EngineState
from api.params import SOME_TEXT, clean_query, get_filters
from api.settings import Settings
from recsys.core.types import SearchFilters, SearchService
from recsys.experiments.config import ExperimentConfig


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> SearchService:
    """The loaded engine, or a 503 ``not_ready`` error while loading / after a failed load."""
    state: EngineState | None = getattr(request.app.state, "engine_state", None)
    if state is None:
        raise ApiError(503, "not_ready", "engine has not been started")
    snapshot = state.snapshot()
    if snapshot.status == "ready" and snapshot.engine is not None:
        return snapshot.engine
    if snapshot.status == "failed":
        reason = redact_paths(str(snapshot.reason))
        raise ApiError(503, "not_ready", f"engine failed to load: {reason}")
    raise ApiError(
        503, "not_ready", snapshot.reason or "engine is loading", headers={"Retry-After": "5"}
    )


def get_experiments(request: Request) -> ExperimentConfig:
    config = getattr(request.app.state, "experiments", None)
    return config if isinstance(config, ExperimentConfig) else ExperimentConfig()


def _invalid(name: str, message: str, value: Any, **extra: Any) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", name), "msg": message, "input": value, **extra}]
    )


def page_size(
    request: Request,
    k: Annotated[
        int | None,
        Query(ge=1, description="Number of results, 1..max_k (RECSYS_MAX_K).", examples=[10]),
    ] = None,
) -> int:
    """``k``: the app's ``default_k`` when absent, at most its ``max_k``."""
    settings = settings_of(request)
    if k is None:
        return settings.default_k
    if k > settings.max_k:
        message = f"Input should be less than or equal to {settings.max_k}"
        raise _invalid("k", message, k, type="less_than_equal", ctx={"le": settings.max_k})
    return k


def query_text(
    request: Request,
    q: Annotated[
        str,
        Query(
            description="Free-text query. Surrounding whitespace is stripped and internal "
            "whitespace collapsed; control characters (e.g. NUL) are rejected with 422; at "
            "most max_query_chars (RECSYS_MAX_QUERY_CHARS) characters after trimming.",
            examples=["film de science-fiction avec des robots"],
            json_schema_extra={"pattern": SOME_TEXT, "minLength": 1},
        ),
    ],
) -> str:
    try:
        return clean_query(q, settings_of(request).max_query_chars)
    except ValueError as exc:
        raise _invalid("q", str(exc), None, type="value_error") from None


EngineDep = Annotated[SearchService, Depends(get_engine)]
ExperimentsDep = Annotated[ExperimentConfig, Depends(get_experiments)]
FiltersDep = Annotated[SearchFilters, Depends(get_filters)]
PageSize = Annotated[int, Depends(page_size)]
QueryText = Annotated[str, Depends(query_text)]
