"""The event store: feedback events and exposures (what was shown), durably kept.

Two append-only tables behind the :class:`EventStore` protocol, so that a broker or a
warehouse can replace the default :class:`SqliteEventStore`:

* ``events`` (``EVENT_SCHEMA``): feedback posted by clients (``POST /v1/events``). Idempotent
  by ``event_id``: the first write of an id wins and any later one (a retried batch, or the
  same id twice in one batch) is counted as a duplicate, never stored twice. ``ts`` is when it
  happened (the arrival time if the client sent none); ``received_at`` when it was stored.
* ``exposures`` (``EXPOSURE_SCHEMA``): one row per served search / recommendation list, keyed
  by ``request_id``, items in order (position = list index) and, for interleaved experiments,
  the team (variant) of each position. Written off the request path by :class:`ExposureLogger`.

Durability: SQLite in WAL mode with ``synchronous=FULL``; ``append_*`` commit (fsync of the
WAL) before returning, so whatever they acknowledged survives a ``kill -9`` right after.
Timestamps are stored as ISO 8601 UTC text with milliseconds (``2026-11-20T12:00:00.000Z``),
which sorts chronologically; reads return ``pl.Datetime("us", "UTC")``.

The server and the CLIs (``recsys events export``, ``ab-report``, ``simulate``) find the same
file by default: ``api.settings.Settings.events_db``, i.e. ``$RECSYS_EVENTS_DB`` or
``var/events.sqlite3`` (relative paths resolve against each process's working directory).

Records, schemas and validation live in :mod:`recsys.events.schema`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import orjson
import polars as pl

from recsys.core.errors import RecsysError
from recsys.events.schema import (
    EVENT_SCHEMA,
    EXPOSURE_SCHEMA,
    Event,
    Exposure,
)

logger = logging.getLogger(__name__)

DEFAULT_EVENTS_DB = Path("var/events.sqlite3")
EVENTS_DB_ENV = "RECSYS_EVENTS_DB"

_TEXT_TS = "%Y-%m-%dT%H:%M:%S%.3fZ"
_SCHEMA_VERSION = 1
_DDL = """
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY, type TEXT NOT NULL, user_id TEXT NOT NULL, item_id TEXT NOT NULL,
    request_id TEXT, position INTEGER, ts TEXT NOT NULL, value REAL, received_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_user ON events (user_id);
CREATE INDEX IF NOT EXISTS events_received ON events (received_at);
CREATE TABLE IF NOT EXISTS exposures (
    request_id TEXT PRIMARY KEY, ts TEXT NOT NULL, route TEXT NOT NULL, user_id TEXT,
    experiment TEXT, variant TEXT, model_version TEXT NOT NULL, query TEXT, items TEXT NOT NULL,
    teams TEXT);
CREATE INDEX IF NOT EXISTS exposures_ts ON exposures (ts);
"""


class EventStoreError(RecsysError):
    """The store cannot be opened, read or written (the message names the file)."""


def format_ts(ts: datetime) -> str:
    """``2026-11-20T12:00:00.000Z`` (UTC, milliseconds): the stored and exported form."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --------------------------------------------------------------------------- store


class EventStore(Protocol):
    """Where events and exposures go. Implementations are thread-safe and do not return from
    ``append_*`` before the data is durable."""

    def append_events(
        self, events: Sequence[Event], received_at: datetime | None = None
    ) -> tuple[int, int]:
        """Store a batch atomically, stamped ``received_at`` (default: now); ``(accepted,
        duplicates)``. The API passes the time it stamped events without a ``ts`` with, so
        that both are the same instant."""
        ...

    def append_exposures(self, exposures: Sequence[Exposure]) -> int:
        """Store a batch atomically; the number of rows written."""
        ...

    def read_events(
        self,
        types: Sequence[str] | None = None,
        *,
        user_id: str | None = None,
        received_since: datetime | None = None,
    ) -> pl.DataFrame:
        """Events as ``EVENT_SCHEMA``, sorted by ts then event_id: of ``types``, of one user,
        received at or after a time, when given."""
        ...

    def read_exposures(self) -> pl.DataFrame:
        """Exposures as ``EXPOSURE_SCHEMA``, sorted by ts then request_id."""
        ...

    def close(self) -> None: ...


