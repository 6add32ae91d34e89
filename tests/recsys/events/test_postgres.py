"""The PostgreSQL event store beyond the shared contract: acknowledged batches survive a
``kill -9`` of the database server, two writers at once store each event once, and bad URLs
are clear errors (the contract suite is tests/contracts/test_event_stores.py)."""

from __future__ import annotations

import threading

import pytest

from recsys.events.postgres import PostgresEventStore, redacted
from recsys.events.schema import validate_events
from recsys.events.store import EventStoreError, open_event_store
from tests.postgres_server import PostgresServer


def batch(prefix: str, n: int = 50) -> list:
    return validate_events(
        [
            {"event_id": f"{prefix}-{i}", "type": "play", "user_id": f"u{i % 7}", "item_id": "m1"}
            for i in range(n)
        ]
    )


def test_acknowledged_batches_survive_kill_9_of_the_server(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    store = PostgresEventStore(postgres_url)
    acknowledged = []
    for b in range(20):
        events = batch(f"b{b}")
        assert store.append_events(events) == (50, 0)
        acknowledged += [e.event_id for e in events]
    postgres_server.kill9()  # right after the last acknowledgement: no checkpoint, no shutdown
    with pytest.raises(EventStoreError, match="failed"):
        store.append_events(batch("lost"))
    store.close()
    postgres_server.start()  # crash recovery replays the WAL
    reopened = PostgresEventStore(postgres_url, create=False)
    try:
        assert sorted(reopened.read_events()["event_id"]) == sorted(acknowledged)
    finally:
        reopened.close()


def test_two_writers_at_once_store_each_event_once(postgres_url: str) -> None:
    stores = [PostgresEventStore(postgres_url) for _ in range(2)]
    results: list[tuple[int, int]] = []
    lock = threading.Lock()

    def write(store: PostgresEventStore) -> None:
        for b in range(30):  # both writers send the same ids: retries racing each other
            outcome = store.append_events(batch(f"b{b}", 40))
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert sum(accepted for accepted, _ in results) == 30 * 40
        assert sum(duplicates for _, duplicates in results) == 30 * 40
        assert stores[0].read_events().height == 30 * 40
    finally:
        for store in stores:
            store.close()


def test_unreachable_server_and_missing_tables_are_clear_errors(postgres_url: str) -> None:
    with pytest.raises(EventStoreError, match="cannot connect"):
        PostgresEventStore("postgresql://nobody:secret@127.0.0.1:1/none", connect_timeout=2)
    with pytest.raises(EventStoreError, match="not a usable event store"):
        PostgresEventStore(postgres_url, create=False)  # a new database: no tables yet


def test_passwords_never_reach_messages() -> None:
    assert redacted("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redacted("postgresql://u@h/db") == "postgresql://u@h/db"


def test_open_event_store_picks_the_implementation_by_target(postgres_url: str, tmp_path) -> None:
    store = open_event_store(postgres_url)
    assert isinstance(store, PostgresEventStore)
    store.close()
    sqlite = open_event_store(tmp_path / "events.sqlite3")
    assert type(sqlite).__name__ == "SqliteEventStore"
    sqlite.close()
