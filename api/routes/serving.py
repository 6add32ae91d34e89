"""What every engine route shares once the engine has answered: the request id, and the
served-request log line ("log what was served"), so all routes log through one code path."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import Request

from api.metrics import RequestLog


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


def log_served(request_log: RequestLog | None, record: dict[str, Any]) -> None:
    """Append a :func:`served_record` to the request log, if there is one."""
    if request_log is not None:
        request_log.write(record)
