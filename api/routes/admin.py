"""``POST /v1/admin/reload`` and ``GET /v1/admin/versions``: model swaps for operators.

A reload looks at the artifact root's ``current`` pointer and, when it names another version,
loads it beside the serving one, validates it and swaps it in (``api.reload``). ``recsys
rollback`` and ``recsys versions`` manage the pointer; the watcher (``RECSYS_RELOAD_INTERVAL_S``)
or this route picks the change up.
"""

# No `from __future__ import annotations`: FastAPI evaluates the endpoint annotations.

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api.errors import ApiError
from api.reload import Reloader
from api.schemas import error_responses
from api.settings import Settings
from recsys.core.artifacts import current_version, describe_versions
from recsys.core.errors import ArtifactError


class ReloadOut(BaseModel):
    outcome: Literal["swapped", "unchanged", "refused"] = Field(
        description="swapped: the new version serves now; unchanged: `current` names the "
        "serving version; refused: the version failed validation, the old one keeps serving"
    )
    version: str | None = Field(description="The version `current` names (null: unreadable).")
    serving: str | None = Field(description="The version serving after the reload.")
    reason: str | None = Field(description="Why a version was refused.")
    trigger: str = Field(description="api, sighup or watch")
    seconds: float
    at: str = Field(description="When the reload finished (ISO 8601, UTC).")


class VersionOut(BaseModel):
    version: str
    created_at: str | None = None
    code_version: str | None = None
    encoder: str | None = None
    complete: bool = Field(description="Manifest readable and every file present.")
    serving: bool
    current: bool


class VersionsOut(BaseModel):
    serving: str | None
    current: str | None = Field(description="The version the `current` pointer names.")
    versions: list[VersionOut] = Field(description="Published versions, oldest first.")
    last_reload: ReloadOut | None = None
    refused: ReloadOut | None = Field(
        default=None, description="The last refused version, until another one swaps in."
    )


router = APIRouter(prefix="/v1/admin", tags=["admin"])


def _reloader(request: Request) -> Reloader:
    reloader = getattr(request.app.state, "reloader", None)
    if not isinstance(reloader, Reloader):
        raise ApiError(503, "not_ready", "the service has not started")
    return reloader


@router.post(
    "/reload",
    response_model=ReloadOut,
    summary="Swap in the version `current` names (validated first; a bad one is refused)",
    responses=error_responses(503),
)
def reload(request: Request) -> dict[str, Any]:
    # a plain def: the load runs in the thread pool, never on the event loop
    return _reloader(request).reload("api").to_dict()


@router.get(
    "/versions",
    response_model=VersionsOut,
    summary="Published versions, the one serving, the one `current` names, the last reload",
    responses=error_responses(503),
)
def versions(request: Request) -> dict[str, Any]:
    reloader = _reloader(request)
    settings: Settings = request.app.state.settings
    root = settings.artifacts_dir
    serving = reloader.state.model_version
    try:
        rows = [{**row, "serving": row["version"] == serving} for row in describe_versions(root)]
        pointer = current_version(root)
    except ArtifactError:
        rows, pointer = [], None
    refused = reloader.state.refused
    return {
        "serving": serving,
        "current": pointer,
        "versions": rows,
        "last_reload": reloader.last.to_dict() if reloader.last else None,
        "refused": refused.to_dict() if refused else None,
    }
