"""The EventStore contract, run over every implementation (SQLite and PostgreSQL; a new
store is one more ``STORES`` entry): idempotency by event_id, atomic batches, typed reads,
exposures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from recsys.events.postgres import PostgresEventStore
from recsys.events.schema import EVENT_SCHEMA, EXPOSURE_SCHEMA, Exposure, validate_events
from recsys.events.store import EventStore, SqliteEventStore

STORES = ["sqlite", "postgres"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    """Each implementation, empty. PostgreSQL: a new database on a real server that the tests
    start themselves (``postgres_url`` in tests/conftest.py)."""
    store: EventStore
    if request.param == "sqlite":
        store = SqliteEventStore(tmp_path / "events.sqlite3")
    else:
        store = PostgresEventStore(request.getfixturevalue("postgres_url"))
    yield store
    store.close()


def event(event_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "click",
        "user_id": "u1",
        "item_id": "m1",
        "ts": "2026-11-20T12:00:00Z",
        **overrides,
    }


def test_empty_reads_are_typed(store: EventStore) -> None:
    assert store.read_events().schema == pl.Schema(EVENT_SCHEMA)
    assert store.read_exposures().schema == pl.Schema(EXPOSURE_SCHEMA)
    assert store.read_events().height == store.read_exposures().height == 0


def test_retried_batch_is_all_duplicates(store: EventStore) -> None:
    batch = validate_events([event("e1"), event("e2", type="play")])
    assert store.append_events(batch) == (2, 0)
    assert store.append_events(batch) == (0, 2)
    assert store.read_events()["event_id"].to_list() == ["e1", "e2"]


def test_duplicate_inside_a_batch_counts_once(store: EventStore) -> None:
    assert store.append_events(validate_events([event("e1"), event("e1")])) == (1, 1)


def test_a_given_arrival_time_is_stored_as_is(store: EventStore) -> None:
    # the API stamps ts-less events with the arrival time and passes the same instant here
    arrived = datetime(2026, 11, 20, 12, 0, 0, 123_000, tzinfo=UTC)
    store.append_events(validate_events([event("e1")]), received_at=arrived)
    assert store.read_events().row(0, named=True)["received_at"] == arrived


def test_read_filters_by_type_in_time_order(store: EventStore) -> None:
    store.append_events(
        validate_events(
            [
                event("late", ts="2026-11-20T13:00:00Z"),
                event("early", ts="2026-11-20T11:00:00Z"),
                event("rating", type="rating", value=4.5),
            ]
        )
    )
    assert store.read_events()["event_id"].to_list() == ["early", "rating", "late"]
    ratings = store.read_events(["rating"])
    assert ratings["event_id"].to_list() == ["rating"] and ratings["value"].to_list() == [4.5]


def test_read_filters_by_user_and_arrival(store: EventStore) -> None:
    store.append_events(validate_events([event("a1"), event("b1", user_id="u2")]))
    time.sleep(0.01)  # arrival times are stored to the millisecond
    cut = datetime.now(UTC)
    time.sleep(0.01)
    store.append_events(validate_events([event("a2", type="play", ts="2026-11-20T10:00:00Z")]))
    assert store.read_events(user_id="u1")["event_id"].to_list() == ["a2", "a1"]
    assert store.read_events(user_id="nobody").height == 0
    assert store.read_events(received_since=cut)["event_id"].to_list() == ["a2"]
    assert store.read_events(["play"], user_id="u2").height == 0
    assert store.read_events([], user_id="u1").height == 0


def test_exposures_round_trip(store: EventStore) -> None:
    exposure = Exposure("r1", "search", "v1", ("m1", "m2"), "u1", "exp", "b", "robot", ("a", "b"))
    assert store.append_exposures([exposure]) == 1
    row = store.read_exposures().row(0, named=True)
    assert (row["request_id"], row["route"], row["user_id"]) == ("r1", "search", "u1")
    assert (row["experiment"], row["variant"], row["query"]) == ("exp", "b", "robot")
