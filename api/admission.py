"""Admission control: bounded request heads, a bounded number of requests in flight per
route class, a deadline.

* Request headers over ``max_header_bytes`` in all get 431 ``headers_too_large`` (the server
  also stops reading an incomplete head past that size: ``api.server``); a path or query
  string whose percent-escapes are not UTF-8 gets 422 (never silently U+FFFD).
* Every request to a limited class takes a slot. Past ``limit`` it may wait in a short FIFO
  line (``queue`` places, at most ``queue_wait_s``) for the next slot to free, so that a
  momentary burst below capacity is served rather than refused; past that it is answered
  503 ``overloaded`` with ``Retry-After: 1``. The line is short and its wait bounded, so an
  overload never turns into minutes of work for clients that left. Classes: ``read``
  (search, suggest, similar, items, recommendations), ``events`` (POST /v1/events) and
  ``admin``; health, readiness, metrics and docs are never shed.
* A request that is still waiting for the thread pool when its deadline passes is answered
  504 ``deadline_exceeded`` instead of being computed (``check_deadline``, called by the
  engine routes before they start the work).

A client that disconnects before its request body arrived is logged and counted as status
499 (nginx's "client closed request"), not as a 500 with a traceback (``api.errors``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
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
    """A counter with a ceiling and a short FIFO line of waiters. Used on the event loop
    only (the middleware takes and gives slots there), so it needs no lock."""

    def __init__(
        self, limit: int, queue: int = 0, on_change: Callable[[int, int], None] | None = None
    ) -> None:
        self.limit = limit
        self.queue = queue
        self.in_flight = 0
        self._line: deque[asyncio.Future[None]] = deque()
        self._on_change = on_change  # (in flight, waiting), after every change

    @property
    def waiting(self) -> int:
        return len(self._line)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.in_flight, len(self._line))

    def try_take(self) -> bool:
        """A free slot now, if nobody is waiting for one."""
        if self.in_flight < self.limit and not self._line:
            self.in_flight += 1
            self._changed()
            return True
        return False

    async def take(self, wait_s: float) -> bool:
        """A slot now, or after waiting in line at most ``wait_s``; False when the line is
        full or the wait ran out (the caller sheds)."""
        if self.try_take():
            return True
        if len(self._line) >= self.queue or wait_s <= 0:
            return False
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._line.append(turn)
        self._changed()
        try:
            await asyncio.wait({turn}, timeout=wait_s)
        except asyncio.CancelledError:  # the client left while waiting
            self._leave(turn)
            raise
        if turn.done():
            return True
        self._leave(turn)
        return False

    def _leave(self, turn: asyncio.Future[None]) -> None:
        if turn.done():  # handed a slot it will not use: pass it on
            self.give()
        else:
            self._line.remove(turn)
            turn.cancel()
            self._changed()

    def give(self) -> None:
        """Hand the slot to the first waiter, or free it."""
        while self._line:
            turn = self._line.popleft()
            if not turn.done():
                turn.set_result(None)
                self._changed()
                return
        self.in_flight -= 1
        self._changed()


class AdmissionMiddleware:
    """Pure ASGI: sheds past the limits, stamps the deadline on the request's scope."""

    def __init__(
        self,
        app: ASGIApp,
        limits: dict[str, int],
        deadline_s: float,
        max_header_bytes: int = 65_536,
        queue: int = 0,
        queue_wait_s: float = 0.0,
        on_shed: Callable[[str], None] | None = None,
        gauges: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.app = app
        self.slots = {
            name: Slots(limit, queue, self._gauge_for(name, gauges))
            for name, limit in limits.items()
        }
        self.deadline_s = deadline_s
        self.queue_wait_s = min(queue_wait_s, deadline_s)
        self.max_header_bytes = max_header_bytes
        self.on_shed = on_shed

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
        arrived = time.monotonic()
        if not await slots.take(self.queue_wait_s):
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
        scope.setdefault("state", {})["deadline"] = arrived + self.deadline_s
        try:
            await self.app(scope, receive, send)
        finally:
            slots.give()

    @staticmethod
    def _gauge_for(
        name: str, gauges: Callable[[str, int, int], None] | None
    ) -> Callable[[int, int], None] | None:
        if gauges is None:
            return None
        return lambda in_flight, waiting: gauges(name, in_flight, waiting)


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
