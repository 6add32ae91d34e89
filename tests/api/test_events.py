"""POST /v1/events and the exposure log's wiring into the app."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.events import MAX_BODY_BYTES
from api.routes.serving import exposure_logger_of, log_exposure
from recsys.core.types import SearchService
from recsys.events.store import EventStoreError, SqliteEventStore
from tests.api.conftest import FakeService, make_settings

ClientFactory = Callable[..., TestClient]


def event(event_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": event_id,
        "type": "click",
        "user_id": "u1",
        "item_id": "m1",
        "request_id": "req-1",
        "position": 2,
        "ts": "2026-11-20T12:00:00Z",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "events.sqlite3"


@pytest.fixture
def events_client(make_client: ClientFactory, fake: FakeService, db: Path) -> TestClient:
    return make_client(loader=lambda _settings: fake, events_db=db)


def stored_ids(db: Path) -> list[str]:
    store = SqliteEventStore(db, create=False)
    try:
        return list(store.read_events()["event_id"])
    finally:
        store.close()


def assert_error(response: Any, status: int, code: str, fragment: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and fragment in error["message"], error


def test_accepts_a_batch_and_counts_duplicates(events_client: TestClient, db: Path) -> None:
    batch = {"events": [event("a"), event("b"), event("a", type="play")]}
    response = events_client.post("/v1/events", json=batch, headers={"X-Request-ID": "post-1"})
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 2, "duplicates": 1, "request_id": "post-1"}
    retried = events_client.post("/v1/events", json=batch).json()  # a client retry
    assert (retried["accepted"], retried["duplicates"]) == (0, 3)
    assert stored_ids(db) == ["a", "b"]


def test_ts_is_stamped_when_absent(events_client: TestClient, db: Path) -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    payload = {"events": [event("x", ts=None, request_id=None, position=None)]}
    assert events_client.post("/v1/events", json=payload).status_code == 200
    after = datetime.now(UTC) + timedelta(milliseconds=1)
    store = SqliteEventStore(db, create=False)
    row = store.read_events().row(0, named=True)
    store.close()
    assert before <= row["ts"] <= after and row["ts"] == row["received_at"]
    assert row["request_id"] is None and row["position"] is None


@pytest.mark.parametrize(
    ("events", "fragment"),
    [
        ([event("a"), event("b", type="like")], "events[1].type: must be one of"),
        ([event("a"), event("b", user_id=None)], "events[1].user_id: field required"),
        ([event("a", ts="2026-11-20T12:00:00")], "events[0].ts: must include a timezone"),
        ([event("a", position=-3)], "events[0].position"),
        ([event("a", type="rating")], "events[0].value: required for a rating"),
        ([event("a"), 5], "events[1]: must be a JSON object"),
        ([], "events: a batch holds 1..1000 events (got 0)"),
        ([event(f"e{i}") for i in range(1001)], "(got 1001); split it"),
    ],
)
def test_invalid_batches_store_nothing(
    events_client: TestClient, db: Path, events: list[Any], fragment: str
) -> None:
    response = events_client.post("/v1/events", json={"events": events})
    assert_error(response, 422, "invalid_parameter", fragment)
    assert stored_ids(db) == []  # all or nothing: the valid events were not stored either


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"{not json", "request body: invalid JSON"),
        (b"[]", 'request body: must be {"events": [...]}'),
        (b'{"evts": []}', 'request body: must be {"events": [...]}'),
        (b'{"events": {}}', "events: must be a list"),
        (b'{"events": [], "extra": 1}', "unknown field 'extra'"),
        (b"", "invalid JSON"),
    ],
)
def test_malformed_envelopes(events_client: TestClient, content: bytes, fragment: str) -> None:
    response = events_client.post(
        "/v1/events", content=content, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 422, "invalid_parameter", fragment)


def test_oversize_body_is_413(events_client: TestClient, db: Path) -> None:
    body = orjson.dumps({"events": [event("a")]}) + b" " * MAX_BODY_BYTES  # valid, too big
    response = events_client.post(
        "/v1/events", content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large", str(MAX_BODY_BYTES))

    def chunks() -> Iterator[bytes]:  # no Content-Length: the size read is what counts
        yield body[: len(body) // 2]
        yield body[len(body) // 2 :]

    response = events_client.post(
        "/v1/events", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large", "at most")
    assert stored_ids(db) == []


def test_works_while_the_engine_is_loading(
    make_client: ClientFactory, fake: FakeService, db: Path
) -> None:
    release = threading.Event()

    def slow_loader(_settings: Any) -> SearchService:
        release.wait(5)
        return fake

    client = make_client(loader=slow_loader, wait=False, events_db=db)
    try:
        assert client.get("/v1/search", params={"q": "robot"}).status_code == 503
        response = client.post("/v1/events", json={"events": [event("a")]})
        assert response.status_code == 200 and response.json()["accepted"] == 1
    finally:
        release.set()


def test_store_failure_is_a_retryable_503(events_client: TestClient) -> None:
    class Broken:
        def append_events(self, events: Any, received_at: Any = None) -> tuple[int, int]:
            raise EventStoreError("disk I/O error")

    app: Any = events_client.app
    real, app.state.event_store = app.state.event_store, Broken()
    try:
        response = events_client.post("/v1/events", json={"events": [event("a")]})
    finally:
        app.state.event_store = real
    assert_error(response, 503, "store_unavailable", "retry")
    assert response.headers["Retry-After"] == "1"


def test_shutdown_drains_the_exposure_log(fake: FakeService, db: Path) -> None:
    app = create_app(make_settings(events_db=db), lambda _settings: fake)
    with TestClient(app) as client:
        exposure_logger = app.state.exposure_logger
        assert exposure_logger is not None
        for i in range(200):
            log_exposure(
                exposure_logger,
                request_id=f"r{i}",
                route="search",
                user_id="u1",
                model_version="fake-1",
                items=["m1", "m2"],
                query="robots",
                experiment="exp-1",
                variant="B",
                teams=["A", "B"],
            )
        # a broken record is logged, never raised into the request
        log_exposure(
            exposure_logger, request_id="bad", route="search", user_id=None,
            model_version="fake-1", items=["m1"], teams=["A", "B"],
        )  # fmt: skip
        assert client.get("/healthz").status_code == 200
    assert app.state.exposure_logger is None and app.state.event_store is None
    store = SqliteEventStore(db, create=False)
    frame = store.read_exposures()
    store.close()
    assert frame.height == 200
    first = frame.filter(frame["request_id"] == "r0").row(0, named=True)
    assert first["items"] == ["m1", "m2"] and first["teams"] == ["A", "B"]
    assert (first["experiment"], first["variant"], first["query"]) == ("exp-1", "B", "robots")
    assert exposure_logger.written == 200 and exposure_logger.failed == 0


def test_exposure_logger_is_reachable_and_counted(events_client: TestClient) -> None:
    app: Any = events_client.app
    exposure_logger = app.state.exposure_logger
    log_exposure(
        exposure_logger, request_id="r1", route="recommendations", user_id="u1",
        model_version="fake-1", items=["m1"],
    )  # fmt: skip
    exposure_logger.flush()
    events_client.post("/v1/events", json={"events": [event("a"), event("a")]})
    metrics = events_client.get("/metrics").text
    assert "recsys_exposures_written_total 1.0" in metrics
    assert "recsys_exposures_dropped_total 0.0" in metrics
    assert 'recsys_events_total{outcome="accepted"} 1.0' in metrics
    assert 'recsys_events_total{outcome="duplicate"} 1.0' in metrics


def test_exposure_logger_of_request_without_lifespan(fake: FakeService, db: Path) -> None:
    app = create_app(make_settings(events_db=db), lambda _settings: fake)

    class FakeRequest:
        def __init__(self) -> None:
            self.app = app

    assert exposure_logger_of(FakeRequest()) is None  # type: ignore[arg-type]
    log_exposure(None, request_id="r", route="search", user_id=None, model_version="v", items=[])
    response = TestClient(app).post("/v1/events", json={"events": [event("a")]})
    assert_error(response, 503, "not_ready", "event store is not open")
    assert not db.exists()


def test_openapi_documents_the_body(events_client: TestClient) -> None:
    operation = events_client.get("/openapi.json").json()["paths"]["/v1/events"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["events"]["maxItems"] == 1000
    assert "413" in operation["responses"] and "422" in operation["responses"]
