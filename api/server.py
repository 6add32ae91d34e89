"""Running the app under uvicorn with the edges bounded.

* headers: a request head still incomplete after ``max_header_bytes`` gets 400 and the
  connection closed (uvicorn's httptools protocol has no such bound; the app refuses a
  complete head over the limit with 431);
* a request must arrive whole, head and body, within ``request_read_timeout_s`` of its first
  byte, else the connection is closed (slowloris: a trickle of header or body bytes no longer
  holds a connection and a worker for ever); the app sees the disconnect as a 499;
* idle keep-alive connections close after ``keep_alive_s``;
* at most ``max_connections`` connections at once, beyond which uvicorn answers 503.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.logs import configure_logging
from api.settings import Settings


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (the fast C parser) plus a bound on the request head and
    a deadline for reading each request."""

    read_timeout_s = 10.0
    max_head_bytes = 65_536

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None
        self._head_done = True
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._read_timer is None:  # the first bytes of a request: its clock starts
            self._read_timer = self.loop.call_later(self.read_timeout_s, self._read_too_slow)
            self._head_done = False
        super().data_received(data)
        if self._head_done or self.transport.is_closing():
            self._head_bytes = 0
            return
        self._head_bytes += len(data)  # a head still incomplete after this many bytes
        if self._head_bytes > self.max_head_bytes:
            self.logger.info("refusing a request head over %d bytes", self.max_head_bytes)
            self.send_400_response("Request head too large.")

    def on_headers_complete(self) -> None:
        self._head_done = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel_read_timer()  # the request has arrived whole
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_timer()
        super().connection_lost(exc)

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_too_slow(self) -> None:
        self._read_timer = None
        if not self.transport.is_closing():
            self.logger.info(
                "closing a connection whose request took over %ss", self.read_timeout_s
            )
            self.transport.close()


def serve(app: FastAPI, settings: Settings) -> None:
    """``uvicorn.run`` with the bounds of ``settings``, one process."""
    bound_protocol(settings)
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(app, http=GuardedHttpToolsProtocol, **_uvicorn_options(settings))


def serve_workers(settings: Settings, workers: int) -> None:
    """``workers`` processes on one port (uvicorn's supervisor restarts any that dies). Each
    is a whole replica: it builds its app from the environment (``worker_app``: the same
    ``RECSYS_*`` settings), loads its own engine and follows ``current`` and the shared event
    store like a replica on another machine would."""
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        "api.server:worker_app",
        factory=True,
        workers=workers,
        http="api.server:GuardedHttpToolsProtocol",
        **_uvicorn_options(settings),
    )


def worker_app() -> FastAPI:
    """The app of one worker process (``serve_workers``), from the environment's settings."""
    from api.app import create_app

    settings = Settings()
    bound_protocol(settings)
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


def bound_protocol(settings: Settings) -> None:
    """The protocol's bounds, set on the class (uvicorn instantiates it per connection)."""
    GuardedHttpToolsProtocol.read_timeout_s = settings.request_read_timeout_s
    GuardedHttpToolsProtocol.max_head_bytes = settings.max_header_bytes


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "access_log": False,  # api.access logs every request, with its request id and version
        "log_config": None,  # keep the handlers configure_logging installed
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "timeout_keep_alive": int(settings.keep_alive_s),
        "limit_concurrency": settings.max_connections,
    }
