"""App factory. No module-level state: everything lives on the app it belongs to.

* ``app.state.settings``     - the :class:`Settings`
* ``app.state.metrics``      - per-app Prometheus registry (:class:`api.observability.Metrics`)
* ``app.state.engine_state`` - :class:`api.deps.EngineState`; its ``.engine`` is the loaded
  ``SearchService`` once ready
* ``app.state.request_log``  - :class:`api.observability.RequestLog` or None
* ``app.state.experiments``  - :class:`recsys.experiments.config.ExperimentConfig` (loaded at
  creation: an invalid file fails fast with the reason)
* ``app.state.event_store``  - :class:`recsys.events.store.EventStore` (``settings.events_db``) and
* ``app.state.exposure_logger`` - :class:`recsys.events.store.ExposureLogger`, both opened by the
  lifespan (None outside it); shutdown drains the exposure queue, then closes the store. A
  store that cannot be opened stops startup with the path and the reason.

The engine loads in a background thread started by the lifespan, so ``/healthz`` answers at
once; ``/readyz`` is 503 (``loading``, then ``failed`` with the reason if the loader raised)
until the engine is in place, and the engine routes answer 503 ``not_ready`` meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

import recsys
from api.deps import EngineState
from api.errors import install_error_handlers
from api.observability import Metrics, ObservabilityMiddleware, RequestLog
from api.routes import events, experiments, health, items, recommendations, search
from api.settings import Settings
from recsys.core.types import SearchService
from recsys.events.store import ExposureLogger, SqliteEventStore
from recsys.experiments.config import ExperimentConfig
from recsys.experiments.serving import check_servable, load_served_experiments

EngineLoader = Callable[[Settings], SearchService]

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


def default_engine_loader(settings: Settings) -> SearchService:
    """Load the real engine; imported lazily so the API imports without the ML stack."""
    from recsys.search.hybrid import SearchOptions
    from recsys.service import Engine

    options = SearchOptions(query_cache_size=settings.query_cache_size)
    return Engine.load(settings.artifacts_dir, device=settings.encoder_device, options=options)


def load_servable(
    loader: EngineLoader, settings: Settings, experiments: ExperimentConfig
) -> SearchService:
    """The engine, once its capabilities (the rankers and retrieval modes its artifact
    provides) can serve every experiment: a mismatch fails the load with the reason."""
    engine = loader(settings)
    check_servable(experiments, engine.capabilities())
    return engine


def create_app(settings: Settings, engine_loader: EngineLoader | None = None) -> FastAPI:
    """Build the service. ``engine_loader(settings)`` is called once, in a background thread
    started at app startup; it may raise (e.g. ``ArtifactError``) and the app still serves
    ``/healthz``, ``/readyz`` (503 with the reason) and ``/metrics``."""
    loader: EngineLoader = engine_loader or default_engine_loader
    metrics = Metrics()
    request_log = (
        RequestLog(settings.request_log, metrics) if settings.request_log is not None else None
    )
    logging.getLogger("api").setLevel(settings.log_level.upper())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = SqliteEventStore(settings.events_db)
        exposure_logger = ExposureLogger(store)
        app.state.event_store, app.state.exposure_logger = store, exposure_logger
        state = EngineState()
        app.state.engine_state = state
        metrics.engine_ready.set(0)
        thread = threading.Thread(
            target=state.run_loader,
            args=(lambda: load_servable(loader, settings, app.state.experiments), metrics),
            name="recsys-engine-loader",
            daemon=True,  # a slow load must not keep a stopping process alive
        )
        thread.start()
        try:
            yield
        finally:
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
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.request_log = request_log
    app.state.engine_state = EngineState(reason="engine not started")
    app.state.event_store = app.state.exposure_logger = None
    app.state.experiments = load_served_experiments(settings.experiments_path)

    install_error_handlers(app)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    app.include_router(health.build_router())
    app.include_router(search.build_router(settings, request_log))
    app.include_router(items.build_router(settings, request_log))
    app.include_router(recommendations.build_router(settings, request_log))
    app.include_router(experiments.build_router())
    app.include_router(events.build_router(metrics.registry, lambda: app.state.exposure_logger))
    return app


def app_factory() -> FastAPI:
    """For ``uvicorn --factory api.app:app_factory``: settings from ``RECSYS_*`` env vars."""
    return create_app(Settings())
