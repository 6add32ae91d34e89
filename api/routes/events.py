"""``POST /v1/events``: feedback events (impressions, clicks, plays, ratings, list adds).

Body ``{"events": [...]}`` with 1..1000 events (fields and validation rules:
``recsys.events.schema``), at most 1 MiB. Answer ``{"accepted", "duplicates", "request_id"}``.

* **All or nothing.** The whole batch is validated before anything is stored; one malformed
  event fails the batch with 422 ``invalid_parameter`` naming it (``events[3].type: must be
  one of ...``; up to five problems listed) and nothing is stored, so a client fixes and
  resends the batch without working out which half went in.
* **Idempotent by event_id.** A retried batch (or an id repeated within a batch) is not
  stored twice: it counts in ``duplicates``. Retrying after a timeout or a 503 is always safe.
* **Durable before the 2xx.** The handler (a plain ``def``, so it runs in the thread pool and
  the fsync never blocks the event loop) commits to the store before answering: an
  acknowledged event survives a ``kill -9`` of the server right after.
* Other answers: 415 ``unsupported_media_type`` (not ``application/json``), 413
  ``payload_too_large`` (body over 1 MiB, by ``Content-Length`` or by what
  was actually read), 503 ``store_unavailable`` (the store could not be written; retry), 503
  ``not_ready`` (outside the app's lifespan). The route does not need the engine: it works
  while the engine is still loading.
"""

# No `from __future__ import annotations`: FastAPI evaluates the endpoint annotations.

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from api.errors import ApiError
from api.observability import Metrics
from api.params import NO_CONTROL
from api.routes.serving import request_id_of
from api.schemas import error_responses
from recsys.core.types import LearnsOnline
from recsys.events.schema import EVENT_TYPES, MAX_POSITION, InvalidEventError, validate_events
from recsys.events.store import EventStore, EventStoreError

logger = logging.getLogger("api")

MAX_EVENTS_PER_BATCH = 1000
MAX_BODY_BYTES = 1 << 20  # 1000 events of ~1 KiB each

_EVENT_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["event_id", "type", "user_id", "item_id"],
    "additionalProperties": False,
    "properties": {
        "event_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "pattern": NO_CONTROL,
            "example": "e-7f3a",
        },
        "type": {"type": "string", "enum": list(EVENT_TYPES), "example": "click"},
        "user_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "pattern": NO_CONTROL,
            "example": "414",
        },
        "item_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "example": "5618"},
        "request_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "pattern": NO_CONTROL,
            "description": "request_id of the search/recommendations response it came from",
        },
        "position": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_POSITION,
            "description": "0-based rank at which the item was shown",
        },
        "ts": {
            "type": "string",
            "format": "date-time",
            "example": "2026-11-20T12:00:00Z",
            "description": "ISO 8601 with a timezone (naive times are rejected), from "
            "1995-01-01 to the time of arrival plus 5 minutes (else 422); default: arrival time",
        },
        "value": {"type": "number", "description": "required for ratings; finite"},
    },
    # a rating carries its value
    "if": {"properties": {"type": {"const": "rating"}}, "required": ["type"]},
    "then": {"required": ["value"]},
}
_BATCH_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["events"],
    "additionalProperties": False,
    "properties": {
        "events": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_EVENTS_PER_BATCH,
            "items": _EVENT_JSON_SCHEMA,
        }
    },
}


class EventsAccepted(BaseModel):
    accepted: int = Field(description="Events stored by this call.", examples=[2])
    duplicates: int = Field(
        description="Events whose event_id was already stored (a retry): not stored again.",
        examples=[0],
    )
    request_id: str = Field(examples=["4f2c9e0a8b7d4c1e9f6a3b2c1d0e9f8a"])


def _too_large() -> ApiError:
    return ApiError(
        413, "payload_too_large", f"request body must be at most {MAX_BODY_BYTES} bytes"
    )


async def read_bounded_body(request: Request) -> bytes:
    """The raw body, refusing (413) to read more than ``MAX_BODY_BYTES``: the declared
    ``Content-Length`` is checked first, then what actually arrives (chunked uploads). Only
    ``application/json`` is read (415 otherwise): a browser's cross-site form post, which
    can only send ``text/plain`` or form encodings, never records an event."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type must be application/json, not {media_type or 'missing'!r}",
        )
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ApiError(400, "invalid_request", "Content-Length must be an integer")
        if int(declared) > MAX_BODY_BYTES:
            raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def parse_batch(body: bytes) -> list[Any]:
    """The ``events`` list of a JSON body, or a 422 saying what is wrong with the envelope."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(422, "invalid_parameter", f"request body: invalid JSON ({exc})") from None
    if not isinstance(payload, dict) or "events" not in payload:
        raise ApiError(422, "invalid_parameter", 'request body: must be {"events": [...]}')
    unknown = sorted(set(payload) - {"events"})
    if unknown:
        raise ApiError(422, "invalid_parameter", f"request body: unknown field {unknown[0]!r}")
    events = payload["events"]
    if not isinstance(events, list):
        raise ApiError(422, "invalid_parameter", "events: must be a list of event objects")
    if not 1 <= len(events) <= MAX_EVENTS_PER_BATCH:
        raise ApiError(
            422,
            "invalid_parameter",
            f"events: a batch holds 1..{MAX_EVENTS_PER_BATCH} events (got {len(events)})"
            + ("; split it into several calls" if events else ""),
        )
    return events


router = APIRouter(prefix="/v1", tags=["events"])


@router.post(
    "/events",
    response_model=EventsAccepted,
    summary="Record feedback events (idempotent by event_id; durable before the answer)",
    responses={
        **error_responses(422, 503),
        413: {"description": "payload_too_large: body over 1 MiB"},
        415: {"description": "unsupported_media_type: Content-Type is not application/json"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _BATCH_JSON_SCHEMA}},
        }
    },
)
def post_events(
    request: Request, body: Annotated[bytes, Depends(read_bounded_body)]
) -> EventsAccepted:
    store: EventStore | None = getattr(request.app.state, "event_store", None)
    if store is None:
        raise ApiError(503, "not_ready", "event store is not open")
    metrics: Metrics = request.app.state.metrics
    try:
        events = validate_events(parse_batch(body))
    except (ApiError, InvalidEventError) as exc:
        metrics.event_batches_rejected.inc()
        if isinstance(exc, ApiError):
            raise
        raise ApiError(422, "invalid_parameter", str(exc)) from None
    received = datetime.now(UTC)  # one time for the store and the online state
    events = [e if e.ts is not None else replace(e, ts=received) for e in events]
    try:
        accepted, duplicates = store.append_events(events, received_at=received)
    except EventStoreError as exc:
        logger.error("event batch not stored: %s", exc)
        raise ApiError(
            503,
            "store_unavailable",
            "events could not be stored; retry (batches are idempotent)",
            headers={"Retry-After": "1"},
        ) from None
    metrics.events.labels(outcome="accepted").inc(accepted)
    metrics.events.labels(outcome="duplicate").inc(duplicates)
    engine = request.app.state.engine_state.engine
    if isinstance(engine, LearnsOnline):  # the user's next request sees it
        engine.observe(events)
    return EventsAccepted(
        accepted=accepted, duplicates=duplicates, request_id=request_id_of(request)
    )
