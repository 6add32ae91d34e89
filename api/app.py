"""App factory. No module-level state: everything lives on the app it belongs to.

* ``app.state.settings``     - the :class:`Settings`
* ``app.state.metrics``      - per-app Prometheus registry (:class:`api.observability.Metrics`)
* ``app.state.engine_state`` - :class:`api.deps.EngineState`; its ``.engine`` is the loaded
  ``SearchService`` once ready
* ``app.state.reloader``     - :class:`api.reload.Reloader` (the lifespan's): swaps in a new
  version when ``current`` changes, on ``POST /v1/admin/reload`` or on SIGHUP
* ``app.state.request_log``  - :class:`api.observability.RequestLog` or None
* ``app.state.experiments``  - :class:`recsys.experiments.config.ExperimentConfig` (loaded at
  creation: an invalid file fails fast with the reason)
* ``app.state.event_store``  - :class:`recsys.events.store.EventStore` (``events_url`` or
  ``events_db``) and
* ``app.state.exposure_logger`` - :class:`recsys.events.store.ExposureLogger`, both opened by the
  lifespan (None outside it); shutdown drains the exposure queue, then closes the store. A
  store that cannot be opened stops startup with the path and the reason.

The engine loads in a background thread started by the lifespan, so ``/healthz`` answers at
once; ``/readyz`` is 503 (``loading``, then ``failed`` with the reason if the loader raised)
until the engine is in place, and the engine routes answer 503 ``not_ready`` meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

import recsys
from api import docs, web
from api.admission import AdmissionMiddleware
from api.auth import ApiKeyMiddleware, load_keys
from api.errors import install_error_handlers
from api.lifecycle import EngineLoader, EngineState, default_engine_loader, start_loading
from api.observability import Metrics, ObservabilityMiddleware, RequestLog
from api.reload import Reloader, install_signal_handlers, remove_signal_handlers
from api.routes import (
    admin,
    events,
    experiments,
    health,
    items,
    recommendations,
    search,
    suggest,
)
from api.settings import Settings
from api.tracing import install_tracing
from recsys.events.store import ExposureLogger, open_event_store
from recsys.experiments.serving import load_served_experiments

_DESCRIPTION = """\
Multilingual search and recommendations over a streaming catalog.

Every error has the shape `{"error": {"code": ..., "message": ...}}`:
`invalid_parameter` (422: one parameter missing, malformed or out of range; the message names
it), `invalid_request` (400: parameters contradict each other, e.g. `year_min > year_max`),
`not_found` (404), `method_not_allowed` (405), `payload_too_large` (413: an event batch over
1 MiB), `not_ready` (503: engine loading or failed), `store_unavailable` (503: events could not
be stored; retrying is safe), `internal` (500). Every response carries an `X-Request-ID`
header (an incoming sane `X-Request-ID` is echoed, otherwise one is generated); search and
recommendation responses repeat it in the body.
"""


def create_app(settings: Settings, engine_loader: EngineLoader | None = None) -> FastAPI:
    """Build the service. ``engine_loader(settings)`` is called once, in a background thread
    started at app startup; it may raise (e.g. ``ArtifactError``) and the app still serves
    ``/healthz``, ``/readyz`` (503 with the reason) and ``/metrics``. An unreadable API keys
    file raises ``ApiKeyConfigError`` here: the service never starts open by mistake."""
    loader: EngineLoader = engine_loader or default_engine_loader
    metrics = Metrics()
    request_log = (
        RequestLog(
            settings.request_log,
            metrics,
            settings.request_log_max_bytes,
            settings.request_log_backups,
        )
        if settings.request_log is not None
        else None
    )
    logging.getLogger("api").setLevel(settings.log_level.upper())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_event_store(settings.event_store_target())
        exposure_logger = ExposureLogger(store)
        app.state.event_store, app.state.exposure_logger = store, exposure_logger
        state = start_loading(loader, settings, app.state.experiments, metrics, store)
        app.state.engine_state = state
        reloader = Reloader(state, loader, settings, app.state.experiments, metrics, store)
        app.state.reloader = reloader
        reloader.start_watching()
        signals = install_signal_handlers(reloader)
        try:
            yield
        finally:
            remove_signal_handlers(signals)
            reloader.stop()
            state.close()
            metrics.engine_ready.set(0)
            app.state.exposure_logger = app.state.event_store = None
            exposure_logger.close()  # writes everything still queued
            store.close()

    app = FastAPI(
        title="recsys",
        version=recsys.__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from the package by api.docs, not from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.request_log = request_log
    app.state.engine_state = EngineState(reason="engine not started")
    app.state.reloader = None
    app.state.event_store = app.state.exposure_logger = None
    app.state.experiments = load_served_experiments(settings.experiments_path)

    metrics.watch_exposures(lambda: app.state.exposure_logger)
    metrics.watch_online_state(lambda: app.state.engine_state.engine)

    install_error_handlers(app)
    app.add_middleware(
        AdmissionMiddleware,
        limits={
            "read": settings.max_in_flight_read,
            "events": settings.max_in_flight_events,
            "admin": settings.max_in_flight_admin,
        },
        deadline_s=settings.request_deadline_s,
        max_header_bytes=settings.max_header_bytes,
        queue=settings.admission_queue,
        queue_wait_s=settings.admission_wait_s,
        on_shed=lambda name: metrics.shed.labels(route_class=name).inc(),
        gauges=metrics.set_admission,
    )
    admin_key = settings.admin_api_key.get_secret_value() if settings.admin_api_key else None
    keys = load_keys(settings.api_keys_file, admin_key)
    if not keys:
        logging.getLogger("api").warning(
            "dev mode: no API keys configured (RECSYS_API_KEYS_FILE, RECSYS_ADMIN_API_KEY); "
            "every route is open"
        )
    app.add_middleware(
        ApiKeyMiddleware,
        keys=keys,
        on_limited=lambda name: metrics.rate_limited.labels(key=name).inc(),
    )
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-Request-ID", "Authorization", "X-API-Key"],
            expose_headers=["X-Request-ID"],
            max_age=600,
        )
    routers = (
        health,
        search,
        suggest,
        items,
        recommendations,
        experiments,
        events,
        admin,
        docs,
        web,
    )
    for module in routers:
        app.include_router(module.router)
    app.mount(docs.STATIC_PATH, StaticFiles(directory=docs.STATIC_DIR), name="static")
    install_tracing(app)  # only when OTEL_* asks for it
    _install_openapi(app, settings)
    return app


def app_factory() -> FastAPI:
    """For ``uvicorn --factory api.app:app_factory``: settings from ``RECSYS_*`` env vars."""
    return create_app(Settings())


def _stamp_limits(schema: dict[str, Any], settings: Settings) -> None:
    """Write this app's limits into its OpenAPI document: ``k`` (1..max_k, default
    default_k) and ``q`` (max_query_chars). The routers are shared, the limits are per app."""
    for route, path in schema.get("paths", {}).items():
        if route == "/v1/suggest":  # its k has its own bound (MAX_SUGGESTIONS)
            continue
        for operation in path.values():
            for param in operation.get("parameters", []):
                if param.get("in") != "query":
                    continue
                if param["name"] == "k":
                    param["description"] = f"Number of results, 1..{settings.max_k}."
                    param["schema"] = {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": settings.max_k,
                        "default": settings.default_k,
                        "title": "K",
                        "examples": [10],
                    }
                elif param["name"] == "q":
                    param["schema"]["maxLength"] = settings.max_query_chars


def _install_openapi(app: FastAPI, settings: Settings) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _stamp_limits(generate(), settings)  # generate() caches on app.openapi_schema
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
