"""Observability: per-app Prometheus metrics, request ids, and the served-request log.

Every app gets its own ``CollectorRegistry`` (never the process-global default registry), so
several apps can live in one process (tests) without "Duplicated timeseries" errors.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder
from prometheus_client.registry import Collector
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import REQUEST_ID_HEADER
from api.logs import access_line
from recsys.core.types import LearnsOnline
from recsys.events.store import ExposureLogger

logger = logging.getLogger("api")

METRICS_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
UNMATCHED_ROUTE = "unmatched"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# An incoming X-Request-ID is honoured only if it looks like a token (no spaces, quotes, ...).
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class Metrics:
    """The app's Prometheus collectors, all registered on a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "recsys_http_requests",
            "HTTP requests served, by route template, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "recsys_http_request_duration_seconds",
            "Time from receiving a request to finishing its response, by route template.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.request_log_failures = Counter(
            "recsys_request_log_failures",
            "Served-request log lines that could not be written.",
            registry=self.registry,
        )
        self.engine_ready = Gauge(
            "recsys_engine_ready",
            "1 once the engine has loaded, else 0.",
            registry=self.registry,
        )
        self.engine_load_seconds = Gauge(
            "recsys_engine_load_seconds",
            "Seconds the engine loader took (set when it finishes, successfully or not).",
            registry=self.registry,
        )
        self.shed = Counter(
            "recsys_requests_shed",
            "Requests refused with 503 overloaded (in-flight limit and its line full, or the "
            "wait in line ran out), by route class.",
            ["route_class"],
            registry=self.registry,
        )
        self.timed_out = Counter(
            "recsys_requests_timed_out",
            "Requests answered 504 deadline_exceeded: they waited past the deadline for a "
            "worker and were not computed.",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "recsys_requests_in_flight",
            "Requests being served now, by route class.",
            ["route_class"],
            registry=self.registry,
        )
        self.queued = Gauge(
            "recsys_requests_queued",
            "Requests waiting in line for an in-flight slot now, by route class.",
            ["route_class"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "recsys_rate_limited",
            "Requests refused with 429 (the API key's token bucket was empty), by key name.",
            ["key"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "recsys_reloads",
            "Model reloads by outcome (swapped | refused); unchanged checks are not counted.",
            ["outcome"],
            registry=self.registry,
        )
        self.model_version = Gauge(
            "recsys_model_version_info",
            "1 for the artifact version being served.",
            ["version"],
            registry=self.registry,
        )
        self.events = Counter(
            "recsys_events",
            "Events posted, by outcome (accepted | duplicate).",
            ["outcome"],
            registry=self.registry,
        )
        self.event_batches_rejected = Counter(
            "recsys_event_batches_rejected",
            "Event batches refused as invalid (422).",
            registry=self.registry,
        )

    def serving(self, version: str | None) -> None:
        """The version now served (the one labelled series)."""
        self.model_version.clear()
        if version is not None:
            self.model_version.labels(version=version).set(1)

    def set_admission(self, route_class: str, in_flight: int, queued: int) -> None:
        """Admission control's gauges for one route class (api.admission.Slots)."""
        self.in_flight.labels(route_class=route_class).set(in_flight)
        self.queued.labels(route_class=route_class).set(queued)

    def watch_exposures(self, get_logger: Callable[[], ExposureLogger | None]) -> None:
        """Export the exposure logger's counters (the logger lives per lifespan)."""
        self.registry.register(ExposureCollector(get_logger))

    def watch_online_state(self, get_engine: Callable[[], object]) -> None:
        """Export the served engine's online user state (its size and evictions)."""
        self.registry.register(OnlineStateCollector(get_engine))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition (content-negotiated: OpenMetrics if asked for, else Prometheus text)
        and its content type."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


def request_id_from_headers(headers: list[tuple[bytes, bytes]] | Any) -> str:
    """The client's X-Request-ID if it is a sane token, else a fresh uuid4 hex."""
    for name, value in headers or ():
        if name.lower() == b"x-request-id":
            candidate = value.decode("latin-1").strip()
            if _REQUEST_ID_RE.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    if route is None:
        return UNMATCHED_ROUTE
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED_ROUTE


class ObservabilityMiddleware:
    """Pure ASGI middleware: assigns the request id (``request.state.request_id`` and the
    ``X-Request-ID`` response header) and records request count and latency by route template.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from_headers(scope.get("headers"))
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500  # if the app raises before responding, ServerErrorMiddleware sends a 500
        started = time.perf_counter()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            seconds = time.perf_counter() - started
            route, method = _route_template(scope), str(scope.get("method", ""))
            self.metrics.observe(route, method, status, seconds)
            state = scope.get("state") or {}
            access_line(
                state,
                {
                    "request_id": request_id,
                    "route": route,
                    "method": method,
                    "status": status,
                    "latency_ms": round(seconds * 1000, 2),
                },
            )


class RequestLog:
    """Appends one JSON line per served request to a file ("logs what it served").

    Writes are serialized with a lock (handlers run in a thread pool). A failed write never
    fails the request: it is logged and counted in ``recsys_request_log_failures_total``.
    """

    def __init__(
        self, path: Path, metrics: Metrics, max_bytes: int = 100 << 20, backups: int = 5
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._metrics = metrics
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # reported on the first write
            logger.warning("cannot create request log directory %s: %s", path.parent, exc)

    def write(self, record: dict[str, Any]) -> bool:
        try:
            line = orjson.dumps(
                {"timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"), **record},
                option=orjson.OPT_SERIALIZE_NUMPY,
                default=str,
            )
            with self._lock:
                self._rotate_if_full()
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
                with os.fdopen(fd, "ab") as fh:
                    fh.write(line + b"\n")
            return True
        except Exception as exc:
            self._metrics.request_log_failures.inc()
            logger.warning("request log write to %s failed: %s", self.path, exc)
            return False

    def _rotate_if_full(self) -> None:
        """``served.jsonl`` -> ``.1`` -> ... -> ``.{backups}`` (the oldest dropped) once the
        file reaches ``max_bytes``."""
        try:
            if self.path.stat().st_size < self.max_bytes:
                return
        except FileNotFoundError:
            return
        for n in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
        if self.backups > 0:
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()


class ExposureCollector(Collector):
    """Reads the exposure logger's counters at scrape time (the logger lives per lifespan)."""

    def __init__(self, get_logger: Callable[[], ExposureLogger | None]) -> None:
        self._get_logger = get_logger

    def collect(self) -> Any:
        exposure_logger = self._get_logger()
        for name, text in (
            ("written", "Exposures stored."),
            ("dropped", "Exposures dropped because the queue was full or closed."),
            ("failed", "Exposures lost because the store write failed."),
        ):
            value = getattr(exposure_logger, name, 0) if exposure_logger is not None else 0
            yield CounterMetricFamily(f"recsys_exposures_{name}", text, value=value)


class OnlineStateCollector(Collector):
    """The served engine's online user state at scrape time (zeros while none is loaded)."""

    def __init__(self, get_engine: Callable[[], object]) -> None:
        self._get_engine = get_engine

    def collect(self) -> Any:
        engine = self._get_engine()
        stats = engine.online_stats() if isinstance(engine, LearnsOnline) else {}
        for name, text in (
            ("users", "Users with consumptions since the artifact's snapshot, in memory."),
            ("consumptions", "Consumptions since the snapshot held in memory."),
            ("approx_bytes", "Approximate memory of the online user state."),
        ):
            yield GaugeMetricFamily(f"recsys_online_{name}", text, value=stats.get(name, 0))
        yield CounterMetricFamily(
            "recsys_online_evictions",
            "Users pushed out of the online state (read back from the store when they return).",
            value=stats.get("evictions", 0),
        )
