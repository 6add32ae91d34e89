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

The server (``Settings.events_db``) and ``recsys events export`` find the same file by
default: :func:`default_events_db`, i.e. ``$RECSYS_EVENTS_DB`` or ``var/events.sqlite3``
(relative paths resolve against each process's working directory).

Validation (:func:`validate_events`) is strict, so that bad data is refused at the door with a
message naming the event and field rather than discovered by a training job:

* ``type``: one of ``EVENT_TYPES``; ``event_id`` and ``user_id``: 1..128 characters, no
  control characters; ``item_id``: 1..64 of letters, digits, ``_``, ``-`` (the catalog ids);
  ``request_id``: optional, 1..128 characters; ``position``: optional int, 0-based rank.
* ``ts``: optional ISO 8601 string *with* a timezone (``Z`` or an offset); a naive timestamp
  is rejected rather than guessed to be UTC, since a client's local time read as UTC would
  silently shift every event. Normalized to UTC, years 1970..2100.
* ``value``: optional finite number, *required* for ``rating`` (a rating without its value
  carries no signal). Unknown fields are rejected, so a typo (``positon``) cannot drop data.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import re
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import orjson
import polars as pl

from recsys.errors import RecsysError

logger = logging.getLogger(__name__)

DEFAULT_EVENTS_DB = Path("var/events.sqlite3")
EVENTS_DB_ENV = "RECSYS_EVENTS_DB"
EVENT_TYPES = ("impression", "click", "play", "rating", "add_to_list")
EXPOSURE_ROUTES = ("search", "recommendations", "similar")
MAX_POSITION = 1_000_000  # a sanity bound; also keeps it far inside SQLite's 64-bit INTEGER

_TS = pl.Datetime("us", "UTC")
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.Utf8(),
    "type": pl.Utf8(),
    "user_id": pl.Utf8(),
    "item_id": pl.Utf8(),
    "request_id": pl.Utf8(),
    "position": pl.Int64(),
    "ts": _TS,
    "value": pl.Float64(),
    "received_at": _TS,
}
EXPOSURE_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.Utf8(),
    "ts": _TS,
    "route": pl.Utf8(),
    "user_id": pl.Utf8(),
    "experiment": pl.Utf8(),
    "variant": pl.Utf8(),
    "model_version": pl.Utf8(),
    "query": pl.Utf8(),
    "items": pl.List(pl.Utf8()),
    "teams": pl.List(pl.Utf8()),
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # exactly Unicode category Cc
_ITEM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FIELDS = frozenset(
    ("event_id", "type", "user_id", "item_id", "request_id", "position", "ts", "value")
)
_TEXT_TS = "%Y-%m-%dT%H:%M:%S%.3fZ"
_SCHEMA_VERSION = 1
_DDL = """
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY, type TEXT NOT NULL, user_id TEXT NOT NULL, item_id TEXT NOT NULL,
    request_id TEXT, position INTEGER, ts TEXT NOT NULL, value REAL, received_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE TABLE IF NOT EXISTS exposures (
    request_id TEXT PRIMARY KEY, ts TEXT NOT NULL, route TEXT NOT NULL, user_id TEXT,
    experiment TEXT, variant TEXT, model_version TEXT NOT NULL, query TEXT, items TEXT NOT NULL,
    teams TEXT);
CREATE INDEX IF NOT EXISTS exposures_ts ON exposures (ts);
"""


class EventStoreError(RecsysError):
    """The store cannot be opened, read or written (the message names the file)."""


class InvalidEventError(RecsysError):
    """An event failed validation; the message names it and the field (``events[3].type``)."""


def default_events_db() -> Path:
    """``$RECSYS_EVENTS_DB`` if set and non-empty, else ``DEFAULT_EVENTS_DB``."""
    return Path(os.environ.get(EVENTS_DB_ENV) or DEFAULT_EVENTS_DB)


