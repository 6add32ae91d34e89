"""The engine's lifecycle in the service: loaded once, in a background thread, behind an
immutable snapshot (``loading`` -> ``ready`` | ``failed``), closed at shutdown.

``/healthz`` answers at once; ``/readyz`` and the engine routes answer 503 until the snapshot
is ``ready``. The loaded engine must be able to serve every configured experiment (its
``capabilities()``), or the load fails with the reason.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from api.observability import Metrics
from api.settings import Settings
from recsys.core.errors import RecsysError
from recsys.core.types import LearnsOnline, SearchService
from recsys.events.store import EventStore, EventStoreError
from recsys.experiments.config import ExperimentConfig
from recsys.experiments.serving import check_servable

EngineLoader = Callable[[Settings], SearchService]

logger = logging.getLogger("api")


def pin_threads(threads: int) -> dict[str, int]:
    """Limit torch, BLAS and faiss to ``threads`` threads in this process (what each reports
    afterwards)."""
    import faiss
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    threadpool_limits(limits=threads)  # OpenBLAS / MKL / OpenMP, process-wide
    return {"torch": torch.get_num_threads(), "faiss": faiss.omp_get_max_threads()}


def default_engine_loader(settings: Settings) -> SearchService:
    """Load the real engine; imported lazily so the API imports without the ML stack."""
    from recsys.service import Engine

    logger.info("threads pinned: %s", pin_threads(settings.threads))
    return Engine.load(
        settings.artifacts_dir,
        device=settings.encoder_device,
        options=settings.search_options,
        query_backend=settings.query_encoder,
        threads=settings.threads,
    )


def load_servable(
    loader: EngineLoader,
    settings: Settings,
    experiments: ExperimentConfig,
    store: EventStore | None = None,
) -> SearchService:
    """The engine, once its capabilities (the rankers and retrieval modes its artifact
    provides) can serve every experiment: a mismatch fails the load with the reason. An
    engine that learns online has replayed ``store`` (what arrives until it serves is
    replayed again once it serves: ``EngineState.on_ready``)."""
    engine = loader(settings)
    check_servable(experiments, engine.capabilities())
    if store is not None:
        catch_up(store, engine)
    return engine


def catch_up(store: EventStore, engine: SearchService) -> None:
    """Replay into an engine that learns online what ``store`` holds that it has not seen:
    events stored while a new engine loaded went to the old one (or nowhere), and other
    replicas write to the same store. A store error is logged; the engine serves anyway."""
    if isinstance(engine, LearnsOnline):
        try:
            engine.catch_up(store)
        except EventStoreError as exc:  # the next catch-up tries again
            logger.error("online state not caught up: %s", exc)


def sync_artifacts(settings: Settings) -> None:
    """With ``artifacts_url``: bring the store's ``current`` into the local mirror first."""
    if settings.artifacts_url:
        from recsys.core.artifact_store import ArtifactMirror

        ArtifactMirror(settings.artifacts_url, settings.artifacts_dir).sync()


def _synced_load(
    loader: EngineLoader,
    settings: Settings,
    experiments: ExperimentConfig,
    store: EventStore | None,
) -> SearchService:
    sync_artifacts(settings)
    return load_servable(loader, settings, experiments, store)


def start_loading(
    loader: EngineLoader,
    settings: Settings,
    experiments: ExperimentConfig,
    metrics: Metrics,
    store: EventStore | None = None,
) -> EngineState:
    """A new ``EngineState`` whose loader runs in a daemon thread (a slow load must not keep
    a stopping process alive)."""
    state = EngineState()
    if store is not None:
        state.on_ready = functools.partial(catch_up, store)
    metrics.engine_ready.set(0)
    thread = threading.Thread(
        target=state.run_loader,
        args=(lambda: _synced_load(loader, settings, experiments, store), metrics),
        name="recsys-engine-loader",
        daemon=True,
    )
    thread.start()
    return state


@dataclass(frozen=True)
class _Snapshot:
    status: Literal["loading", "ready", "failed"]
    engine: SearchService | None = None
    reason: str | None = None


class EngineState:
    """Holds the engine once the background loader has produced it.

    One per app (on ``app.state.engine_state``); the loader thread replaces an immutable
    snapshot, so readers never see a half-updated state.
    """

    def __init__(self, reason: str = "engine is loading") -> None:
        self._snapshot = _Snapshot("loading", reason=reason)
        self._done = threading.Event()
        self._closed = False
        self.model_version: str | None = None
        self.refused: Any = None  # api.reload.ReloadResult of the last refused version
        # called with each engine once it serves (after the first load and after each swap)
        self.on_ready: Callable[[SearchService], None] | None = None

    def snapshot(self) -> _Snapshot:
        return self._snapshot

    @property
    def status(self) -> Literal["loading", "ready", "failed"]:
        return self._snapshot.status

    @property
    def engine(self) -> SearchService | None:
        return self._snapshot.engine

    @property
    def reason(self) -> str | None:
        return self._snapshot.reason

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the loader finished (either way); True if it did within ``timeout``."""
        return self._done.wait(timeout)

    def run_loader(self, load: Callable[[], SearchService], metrics: Metrics | None = None) -> None:
        """Call ``load`` (in the current thread) and record the outcome. Never raises."""
        started = time.perf_counter()
        try:
            engine = load()
            if engine is None:
                raise RuntimeError("engine loader returned None")
            model_version = str(engine.model_version)
        except BaseException as exc:  # whatever happens, leave the "loading" state
            reason = str(exc) if isinstance(exc, RecsysError) else f"{type(exc).__name__}: {exc}"
            # An ArtifactError & co. is an operator's problem with a clear message; anything
            # else is a bug worth a traceback.
            logger.error(
                "engine failed to load: %s",
                reason,
                exc_info=None if isinstance(exc, RecsysError) else exc,
            )
            self._snapshot = _Snapshot("failed", reason=reason)
        else:
            if self._closed:  # the app shut down while we were loading
                _close_quietly(engine)
            else:
                self.model_version = model_version
                self._snapshot = _Snapshot("ready", engine=engine)
                if self.on_ready is not None:
                    self.on_ready(engine)
                if metrics is not None:
                    metrics.engine_ready.set(1)
                    metrics.serving(model_version)
        finally:
            if metrics is not None:
                metrics.engine_load_seconds.set(time.perf_counter() - started)
            self._done.set()

    def swap(self, engine: SearchService, metrics: Metrics | None = None) -> bool:
        """Serve ``engine`` from now on (requests already running keep the one they got);
        False, and the engine closed, when the app is shutting down."""
        if self._closed:
            _close_quietly(engine)
            return False
        self.model_version = str(engine.model_version)
        self._snapshot = _Snapshot("ready", engine=engine)
        if self.on_ready is not None:
            self.on_ready(engine)
        if metrics is not None:
            metrics.engine_ready.set(1)
            metrics.serving(self.model_version)
        return True

    def close(self) -> None:
        self._closed = True
        engine = self._snapshot.engine
        if engine is not None:
            _close_quietly(engine)


def _close_quietly(engine: object) -> None:
    close = getattr(engine, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # pragma: no cover - best effort on shutdown
            logger.exception("engine close() failed")
