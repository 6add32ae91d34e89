"""What every engine route shares once the engine has answered: the request id, the
served-request log line ("log what was served") and the exposure record (what was shown, for
attributing events and experiments), so all routes log through one code path."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import Request

from api.observability import RequestLog
from api.tracing import stage_spans
from recsys.events.schema import Exposure
from recsys.events.store import ExposureLogger
from recsys.experiments.serving import Served

logger = logging.getLogger("api")


def request_id_of(request: Request) -> str:
    request_id = getattr(request.state, "request_id", None)
    return request_id if isinstance(request_id, str) else uuid.uuid4().hex


def served_record(
    *,
    request_id: str,
    route: str,
    started: float,
    model_version: str,
    item_ids: list[str],
    scores: list[float] | None,
    params: dict[str, Any],
    query: str | None = None,
    item_id: str | None = None,
    user_id: str | None = None,
    timings_ms: dict[str, float] | None = None,
) -> dict[str, Any]:
    """One line of the served-request log (see ``Settings.request_log``)."""
    record: dict[str, Any] = {"request_id": request_id, "route": route}
    if query is not None:
        record["query"] = query
    if item_id is not None:
        record["item_id"] = item_id
    record.update(
        params={key: value for key, value in params.items() if value is not None},
        user_id=user_id,
        item_ids=item_ids,
        scores=scores,
        model_version=model_version,
        latency_ms=round((time.perf_counter() - started) * 1000.0, 3),
        timings_ms=timings_ms or {},
    )
    return record


def request_log_of(request: Request) -> RequestLog | None:
    """The app's served-request log (None when ``Settings.request_log`` is unset)."""
    request_log = getattr(request.app.state, "request_log", None)
    return request_log if isinstance(request_log, RequestLog) else None


def log_served(request: Request, record: dict[str, Any]) -> None:
    """Append a :func:`served_record` to the app's request log, if it has one; the version
    and variant also go on the request's state, for its access log line."""
    request.state.model_version = record.get("model_version")
    request.state.variant = record.get("params", {}).get("variant")
    request_log = request_log_of(request)
    if request_log is not None:
        request_log.write(record)


def exposure_logger_of(request: Request) -> ExposureLogger | None:
    """The app's exposure logger (None before startup / after shutdown)."""
    exposure_logger = getattr(request.app.state, "exposure_logger", None)
    return exposure_logger if isinstance(exposure_logger, ExposureLogger) else None


def log_exposure(
    exposure_logger: ExposureLogger | None,
    *,
    request_id: str,
    route: str,
    user_id: str | None,
    model_version: str,
    items: Sequence[str],
    query: str | None = None,
    experiment: str | None = None,
    variant: str | None = None,
    teams: Sequence[str] | None = None,
) -> None:
    """Record the served list (position = index in ``items``) in the exposure log.

    Only enqueues (microseconds); the store write happens on the logger's thread. Never
    raises: a bad record (``teams`` not matching ``items``) is a bug to log, not a reason to
    fail the response.
    """
    if exposure_logger is None:
        return
    try:
        exposure = Exposure(
            request_id=request_id,
            route=route,
            model_version=model_version,
            items=tuple(items),
            user_id=user_id,
            experiment=experiment,
            variant=variant,
            query=query,
            teams=None if teams is None else tuple(teams),
        )
    except ValueError:
        logger.exception("invalid exposure record for request %s (not logged)", request_id)
        return
    exposure_logger.log(exposure)


def log_response(
    request: Request,
    served: Served[Any],
    *,
    route: str,
    started: float,
    request_id: str,
    model_version: str,
    items: Sequence[tuple[str, float]],
    params: dict[str, Any],
    query: str | None = None,
    item_id: str | None = None,
    user_id: str | None = None,
    exposed_query: str | None = None,
) -> None:
    """Both logs of one served list: the request-log line and the exposure record (with
    the experiment arm and, for interleaving, the team of each shown position).
    ``items`` are the (item id, score) pairs actually returned."""
    item_ids = [item for item, _ in items]
    log_served(
        request,
        served_record(
            request_id=request_id,
            route=route,
            started=started,
            model_version=model_version,
            item_ids=item_ids,
            scores=[score for _, score in items],
            params={**params, "variant": served.variant},
            query=query,
            item_id=item_id,
            user_id=user_id,
            timings_ms=dict(served.result.timings_ms),
        ),
    )
    stage_spans(request, started, dict(served.result.timings_ms))
    log_exposure(
        exposure_logger_of(request),
        request_id=request_id,
        route=route,
        user_id=user_id,
        model_version=model_version,
        items=item_ids,
        query=exposed_query,
        experiment=served.logged_experiment,
        variant=served.variant,
        teams=served.teams[: len(item_ids)] if served.teams else None,
    )
