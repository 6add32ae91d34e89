"""Zero-downtime model swaps: follow ``current``, load the new version beside the old one,
validate it, swap atomically; refuse a bad version and keep serving the old one.

Triggers: a watcher thread polling the artifact root's ``current`` every
``reload_interval_s`` (0 disables it), ``POST /v1/admin/reload`` and ``SIGHUP``. One reload
runs at a time; a trigger during a reload waits for it and then finds nothing new.

Validation before a version serves: the engine loads (manifest, format, every file's
checksum, finite vectors), can serve every configured experiment (``check_servable``), and
passes its known-answer ``self_check``. Only then does :meth:`EngineState.swap` replace the
snapshot. A request holds the engine it started with (the route got it from the snapshot),
so in-flight requests finish on the old version; the old engine is freed when the last of
them lets go of it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from api.lifecycle import EngineLoader, EngineState, catch_up, load_servable, sync_artifacts
from api.observability import Metrics
from api.settings import Settings
from recsys.core.artifacts import resolve_artifact_dir
from recsys.core.errors import RecsysError
from recsys.core.types import SearchService
from recsys.events.store import EventStore
from recsys.experiments.config import ExperimentConfig

logger = logging.getLogger("api")

Outcome = Literal["swapped", "unchanged", "refused"]


@dataclass(frozen=True)
class ReloadResult:
    outcome: Outcome
    version: str | None  # the version looked at (None: the pointer could not be read)
    serving: str | None  # the version serving afterwards
    reason: str | None
    trigger: str
    seconds: float
    at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Reloader:
    """Swaps the app's engine for the version ``current`` names, when it changes."""

    def __init__(
        self,
        state: EngineState,
        loader: EngineLoader,
        settings: Settings,
        experiments: ExperimentConfig,
        metrics: Metrics,
        store: EventStore | None = None,
    ) -> None:
        self.state = state
        self.store = store  # the online state of a new engine is replayed from it
        self.loader = loader
        self.settings = settings
        self.experiments = experiments
        self.metrics = metrics
        self.last: ReloadResult | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def reload(self, trigger: str) -> ReloadResult:
        """Check ``current`` and swap if it names another version (blocking)."""
        with self._lock:
            started = time.perf_counter()
            serving = self.state.model_version
            try:
                sync_artifacts(self.settings)  # an object store: mirror its `current` first
                target = resolve_artifact_dir(self.settings.artifacts_dir)
            except RecsysError as exc:
                refused = self.state.refused
                if trigger == "watch" and refused is not None and refused.reason == str(exc):
                    return self._record("unchanged", None, serving, None, trigger, started)
                return self._record("refused", None, serving, str(exc), trigger, started)
            if target.name == serving:
                return self._record("unchanged", target.name, serving, None, trigger, started)
            refused = self.state.refused
            if trigger == "watch" and refused is not None and refused.version == target.name:
                # refused already: the watcher does not load it again every few seconds (an
                # operator's reload or SIGHUP does)
                return self._record("unchanged", target.name, serving, None, trigger, started)
            try:
                engine = self._validated(target)
            except Exception as exc:  # noqa: BLE001 (any failure refuses the version)
                reason = (
                    str(exc) if isinstance(exc, RecsysError) else f"{type(exc).__name__}: {exc}"
                )
                return self._record("refused", target.name, serving, reason, trigger, started)
            if not self.state.swap(engine, self.metrics):
                return self._record(
                    "refused", target.name, serving, "the service is stopping", trigger, started
                )
            return self._record(
                "swapped", target.name, engine.model_version, None, trigger, started
            )

    def _validated(self, directory: Path) -> SearchService:
        settings = self.settings.model_copy(update={"artifacts_dir": directory})
        engine = load_servable(self.loader, settings, self.experiments, self.store)
        problems = engine.self_check()
        if problems:
            raise RecsysError(f"known-answer check failed: {'; '.join(problems)}")
        return engine

    def _record(
        self,
        outcome: Outcome,
        version: str | None,
        serving: str | None,
        reason: str | None,
        trigger: str,
        started: float,
    ) -> ReloadResult:
        result = ReloadResult(
            outcome,
            version,
            serving,
            reason,
            trigger,
            round(time.perf_counter() - started, 3),
            datetime.now(UTC).isoformat(timespec="seconds"),
        )
        if outcome != "unchanged":
            self.last = result
            self.metrics.reloads.labels(outcome=outcome).inc()
            log = logger.warning if outcome == "refused" else logger.info
            log("reload (%s): %s %s%s", trigger, outcome, version, f": {reason}" if reason else "")
        if outcome == "refused":
            self.state.refused = result
        elif outcome == "swapped":
            self.state.refused = None
        return result

    # ------------------------------------------------------------------ the watcher

    def start_watching(self) -> None:
        """Poll ``current`` every ``reload_interval_s`` in a daemon thread (0: never)."""
        if self.settings.reload_interval_s <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._watch, name="recsys-reload", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.settings.reload_interval_s):
            if self.state.status != "ready":
                continue  # the first load is the loader's job
            try:
                self.reload("watch")
                self.follow_events()
            except Exception:  # pragma: no cover - the watcher must never die
                logger.exception("reload watcher failed")

    def follow_events(self) -> None:
        """Replay what other replicas stored since the last look into the served engine's
        online user state: replicas sharing one event store converge within an interval."""
        engine = self.state.engine
        if self.store is not None and engine is not None:
            catch_up(self.store, engine)

    def stop(self) -> None:
        self._stop.set()


# ---------------------------------------------------------------------- signals


def install_signal_handlers(reloader: Reloader) -> list[int]:
    """SIGHUP reloads (in a thread: the event loop must not block on a model load);
    SIGUSR1 logs what is served. Without them both signals would end the process at once,
    skipping the drain. Only possible on the main thread's running loop (uvicorn's); elsewhere
    (tests, embedded servers) nothing is installed. Returns the signals handled."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return []
    if threading.current_thread() is not threading.main_thread():
        return []

    def on_hup() -> None:
        threading.Thread(
            target=reloader.reload, args=("sighup",), name="recsys-reload-hup", daemon=True
        ).start()

    def on_usr1() -> None:
        logger.info("serving %s; last reload: %s", reloader.state.model_version, reloader.last)

    handled = []
    for signum, handler in ((signal.SIGHUP, on_hup), (signal.SIGUSR1, on_usr1)):
        try:
            loop.add_signal_handler(signum, handler)
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover - platform
            continue
        handled.append(int(signum))
    return handled


def remove_signal_handlers(handled: list[int]) -> None:
    if not handled:
        return
    loop = asyncio.get_running_loop()
    for signum in handled:
        loop.remove_signal_handler(signum)
