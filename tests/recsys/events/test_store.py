"""The event store: validation, idempotency, read-back schemas, exposures, the logger."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from recsys.events.schema import (
    EVENT_SCHEMA,
    EXPOSURE_SCHEMA,
    Exposure,
    InvalidEventError,
    validate_event,
    validate_events,
)
from recsys.events.store import (
    EventStoreError,
    ExposureLogger,
    SqliteEventStore,
)


def raw_event(event_id: str = "e1", **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": event_id,
        "type": "click",
        "user_id": "u1",
        "item_id": "m1",
        "request_id": "r1",
        "position": 0,
        "ts": "2026-11-20T12:00:00Z",
    }
    event.update(overrides)
    return {key: value for key, value in event.items() if value is not None}


@pytest.fixture
def store(tmp_path: Path) -> Any:
    store = SqliteEventStore(tmp_path / "sub" / "events.sqlite3")
    yield store
    store.close()


# --------------------------------------------------------------------------- validation


def test_validate_event_normalizes_ts_to_utc() -> None:
    event = validate_event(raw_event(ts="2026-11-20T13:30:00.250+01:00", value=3))
    assert event.ts == datetime(2026, 11, 20, 12, 30, 0, 250_000, tzinfo=UTC)
    assert event.value == 3.0 and isinstance(event.value, float)
    assert validate_event(raw_event(ts=None, position=None, request_id=None)).ts is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"type": "like"}, "type: must be one of"),
        ({"type": None}, "type: field required"),
        ({"event_id": ""}, "event_id: must be 1..128"),
        ({"event_id": 7}, "event_id: must be a string"),
        ({"user_id": "a\x00b"}, "user_id: must not contain control characters"),
        ({"user_id": "u" * 129}, "user_id: must be 1..128"),
        ({"item_id": "m 1"}, "item_id: must be 1..64"),
        ({"item_id": None}, "item_id: field required"),
        ({"position": -1}, "position: must be an integer"),
        ({"position": 1.5}, "position: must be an integer"),
        ({"position": True}, "position: must be an integer"),
        ({"ts": "2026-11-20T12:00:00"}, "ts: must include a timezone"),
        ({"ts": "yesterday"}, "ts: not an ISO 8601 timestamp"),
        ({"ts": 1700000000}, "ts: must be an ISO 8601 string"),
        ({"ts": "1900-01-01T00:00:00Z"}, "ts: must be between 1995-01-01 and the time of"),
        ({"ts": "1994-12-31T23:59:59Z"}, "ts: must be between 1995-01-01"),
        ({"ts": "2099-01-01T00:00:00Z"}, "a future time would become the recommender's"),
        ({"type": "rating"}, "value: required for a rating"),
        ({"value": float("nan")}, "value: must be a finite number"),
        ({"value": "4"}, "value: must be a finite number"),
        ({"positon": 3}, "positon: unknown field"),
    ],
)
def test_validate_event_rejects(overrides: dict[str, Any], message: str) -> None:
    raw = raw_event()
    raw.update(overrides)
    raw = {key: value for key, value in raw.items() if value is not None}
    with pytest.raises(ValueError, match=message):
        validate_event(raw)


def test_validate_events_names_index_and_field() -> None:
    batch = [raw_event("a"), raw_event("b", type="like"), "oops"]
    with pytest.raises(InvalidEventError) as info:
        validate_events(batch)
    assert str(info.value).startswith("events[1].type: must be one of")
    assert "events[2]: must be a JSON object" in str(info.value)


# --------------------------------------------------------------------------- store


def test_empty_store_reads_typed_empty_frames(store: SqliteEventStore) -> None:
    events, exposures = store.read_events(), store.read_exposures()
    assert events.height == 0 and events.schema == pl.Schema(EVENT_SCHEMA)
    assert exposures.height == 0 and exposures.schema == pl.Schema(EXPOSURE_SCHEMA)


def test_store_is_wal_and_synchronous_full(store: SqliteEventStore) -> None:
    conn = store._connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_append_is_idempotent_across_and_within_batches(store: SqliteEventStore) -> None:
    batch = validate_events([raw_event("a"), raw_event("b"), raw_event("a", type="play")])
    assert store.append_events(batch) == (2, 1)  # the second "a" in the batch is a duplicate
    assert store.append_events(batch) == (0, 3)  # a retried batch is not counted twice
    assert store.append_events(validate_events([raw_event("c"), raw_event("b")])) == (1, 1)
    frame = store.read_events()
    assert frame["event_id"].to_list() == ["a", "b", "c"]
    assert frame.filter(pl.col("event_id") == "a")["type"].item() == "click"  # first one wins


def test_read_events_schema_order_and_values(store: SqliteEventStore) -> None:
    store.append_events(
        validate_events(
            [
                raw_event("late", ts="2026-11-20T12:00:01.5Z"),
                raw_event("r", type="rating", value=4.5, ts="2026-11-20T10:00:00-03:00"),
                raw_event("now", ts=None, position=None, request_id=None),
                raw_event("early", ts="2026-11-20T12:00:00Z"),
            ]
        )
    )
    frame = store.read_events()
    assert frame.schema == pl.Schema(EVENT_SCHEMA)
    assert frame["event_id"].to_list() == ["early", "late", "r", "now"]  # by ts, then id
    rating = frame.row(2, named=True)
    assert rating["ts"] == datetime(2026, 11, 20, 13, tzinfo=UTC)
    assert rating["value"] == 4.5 and rating["position"] == 0
    stamped = frame.row(3, named=True)
    assert stamped["ts"] == stamped["received_at"]  # no ts: the arrival time
    assert stamped["request_id"] is None and stamped["position"] is None
    assert frame.row(1, named=True)["ts"].microsecond == 500_000
    assert store.read_events(types=["rating"])["event_id"].to_list() == ["r"]
    assert store.read_events(types=[]).height == 0


def test_exposures_roundtrip(store: SqliteEventStore) -> None:
    ts = datetime(2026, 11, 20, 12, tzinfo=UTC)
    store.append_exposures(
        [
            Exposure("r2", "recommendations", "v1", ("m2", "m1"), user_id="u1", ts=ts),
            Exposure(
                "r1",
                "search",
                "v1",
                ("m1", "m3"),
                query="robots",
                experiment="exp",
                variant="interleaved",
                teams=("A", "B"),
                ts=ts,
            ),
        ]
    )
    store.append_exposures([Exposure("r3", "similar", "v1", (), ts=ts)])
    frame = store.read_exposures()
    assert frame.schema == pl.Schema(EXPOSURE_SCHEMA)
    rows = frame.rows(named=True)
    assert [row["request_id"] for row in rows] == ["r1", "r2", "r3"]
    assert rows[0]["items"] == ["m1", "m3"] and rows[0]["teams"] == ["A", "B"]
    assert rows[0]["query"] == "robots" and rows[0]["variant"] == "interleaved"
    assert rows[1]["teams"] is None and rows[1]["user_id"] == "u1" and rows[1]["ts"] == ts
    assert rows[2]["items"] == []


def test_exposure_rejects_mismatched_teams_and_unknown_route() -> None:
    with pytest.raises(ValueError, match="teams"):
        Exposure("r", "search", "v1", ("m1", "m2"), teams=("A",))
    with pytest.raises(ValueError, match="route"):
        Exposure("r", "items", "v1", ("m1",))


def test_concurrent_appends_from_threads(store: SqliteEventStore) -> None:
    n_threads, per_thread = 8, 50
    results: list[tuple[int, int]] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        for i in range(per_thread):
            # every worker also re-sends a shared id, so duplicates race too
            batch = validate_events([raw_event(f"w{worker}-{i}"), raw_event(f"shared-{i}")])
            outcome = store.append_events(batch)
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(accepted for accepted, _ in results) == n_threads * per_thread + per_thread
    assert sum(dupes for _, dupes in results) == (n_threads - 1) * per_thread
    assert store.read_events().height == n_threads * per_thread + per_thread


def test_missing_or_corrupt_store(tmp_path: Path) -> None:
    with pytest.raises(EventStoreError, match="no event store"):
        SqliteEventStore(tmp_path / "missing.sqlite3", create=False)
    assert not (tmp_path / "missing.sqlite3").exists()
    bogus = tmp_path / "bogus.sqlite3"
    bogus.write_bytes(b"this is not a database" * 100)
    with pytest.raises(EventStoreError, match="not a usable event store"):
        SqliteEventStore(bogus)


def test_closed_store_raises_store_error(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "e.sqlite3")
    store.close()
    store.close()  # idempotent
    with pytest.raises(EventStoreError, match="closed"):
        store.append_events(validate_events([raw_event()]))


def test_data_is_visible_to_a_fresh_connection(store: SqliteEventStore) -> None:
    store.append_events(validate_events([raw_event("a")]))
    with sqlite3.connect(store.path) as other:  # committed, not just buffered
        assert other.execute("SELECT event_id FROM events").fetchall() == [("a",)]


# --------------------------------------------------------------------------- exposure logger


def test_exposure_logger_drains_on_close(store: SqliteEventStore) -> None:
    exposure_logger = ExposureLogger(store, batch_size=7)
    for i in range(100):
        assert exposure_logger.log(Exposure(f"r{i}", "search", "v1", ("m1",)))
    exposure_logger.close()
    exposure_logger.close()  # idempotent
    assert store.read_exposures().height == 100
    assert (exposure_logger.written, exposure_logger.dropped, exposure_logger.failed) == (100, 0, 0)
    assert not exposure_logger.log(Exposure("late", "search", "v1", ()))  # closed: dropped
    assert exposure_logger.dropped == 1


class _BlockedStore:
    """A store whose writes wait for ``release``, then fail if ``fail`` is set."""

    def __init__(self, fail: bool = False) -> None:
        self.release = threading.Event()
        self.fail = fail
        self.rows: list[Exposure] = []

    def append_exposures(self, exposures: Any) -> int:
        self.release.wait(5)
        if self.fail:
            raise EventStoreError("disk full")
        self.rows.extend(exposures)
        return len(exposures)


def test_exposure_logger_drops_when_full_and_never_raises() -> None:
    blocked = _BlockedStore()
    exposure_logger = ExposureLogger(blocked, max_queue=3, batch_size=1)  # type: ignore[arg-type]
    outcomes = [exposure_logger.log(Exposure(f"r{i}", "search", "v1", ())) for i in range(10)]
    assert outcomes.count(False) >= 6  # 1 in flight + 3 queued at most
    blocked.release.set()
    exposure_logger.close()
    assert exposure_logger.written == outcomes.count(True) == len(blocked.rows)
    assert exposure_logger.dropped == outcomes.count(False)


def test_exposure_logger_counts_failed_writes() -> None:
    failing = _BlockedStore(fail=True)
    failing.release.set()
    exposure_logger = ExposureLogger(failing)  # type: ignore[arg-type]
    for i in range(5):
        exposure_logger.log(Exposure(f"r{i}", "search", "v1", ()))
    exposure_logger.flush()
    assert exposure_logger.failed == 5 and exposure_logger.written == 0
    exposure_logger.close()


def test_an_exposure_is_never_overwritten(store: SqliteEventStore) -> None:
    first = Exposure("r1", "search", "v1", ("a", "b"), user_id="u1", query="star")
    reuse = Exposure("r1", "search", "v1", ("z",), user_id="someone-else", query="x")
    assert store.append_exposures([first]) == 1
    assert store.append_exposures([reuse]) == 0  # the same request id: ignored
    (row,) = store.read_exposures().iter_rows(named=True)
    assert (row["user_id"], row["items"]) == ("u1", ["a", "b"])


def test_a_new_store_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "var" / "events.sqlite3"
    SqliteEventStore(path).close()
    assert path.stat().st_mode & 0o777 == 0o600


def test_event_times_allow_a_little_clock_skew() -> None:
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
    event = validate_event(
        {"event_id": "e", "type": "play", "user_id": "u", "item_id": "i", "ts": soon.isoformat()}
    )
    assert event.ts == soon
