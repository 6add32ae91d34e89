"""A PostgreSQL :class:`~recsys.events.store.EventStore`: one store for many API replicas.

Selected with ``RECSYS_EVENTS_URL=postgresql://user@host:5432/db`` (the embedded default stays
SQLite). The same contract as :class:`~recsys.events.store.SqliteEventStore`, checked by the
same suite (``tests/contracts/test_event_stores.py``):

* idempotent by ``event_id``: ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` counts what was
  new, so a retried batch (or an id twice in one batch) is stored once;
* acknowledged means committed: a batch is one transaction, committed before ``append_*``
  returns (the server's default ``synchronous_commit=on``: the WAL is flushed at commit);
* batched: one statement per batch, rows passed as arrays (``unnest``), not one per row;
* exposures too, first write of a ``request_id`` wins.

Timestamps are ``timestamptz`` truncated to milliseconds (as SQLite stores them), so both
stores sort and filter alike. One connection per store object, behind a lock (a replica
writes small batches; several replicas are several connections).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import polars as pl

from recsys.events.schema import EVENT_SCHEMA, EXPOSURE_SCHEMA, Event, Exposure
from recsys.events.store import EventStoreError

_DDL = """
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY, type TEXT NOT NULL, user_id TEXT NOT NULL,
    item_id TEXT NOT NULL, request_id TEXT, position INTEGER, ts TIMESTAMPTZ NOT NULL,
    value DOUBLE PRECISION, received_at TIMESTAMPTZ NOT NULL);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts, event_id);
CREATE INDEX IF NOT EXISTS events_user ON events (user_id);
CREATE INDEX IF NOT EXISTS events_received ON events (received_at);
CREATE TABLE IF NOT EXISTS exposures (
    request_id TEXT PRIMARY KEY, ts TIMESTAMPTZ NOT NULL, route TEXT NOT NULL, user_id TEXT,
    experiment TEXT, variant TEXT, model_version TEXT NOT NULL, query TEXT,
    items TEXT[] NOT NULL, teams TEXT[]);
CREATE INDEX IF NOT EXISTS exposures_ts ON exposures (ts, request_id);
"""
_INSERT_EVENTS = """
INSERT INTO events
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::int[],
                     %s::timestamptz[], %s::float8[], %s::timestamptz[])
ON CONFLICT (event_id) DO NOTHING RETURNING 1
"""


def _text_array(column: str) -> str:
    """SQL: a JSON list of strings in ``column`` -> text[], in order."""
    return (
        "(SELECT coalesce(array_agg(value ORDER BY n), '{}') FROM jsonb_array_elements_text("
        + column
        + "::jsonb) WITH ORDINALITY AS a(value, n))"
    )


_INSERT_EXPOSURES = f"""
INSERT INTO exposures
SELECT r, t, ro, u, e, v, m, q, {_text_array("i")},
       CASE WHEN te IS NULL THEN NULL ELSE {_text_array("te")} END
FROM unnest(%s::text[], %s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[],
            %s::text[], %s::text[], %s::text[], %s::text[]) AS x(r, t, ro, u, e, v, m, q, i, te)
ON CONFLICT (request_id) DO NOTHING RETURNING 1
"""  # items are ragged lists: passed as JSON text, turned into text[] in order
_SCHEMA_LOCK = 7_270_001  # advisory lock: replicas starting together create the tables once


def _ms(ts: datetime) -> datetime:
    ts = ts.astimezone(UTC)
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


class PostgresEventStore:
    def __init__(self, url: str, *, create: bool = True, connect_timeout: int = 10) -> None:
        import psycopg

        self.url = url
        self._lock = threading.Lock()
        self._where = redacted(url)
        try:
            self._conn: Any = psycopg.connect(url, connect_timeout=connect_timeout)
        except psycopg.Error as exc:
            raise EventStoreError(f"{self._where}: cannot connect: {_first_line(exc)}") from exc
        try:
            with self._conn.transaction():
                if create:
                    self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    self._conn.execute(_DDL)
                else:
                    self._conn.execute("SELECT 1 FROM events, exposures LIMIT 0")
        except psycopg.Error as exc:
            self._conn.close()
            raise EventStoreError(f"{self._where}: not a usable event store: {exc}") from exc

    def _run(self, sql: str, params: Sequence[Any], *, write: bool) -> list[tuple[Any, ...]]:
        import psycopg

        with self._lock:
            if self._conn.closed:
                raise EventStoreError(f"{self._where}: event store is closed")
            try:
                with self._conn.transaction():  # committed (durable) when the block exits
                    rows = self._conn.execute(sql, params).fetchall()
            except psycopg.Error as exc:
                verb = "write" if write else "read"
                raise EventStoreError(f"{self._where}: {verb} failed: {exc}") from exc
        return list(rows)

    def append_events(
        self, events: Sequence[Event], received_at: datetime | None = None
    ) -> tuple[int, int]:
        if not events:
            return 0, 0
        now = _ms(received_at or datetime.now(UTC))
        columns: list[list[Any]] = [
            [e.event_id for e in events],
            [e.type for e in events],
            [e.user_id for e in events],
            [e.item_id for e in events],
            [e.request_id for e in events],
            [e.position for e in events],
            [now if e.ts is None else _ms(e.ts) for e in events],
            [e.value for e in events],
            [now] * len(events),
        ]
        accepted = len(self._run(_INSERT_EVENTS, columns, write=True))
        return accepted, len(events) - accepted

    def append_exposures(self, exposures: Sequence[Exposure]) -> int:
        """The first row of a request id wins; the number of rows that were new."""
        if not exposures:
            return 0
        columns: list[list[Any]] = [
            [x.request_id for x in exposures],
            [_ms(x.ts) for x in exposures],
            [x.route for x in exposures],
            [x.user_id for x in exposures],
            [x.experiment for x in exposures],
            [x.variant for x in exposures],
            [x.model_version for x in exposures],
            [x.query for x in exposures],
            [orjson.dumps(list(x.items)).decode() for x in exposures],
            [None if x.teams is None else orjson.dumps(list(x.teams)).decode() for x in exposures],
        ]
        return len(self._run(_INSERT_EXPOSURES, columns, write=True))

    def read_events(
        self,
        types: Sequence[str] | None = None,
        *,
        user_id: str | None = None,
        received_since: datetime | None = None,
    ) -> pl.DataFrame:
        conditions, params = ["TRUE"], list[Any]()
        if types is not None:
            conditions.append("type = ANY(%s)")
            params.append(list(types))
        if user_id is not None:
            conditions.append("user_id = %s")
            params.append(user_id)
        if received_since is not None:
            conditions.append("received_at >= %s")
            params.append(_ms(received_since))
        sql = (
            f"SELECT {', '.join(EVENT_SCHEMA)} FROM events WHERE {' AND '.join(conditions)}"
            " ORDER BY ts, event_id"
        )
        return _frame(self._run(sql, params, write=False), EVENT_SCHEMA)

    def read_exposures(self) -> pl.DataFrame:
        sql = f"SELECT {', '.join(EXPOSURE_SCHEMA)} FROM exposures ORDER BY ts, request_id"
        return _frame(self._run(sql, (), write=False), EXPOSURE_SCHEMA)

    def close(self) -> None:
        with self._lock:
            if not self._conn.closed:
                self._conn.close()


def _frame(rows: list[tuple[Any, ...]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row")


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
