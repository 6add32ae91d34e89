"""Running the app under uvicorn with the edges bounded.

* headers: at most ``max_header_bytes`` per request head (h11's incomplete-event limit; the
  httptools parser has none, so the h11 one is used), else 400 and the connection closed;
* a request must arrive whole, head and body, within ``request_read_timeout_s`` of its first
  byte, else the connection is closed (slowloris: a trickle of header or body bytes no longer
  holds a connection and a worker for ever); the app sees the disconnect as a 499;
* idle keep-alive connections close after ``keep_alive_s``;
* at most ``max_connections`` connections at once, beyond which uvicorn answers 503.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.settings import Settings


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline for reading each request."""

    read_timeout_s = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if self._read_timer is None and self.conn.their_state is h11.IDLE:
            self._read_timer = self.loop.call_later(self.read_timeout_s, self._read_too_slow)
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._cancel_read_timer()  # the request has arrived whole

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_timer()
        super().connection_lost(exc)

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_too_slow(self) -> None:
        self._read_timer = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            self.logger.info(
                "closing a connection whose request took over %ss", self.read_timeout_s
            )
            self.transport.close()


def serve(app: FastAPI, settings: Settings) -> None:
    """``uvicorn.run`` with the bounds of ``settings``."""
    protocol = type(
        "GuardedH11", (GuardedH11Protocol,), {"read_timeout_s": settings.request_read_timeout_s}
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        http=protocol,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        timeout_keep_alive=int(settings.keep_alive_s),
        limit_concurrency=settings.max_connections,
    )