class SqliteEventStore:
    """The default :class:`EventStore`: one SQLite file, one connection behind a lock.

    One connection rather than one per thread: SQLite serializes writers anyway and a batch is
    one short transaction; other processes (the export CLI) read concurrently thanks to WAL.
    ``create=False`` refuses a missing file, so a reader never makes an empty store by mistake.
    """

    def __init__(self, path: Path | str, *, create: bool = True, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        if not create and not self.path.is_file():
            raise EventStoreError(
                f"{self.path}: no event store there (the server creates it; see ${EVENTS_DB_ENV})"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if create and not self.path.exists():  # owner-only: it holds who watched what
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            conn = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise EventStoreError(f"{self.path}: cannot open event store: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise EventStoreError(
                    f"{self.path}: store schema v{version} is newer than this code's "
                    f"v{_SCHEMA_VERSION}"
                )
            conn.executescript(_DDL)
            conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except (sqlite3.Error, EventStoreError) as exc:
            conn.close()
            if isinstance(exc, EventStoreError):
                raise
            raise EventStoreError(f"{self.path}: not a usable event store: {exc}") from exc
        self._conn = conn

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise EventStoreError(f"{self.path}: event store is closed")
        return self._conn

    def _write(self, sql: str, rows: list[tuple[object, ...]]) -> int:
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                written = conn.executemany(sql, rows).rowcount
                conn.execute("COMMIT")  # synchronous=FULL: durable once this returns
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise EventStoreError(f"{self.path}: write failed: {exc}") from exc
        return max(written, 0)

    def _select(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            try:
                return self._connection().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise EventStoreError(f"{self.path}: read failed: {exc}") from exc

    def append_events(
        self, events: Sequence[Event], received_at: datetime | None = None
    ) -> tuple[int, int]:
        if not events:
            return 0, 0
        now = format_ts(received_at or datetime.now(UTC))
        rows: list[tuple[object, ...]] = [
            (e.event_id, e.type, e.user_id, e.item_id, e.request_id, e.position,
             now if e.ts is None else format_ts(e.ts), e.value, now)
            for e in events
        ]  # fmt: skip
        accepted = self._write("INSERT OR IGNORE INTO events VALUES (?,?,?,?,?,?,?,?,?)", rows)
        return accepted, len(rows) - accepted

    def append_exposures(self, exposures: Sequence[Exposure]) -> int:
        """The first row of a request id wins: a later list under the same id (a client
        reusing someone's ``X-Request-ID``) never overwrites what was shown; the number of
        rows written says how many were new."""
        rows: list[tuple[object, ...]] = [
            (x.request_id, format_ts(x.ts), x.route, x.user_id, x.experiment, x.variant,
             x.model_version, x.query, orjson.dumps(x.items).decode(),
             None if x.teams is None else orjson.dumps(x.teams).decode())
            for x in exposures
        ]  # fmt: skip
        if not rows:
            return 0
        return self._write("INSERT OR IGNORE INTO exposures VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

    def read_events(
        self,
        types: Sequence[str] | None = None,
        *,
        user_id: str | None = None,
        received_since: datetime | None = None,
    ) -> pl.DataFrame:
        conditions, params = ["1"], list[object]()
        if types is not None:
            conditions.append(f"type IN ({','.join('?' * len(types))})" if types else "0")
            params += list(types)
        if user_id is not None:
            conditions.append("user_id = ?")
            params.append(user_id)
        if received_since is not None:
            conditions.append("received_at >= ?")
            params.append(format_ts(received_since))
        where = " AND ".join(conditions)
        sql = f"SELECT {', '.join(EVENT_SCHEMA)} FROM events WHERE {where} ORDER BY ts, event_id"
        return _frame(self._select(sql, params), EVENT_SCHEMA, ("ts", "received_at"), ())

    def read_exposures(self) -> pl.DataFrame:
        sql = f"SELECT {', '.join(EXPOSURE_SCHEMA)} FROM exposures ORDER BY ts, request_id"
        return _frame(self._select(sql), EXPOSURE_SCHEMA, ("ts",), ("items", "teams"))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _frame(
    rows: list[tuple[object, ...]],
    schema: dict[str, pl.DataType],
    ts_columns: tuple[str, ...],
    json_columns: tuple[str, ...],
) -> pl.DataFrame:
    """SQLite rows (timestamps and lists as text) -> a frame of exactly ``schema``."""
    text = set(ts_columns) | set(json_columns)
    raw_schema = {name: pl.Utf8() if name in text else dtype for name, dtype in schema.items()}
    frame = pl.DataFrame(rows, schema=raw_schema, orient="row")
    return frame.with_columns(
        *(
            pl.col(name).str.strptime(pl.Datetime("us"), _TEXT_TS).dt.replace_time_zone("UTC")
            for name in ts_columns
        ),
        *(pl.col(name).str.json_decode(schema[name]) for name in json_columns),
    )


def is_database_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def open_event_store(target: Path | str, *, create: bool = True) -> EventStore:
    """``postgresql://...`` -> :class:`~recsys.events.postgres.PostgresEventStore`; anything
    else is a SQLite file path."""
    if is_database_url(target):
        from recsys.events.postgres import PostgresEventStore

        return PostgresEventStore(str(target), create=create)
    return SqliteEventStore(target, create=create)


# --------------------------------------------------------------------------- exposure logger


class ExposureLogger:
    """Writes exposures off the request path: :meth:`log` only enqueues (about a microsecond)
    and a background thread stores batches (one transaction, so one fsync, per batch).

    The queue is bounded (``max_queue``): when the store falls that far behind, new exposures
    are *dropped and counted* (``dropped``) rather than blocking requests; a failed batch
    write is logged and counted (``failed``), never raised. :meth:`close` drains the queue,
    so a graceful shutdown loses nothing.
    """

    def __init__(self, store: EventStore, *, max_queue: int = 10_000, batch_size: int = 500):
        self._store = store
        self._batch_size = batch_size
        self._queue: queue.Queue[Exposure | None] = queue.Queue(maxsize=max_queue)
        self._counts_lock = threading.Lock()
        self._closed = False
        self.written = self.dropped = self.failed = 0
        self._thread = threading.Thread(target=self._run, name="recsys-exposures", daemon=True)
        self._thread.start()

    def log(self, exposure: Exposure) -> bool:
        """Enqueue; False (and counted in ``dropped``) if the queue is full or closed."""
        if not self._closed:
            try:
                self._queue.put_nowait(exposure)
                return True
            except queue.Full:
                pass
        with self._counts_lock:
            self.dropped += 1
        return False

    def flush(self) -> None:
        """Block until everything enqueued so far has been written (or failed)."""
        self._queue.join()

    def close(self) -> None:
        """Stop accepting, write everything queued, stop the thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)  # blocks only while the (draining) queue is full
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first] if first is not None else []
            stop = first is None
            while not stop and len(batch) < self._batch_size:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                else:
                    batch.append(item)
            self._write(batch)
            for _ in range(len(batch) + (1 if stop else 0)):
                self._queue.task_done()
            if stop:
                return

    def _write(self, batch: list[Exposure]) -> None:
        if not batch:
            return
        try:
            self._store.append_exposures(batch)
        except Exception as exc:
            with self._counts_lock:
                self.failed += len(batch)
            logger.warning("lost %d exposures: store write failed: %s", len(batch), exc)
        else:
            with self._counts_lock:
                self.written += len(batch)
