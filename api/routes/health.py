"""Liveness, readiness and Prometheus metrics."""

# No `from __future__ import annotations`: FastAPI evaluates the endpoint annotations.

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from api.errors import redact_paths
from api.lifecycle import EngineState
from api.observability import METRICS_CONTENT_TYPE, Metrics
from api.schemas import HealthResponse, ReadyResponse, to_jsonable

logger = logging.getLogger("api")


router = APIRouter(tags=["ops"])


@router.get(
    "/healthz",
    response_model=HealthResponse,
    summary="Liveness: the process is up (does not depend on the engine)",
)
async def healthz() -> HealthResponse:
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    summary="Readiness: 200 once the engine has loaded, else 503 with the reason",
    responses={
        503: {
            "model": ReadyResponse,
            "description": "Engine loading or failed to load",
            "content": {
                "application/json": {
                    "example": {
                        "status": "failed",
                        "reason": "artifacts/manifest.json: missing",
                    }
                }
            },
        }
    },
)
def readyz(request: Request) -> Any:
    state: EngineState | None = getattr(request.app.state, "engine_state", None)
    if state is None:
        return JSONResponse(
            status_code=503, content={"status": "loading", "reason": "engine not started"}
        )
    snapshot = state.snapshot()
    if snapshot.status != "ready" or snapshot.engine is None:
        return JSONResponse(
            status_code=503,
            content={
                "status": snapshot.status,
                "reason": redact_paths(snapshot.reason or "unknown"),
            },
        )
    body: dict[str, Any] = {"status": "ready", "model_version": state.model_version}
    if state.refused is not None:  # a newer version failed validation; this one serves on
        refused = state.refused.to_dict()
        refused["reason"] = redact_paths(str(refused["reason"]))
        body["refused_version"] = refused
    try:
        stats = snapshot.engine.stats()
    except Exception:
        logger.exception("engine.stats() failed")
        stats = {}
    extra = to_jsonable(stats) if isinstance(stats, dict) else {}
    for key, value in extra.items():
        body.setdefault(key, value)
    return JSONResponse(content=body)


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics (text exposition format)",
    responses={200: {"content": {METRICS_CONTENT_TYPE: {}}}},
)
async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    body, content_type = registry.render(request.headers.get("accept", ""))
    return Response(content=body, headers={"Content-Type": content_type})
