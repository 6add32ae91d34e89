"""``GET /v1/experiments`` and ``GET /v1/experiments/{key}/assignment``: what is running and
which arm a user is in, so an A/B harness can route and check users without guessing.

The assignment is a pure function of the config and the user id (see recsys/experiments.py),
so the answer is the same on every replica and after restarts, and equals the variant the
search and recommendation responses report for that user.
"""

# No `from __future__ import annotations`: FastAPI evaluates the endpoint annotations.

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.deps import ExperimentsDep
from api.params import RequiredUserIdQuery
from api.schemas import error_responses


class VariantOut(BaseModel):
    name: str
    weight: float = Field(description="Share of the experiment's users (weights normalised).")


class ExperimentOut(BaseModel):
    key: str
    traffic: float = Field(description="Share of the layer's users in the experiment.")
    status: str = Field(description="running or stopped")
    surfaces: list[str]
    layer: str
    variants: list[VariantOut]


class ExperimentsResponse(BaseModel):
    experiments: list[ExperimentOut]


class AssignmentResponse(BaseModel):
    experiment: str
    variant: str | None = Field(
        description="The user's arm; null when the user is outside the experiment's traffic "
        "or the experiment is stopped."
    )
    user_id: str


router = APIRouter(prefix="/v1/experiments", tags=["experiments"])


@router.get("", response_model=ExperimentsResponse, summary="Declared experiments")
async def list_experiments(
    config: ExperimentsDep,
) -> dict[str, Any]:
    return config.to_public()


@router.get(
    "/{key}/assignment",
    response_model=AssignmentResponse,
    summary="The variant a user is assigned to in one experiment",
    responses=error_responses(404, 422),
)
async def assignment(
    config: ExperimentsDep,
    key: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")],
    user_id: RequiredUserIdQuery,
) -> AssignmentResponse:
    assigned = config.assign_experiment(key, user_id)  # NotFoundError -> 404
    return AssignmentResponse(
        experiment=key, variant=assigned.variant if assigned else None, user_id=user_id
    )