def format_ts(ts: datetime) -> str:
    """``2026-11-20T12:00:00.000Z`` (UTC, milliseconds): the stored and exported form."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Event:
    """A validated feedback event; build it with :func:`validate_event`."""

    event_id: str
    type: str
    user_id: str
    item_id: str
    request_id: str | None = None
    position: int | None = None
    ts: datetime | None = None  # aware, UTC; None: stamped with the arrival time
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Exposure:
    """One served list. ``teams`` (same length as ``items``) names the interleaving team of
    each position, or is None outside interleaving experiments."""

    request_id: str
    route: str
    model_version: str
    items: tuple[str, ...]
    user_id: str | None = None
    experiment: str | None = None
    variant: str | None = None
    query: str | None = None
    teams: tuple[str, ...] | None = None
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.route not in EXPOSURE_ROUTES:
            raise ValueError(f"route must be one of {EXPOSURE_ROUTES}, not {self.route!r}")
        if self.teams is not None and len(self.teams) != len(self.items):
            raise ValueError(f"{len(self.teams)} teams for {len(self.items)} items")


class _FieldError(ValueError):
    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")


def _text(raw: Mapping[str, object], name: str, max_len: int, required: bool) -> str | None:
    value = raw.get(name)
    if value is None:
        if required:
            raise _FieldError(name, "field required")
        return None
    if not isinstance(value, str):
        raise _FieldError(name, "must be a string")
    if not 1 <= len(value) <= max_len:
        raise _FieldError(name, f"must be 1..{max_len} characters (got {len(value)})")
    if _CONTROL.search(value):
        raise _FieldError(name, "must not contain control characters")
    return value


def _parse_ts(value: object) -> datetime | None:
    if value is None:
        return None
    example = "e.g. 2026-11-20T12:00:00Z"
    if not isinstance(value, str):
        raise _FieldError("ts", f"must be an ISO 8601 string, {example}")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise _FieldError("ts", f"not an ISO 8601 timestamp, {example}") from None
    if ts.utcoffset() is None:
        raise _FieldError("ts", f"must include a timezone (Z or an offset), {example}")
    ts = ts.astimezone(UTC)
    if not 1970 <= ts.year <= 2100:
        raise _FieldError("ts", "must be between 1970 and 2100")
    return ts


def validate_event(raw: object) -> Event:
    """One event from decoded JSON; raises ``ValueError("field: problem")``."""
    if not isinstance(raw, Mapping):
        raise ValueError("must be a JSON object")
    unknown = sorted(str(key) for key in raw if key not in _FIELDS)
    if unknown:
        raise _FieldError(unknown[0], f"unknown field (allowed: {', '.join(sorted(_FIELDS))})")
    event_id = str(_text(raw, "event_id", 128, required=True))
    kind = raw.get("type")
    if kind is None:
        raise _FieldError("type", "field required")
    if kind not in EVENT_TYPES:
        raise _FieldError("type", f"must be one of {', '.join(EVENT_TYPES)}")
    user_id = str(_text(raw, "user_id", 128, required=True))
    item_id = raw.get("item_id")
    if item_id is None:
        raise _FieldError("item_id", "field required")
    if not isinstance(item_id, str) or not _ITEM_ID.fullmatch(item_id):
        raise _FieldError("item_id", "must be 1..64 letters, digits, '_' or '-'")
    position, value = raw.get("position"), raw.get("value")
    if position is not None and (type(position) is not int or not 0 <= position <= MAX_POSITION):
        raise _FieldError("position", f"must be an integer in 0..{MAX_POSITION}")
    if value is None and kind == "rating":
        raise _FieldError("value", "required for a rating")
    if value is not None and (type(value) not in (int, float) or not math.isfinite(value)):
        raise _FieldError("value", "must be a finite number")
    return Event(
        event_id=event_id,
        type=str(kind),
        user_id=user_id,
        item_id=item_id,
        request_id=_text(raw, "request_id", 128, required=False),
        position=position,
        ts=_parse_ts(raw.get("ts")),
        value=None if value is None else float(value),
    )


def validate_events(raw: Sequence[object], where: str = "events") -> list[Event]:
    """Validate a whole batch: every event, or :class:`InvalidEventError` listing (up to 5)
    problems as ``events[3].type: must be one of ...``."""
    events: list[Event] = []
    problems: list[str] = []
    for index, item in enumerate(raw):
        try:
            events.append(validate_event(item))
        except _FieldError as exc:
            problems.append(f"{where}[{index}].{exc}")
        except ValueError as exc:
            problems.append(f"{where}[{index}]: {exc}")
    if problems:
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise InvalidEventError("; ".join(problems[:5]) + more)
    return events


# --------------------------------------------------------------------------- store


class EventStore(Protocol):
    """Where events and exposures go. Implementations are thread-safe and do not return from
    ``append_*`` before the data is durable."""

    def append_events(self, events: Sequence[Event]) -> tuple[int, int]:
        """Store a batch atomically; ``(accepted, duplicates)``."""
        ...

    def append_exposures(self, exposures: Sequence[Exposure]) -> int:
        """Store a batch atomically; the number of rows written."""
        ...

    def read_events(self, types: Sequence[str] | None = None) -> pl.DataFrame:
        """Events (of ``types`` if given) as ``EVENT_SCHEMA``, sorted by ts then event_id."""
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

    def append_events(self, events: Sequence[Event]) -> tuple[int, int]:
        if not events:
            return 0, 0
        now = format_ts(datetime.now(UTC))
        rows: list[tuple[object, ...]] = [
            (e.event_id, e.type, e.user_id, e.item_id, e.request_id, e.position,
             now if e.ts is None else format_ts(e.ts), e.value, now)
            for e in events
        ]  # fmt: skip
        accepted = self._write("INSERT OR IGNORE INTO events VALUES (?,?,?,?,?,?,?,?,?)", rows)
        return accepted, len(rows) - accepted

    def append_exposures(self, exposures: Sequence[Exposure]) -> int:
        """A request id seen again replaces its earlier row: a client retrying with the same
        ``X-Request-ID`` shows the list of its last attempt."""
        rows: list[tuple[object, ...]] = [
            (x.request_id, format_ts(x.ts), x.route, x.user_id, x.experiment, x.variant,
             x.model_version, x.query, orjson.dumps(x.items).decode(),
             None if x.teams is None else orjson.dumps(x.teams).decode())
            for x in exposures
        ]  # fmt: skip
        if not rows:
            return 0
        return self._write("INSERT OR REPLACE INTO exposures VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

    def read_events(self, types: Sequence[str] | None = None) -> pl.DataFrame:
        where, params = "", list(types or ())
        if types is not None:
            where = f"WHERE type IN ({','.join('?' * len(params))})" if params else "WHERE 0"
        sql = f"SELECT {', '.join(EVENT_SCHEMA)} FROM events {where} ORDER BY ts, event_id"
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
