"""Admission control: bounded request heads, a bounded number of requests in flight per
route class, a deadline.

* Request headers over ``max_header_bytes`` in all get 431 ``headers_too_large`` (the server
  also stops reading an incomplete head past that size: ``api.server``); a path or query
  string whose percent-escapes are not UTF-8 gets 422 (never silently U+FFFD).
* Every request to a limited class takes a slot; past ``limit`` it is answered at once with
  503 ``overloaded`` and ``Retry-After: 1`` (nothing is queued behind a busy worker, so an
  overload never turns into minutes of work for clients that left). Classes: ``read``
  (search, suggest, similar, items, recommendations), ``events`` (POST /v1/events) and
  ``admin``; health, readiness, metrics and docs are never shed.
* A request that is still waiting for the thread pool when its deadline passes is answered
  504 ``deadline_exceeded`` instead of being computed (``check_deadline``, called by the
  engine routes before they start the work).

A client that disconnects before its request body arrived is logged and counted as status
499 (nginx's "client closed request"), not as a 500 with a traceback (``api.errors``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError, error_body

logger = logging.getLogger("api")

UNLIMITED = "unlimited"
_READ_PREFIXES = ("/v1/search", "/v1/suggest", "/v1/items", "/v1/recommendations")


def route_class(method: str, path: str) -> str:
    """Which in-flight limit a request counts against."""
    if path.startswith("/v1/admin"):
        return "admin"
    if path.startswith("/v1/events"):
        return "events"
    if path.startswith(_READ_PREFIXES):
        return "read"
    return UNLIMITED


class Slots:
    """A counter with a ceiling (non-blocking: a full class refuses at once)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.in_flight >= self.limit:
                return False
            self.in_flight += 1
            return True

    def give(self) -> None:
        with self._lock:
            self.in_flight -= 1


class AdmissionMiddleware:
    """Pure ASGI: sheds past the limits, stamps the deadline on the request's scope."""

    def __init__(
        self,
        app: ASGIApp,
        limits: dict[str, int],
        deadline_s: float,
        max_header_bytes: int = 65_536,
        on_shed: Callable[[str], None] | None = None,
        gauges: Callable[[str, int], None] | None = None,
    ) -> None:
        self.app = app
        self.slots = {name: Slots(limit) for name, limit in limits.items()}
        self.deadline_s = deadline_s
        self.max_header_bytes = max_header_bytes
        self.on_shed = on_shed
        self.gauges = gauges

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = sum(len(k) + len(v) + 4 for k, v in scope.get("headers") or ())
        if head > self.max_header_bytes:
            await send_error(
                send,
                431,
                "headers_too_large",
                f"request headers are {head} bytes; at most {self.max_header_bytes}",
                {"Connection": "close"},
            )
            return
        malformed = _malformed_utf8(scope)
        if malformed:
            await send_error(
                send, 422, "invalid_parameter", f"the {malformed} is not valid UTF-8", {}
            )
            return
        name = route_class(str(scope.get("method", "")), str(scope.get("path", "")))
        slots = self.slots.get(name)
        if slots is None:
            await self.app(scope, receive, send)
            return
        if not slots.take():
            if self.on_shed is not None:
                self.on_shed(name)
            await send_error(
                send,
                503,
                "overloaded",
                f"too many {name} requests in flight; retry shortly",
                {"Retry-After": "1"},
            )
            return
        scope.setdefault("state", {})["deadline"] = time.monotonic() + self.deadline_s
        self._gauge(name, slots)
        try:
            await self.app(scope, receive, send)
        finally:
            slots.give()
            self._gauge(name, slots)

    def _gauge(self, name: str, slots: Slots) -> None:
        if self.gauges is not None:
            self.gauges(name, slots.in_flight)


def _malformed_utf8(scope: Scope) -> str | None:
    """ "query string" or "path" when its percent-decoded bytes are not UTF-8 (Starlette would
    quietly turn them into U+FFFD, merging different ids into one), else None."""
    for part, raw in (("query string", scope.get("query_string")), ("path", scope.get("raw_path"))):
        if not raw:
            continue
        try:
            unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            return part
    return None


def check_deadline(request: Any) -> None:
    """Raise 504 ``deadline_exceeded`` when the request waited past its deadline (before the
    engine work starts: work nobody waits for any more is not done); counted in
    ``recsys_requests_timed_out_total``."""
    deadline = getattr(request.state, "deadline", None)
    if deadline is None or time.monotonic() <= deadline:
        return
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.timed_out.inc()
    raise ApiError(
        504,
        "deadline_exceeded",
        "the request waited past its deadline before it could run; retry",
        headers={"Retry-After": "1"},
    )


async def send_error(
    send: Send, status: int, code: str, message: str, headers: dict[str, str]
) -> None:
    body = error_body(code, message)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    start: Message = {"type": "http.response.start", "status": status, "headers": raw}
    await send(start)
    await send({"type": "http.response.body", "body": body})
