"""Known answers for logged events -> interactions: types, values, strengths, drops."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from recsys.core.errors import InputDataError
from recsys.events.schema import EVENT_SCHEMA, validate_events
from recsys.events.store import SqliteEventStore
from recsys.history.interactions import INTERACTIONS_SCHEMA, InteractionLog
from recsys.history.logged_events import (
    EVENT_STRENGTH,
    events_digest,
    interactions_from_events,
    load_logged_interactions,
    read_events_db,
)

CATALOG = pl.DataFrame({"item_id": ["m1", "m2", "m3"], "movielens_id": [1, 2, 3]})
T = 1_767_225_600  # 2026-01-01T00:00:00Z


def at(seconds: int, micros: int = 0) -> datetime:
    return datetime.fromtimestamp(T + seconds, UTC).replace(microsecond=micros)


def events(*rows: tuple[str, str | None, str, str, int, float | None]) -> pl.DataFrame:
    """(event_id, type, user, item, seconds after T, value) -> an EVENT_SCHEMA frame."""
    return pl.DataFrame(
        [
            (event_id, kind, user, item, None, None, at(s, 900_000), value, at(s))
            for event_id, kind, user, item, s, value in rows
        ],
        schema=EVENT_SCHEMA,
        orient="row",
    )


EVENTS = events(
    ("e01", "play", "u1", "m1", 10, 0.8),  # a play's value is not a rating: dropped
    ("e02", "rating", "u1", "m2", 20, 4.5),
    ("e03", "click", "u1", "m3", 30, None),
    ("e04", "add_to_list", "u2", "m3", 5, None),
    ("e05", "impression", "u1", "m2", 1, None),
    ("e06", "impression", "u2", "m1", 1, None),
    ("e07", "play", "u1", "nope", 40, None),  # not in the catalog
    ("e08", "rating", "u2", "m1", 50, 7.0),  # off the 0.5..5 scale
    ("e09", "rating", "u2", "m1", 51, 0.25),
    ("e10", "rating", "u2", "m1", 52, float("nan")),
    ("e11", "rating", "u2", "m1", 53, None),
    ("e12", "play", "u1", "m1", 10, None),  # same user, item, type, second as e01
    ("e13", "like", "u1", "m1", 60, None),  # not an event type
    ("e14", None, "u1", "m1", 61, None),
    ("e15", "rating", "u2", "m2", 70, 0.5),  # the scale's ends are fine
)


def test_conversion_known_answer() -> None:
    frame, report = interactions_from_events(EVENTS, CATALOG, "db")
    assert dict(frame.schema) == INTERACTIONS_SCHEMA
    assert frame.rows() == [
        ("u1", "m1", T + 10, "play", 1.0, None),
        ("u1", "m2", T + 20, "rating", 1.0, 4.5),
        ("u1", "m3", T + 30, "click", EVENT_STRENGTH["click"], None),
        ("u2", "m3", T + 5, "add_to_list", EVENT_STRENGTH["add_to_list"], None),
        ("u2", "m2", T + 70, "rating", 1.0, 0.5),
    ]
    assert report.to_dict() == {
        "name": "logged_events",
        "path": "db",
        "status": "read",
        "note": None,
        "rows_read": 15,
        "rows_kept": 5,
        "rows_dropped": 10,
        "dropped": {
            "duplicate_event": 1,
            "impression_exposure_not_interaction": 2,
            "item_not_in_catalog": 1,
            "rating_missing_or_out_of_range": 4,
            "unknown_event_type": 2,
        },
        "issues": {},
    }
    assert report.rows_read == report.rows_kept + report.rows_dropped


def test_ts_is_floored_to_unix_seconds_like_movielens() -> None:
    frame, _ = interactions_from_events(EVENTS.head(1), CATALOG)
    assert frame["ts"].dtype == pl.Int64
    assert frame["ts"].to_list() == [T + 10]  # 10.9 s after T


def test_integer_seconds_are_accepted() -> None:
    seconds = EVENTS.head(2).with_columns(pl.col("ts").dt.epoch("s"))
    frame, _ = interactions_from_events(seconds, CATALOG)
    assert frame["ts"].to_list() == [T + 10, T + 20]


def test_only_plays_and_ratings_are_consumptions() -> None:
    frame, _ = interactions_from_events(EVENTS, CATALOG)
    log = InteractionLog.from_frame(frame, {"m1": 0, "m2": 1, "m3": 2})
    assert log.users == ["u1", "u2"]  # u2 through their rating; the add_to_list is not one
    assert log.items.tolist() == [0, 1, 1]
    assert log.values[0] != log.values[0]  # NaN: the play carried no rating
    assert log.values[1:].tolist() == [4.5, 0.5]


def test_missing_columns_are_named() -> None:
    with pytest.raises(InputDataError, match="events missing columns: value"):
        interactions_from_events(EVENTS.drop("value"), CATALOG)


def test_empty_events() -> None:
    frame, report = interactions_from_events(EVENTS.clear(), CATALOG)
    assert frame.is_empty() and dict(frame.schema) == INTERACTIONS_SCHEMA
    assert (report.rows_read, report.rows_kept, report.dropped) == (0, 0, {})


def write_store(path: Path, raw: list[dict[str, object]]) -> None:
    store = SqliteEventStore(path)
    try:
        store.append_events(validate_events(raw))
    finally:
        store.close()


def test_load_from_a_store(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite3"
    write_store(
        db,
        [
            {"event_id": "a", "type": "play", "user_id": "new", "item_id": "m1",
             "ts": "2026-01-01T00:00:10Z"},
            {"event_id": "b", "type": "rating", "user_id": "old", "item_id": "m2",
             "ts": "2026-01-01T00:00:20Z", "value": 4},
            {"event_id": "c", "type": "impression", "user_id": "new", "item_id": "m3",
             "ts": "2026-01-01T00:00:05Z"},
        ],
    )  # fmt: skip
    logged = load_logged_interactions(db, CATALOG, known_users=["old"])
    assert logged.frame.select("user_id", "item_id", "ts", "type").rows() == [
        ("new", "m1", T + 10, "play"),
        ("old", "m2", T + 20, "rating"),
    ]
    assert logged.report.dropped == {"impression_exposure_not_interaction": 1}
    summary = dict(logged.summary)
    assert len(summary.pop("sha256")) == len(summary.pop("search_pages_sha256")) == 64
    assert logged.searches.is_empty()  # no search pages were logged
    assert summary == {
        "path": str(db),
        "events_read": 3,
        "events_read_by_type": {
            "impression": 1,
            "click": 0,
            "play": 1,
            "rating": 1,
            "add_to_list": 0,
        },
        "interactions_used": 2,
        "interactions_by_type": {"play": 1, "rating": 1},
        "consumptions_used": 2,
        "users": 2,
        "new_users": 1,
        "first_ts": "2026-01-01T00:00:10+00:00",
        "last_ts": "2026-01-01T00:00:20+00:00",
        "search_pages": 0,
    }


def test_digest_follows_the_content_not_the_read_time(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite3"
    write_store(db, [{"event_id": "a", "type": "click", "user_id": "u", "item_id": "m1"}])
    first = read_events_db(db)
    assert events_digest(first) == events_digest(read_events_db(db))
    write_store(db, [{"event_id": "b", "type": "click", "user_id": "u", "item_id": "m2"}])
    assert events_digest(read_events_db(db)) != events_digest(first)


def test_missing_store_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="no event store there") as err:
        read_events_db(tmp_path / "nope.sqlite3")
    assert err.value.path == str(tmp_path / "nope.sqlite3")
    assert not (tmp_path / "nope.sqlite3").exists()  # reading never creates a store


def test_unusable_store_is_an_input_error(tmp_path: Path) -> None:
    bogus = tmp_path / "events.sqlite3"
    bogus.write_text("not a database, just text " * 100)
    with pytest.raises(InputDataError, match="cannot read the event store"):
        read_events_db(bogus)
