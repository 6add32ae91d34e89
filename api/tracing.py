"""OpenTelemetry tracing: off by default, on with the standard ``OTEL_*`` variables.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, or
``OTEL_TRACES_EXPORTER`` other than ``none``) set and the ``otel`` extra installed
(``pip install '.[otel]'``), every request gets a server span (FastAPI instrumentation;
health, readiness and metrics excluded) exported over OTLP/HTTP, with the engine's stages
as child spans: ``recsys.encode``, ``recsys.retrieve``, ``recsys.rank`` (and whatever else the
engine timed), laid end to end from the engine's own timings. ``OTEL_SERVICE_NAME`` names
the service (default ``recsys``).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from fastapi import FastAPI, Request

logger = logging.getLogger("api")
_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def tracing_wanted() -> bool:
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return bool(exporter) or any(os.environ.get(name) for name in _ENDPOINT_VARS)


def install_tracing(app: FastAPI, provider: Any = None) -> bool:
    """Instrument ``app`` (with ``provider``, or one exporting over OTLP when the
    environment asks for tracing); False when tracing stays off."""
    if provider is None and not tracing_wanted():
        return False
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        logger.warning("OTEL_* asks for tracing but the `otel` extra is not installed")
        return False
    if provider is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        name = os.environ.get("OTEL_SERVICE_NAME", "recsys")
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="healthz,readyz,metrics"
    )
    app.state.tracer = provider.get_tracer("recsys")
    logger.info("tracing on (OpenTelemetry)")
    return True


def stage_spans(request: Request, started: float, timings_ms: dict[str, float]) -> None:
    """Child spans of the request's span for each timed engine stage, end to end from
    ``started`` (the handler's ``perf_counter``)."""
    tracer = getattr(request.app.state, "tracer", None)
    if tracer is None or not timings_ms:
        return
    clock = time.time_ns() - int((time.perf_counter() - started) * 1e9)
    for stage, ms in timings_ms.items():
        name = stage.removesuffix("_ms")
        end = clock + int(ms * 1e6)
        span = tracer.start_span(f"recsys.{name}", start_time=clock)
        span.end(end_time=end)
        clock = end
