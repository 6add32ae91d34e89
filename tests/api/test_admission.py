"""Admission control: past the in-flight limit a request is shed at once (503 overloaded,
Retry-After), health stays answered, and a request past its deadline is not computed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from api.admission import check_deadline, route_class
from api.errors import ApiError
from api.observability import Metrics
from recsys.core.types import SearchRequest, SearchResult
from tests.api.conftest import FakeService


class GatedFake(FakeService):
    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def search(self, request: SearchRequest) -> SearchResult:
        if request.query == "wait":
            self.entered.set()
            assert self.gate.wait(10)
        return super().search(request)


def test_requests_past_the_limit_are_shed_fast(make_client: Callable[..., TestClient]) -> None:
    fake = GatedFake()
    client = make_client(loader=lambda _s: fake, max_in_flight_read=1)
    done: list[int] = []
    thread = threading.Thread(
        target=lambda: done.append(client.get("/v1/search", params={"q": "wait"}).status_code)
    )
    thread.start()
    assert fake.entered.wait(5)
    started = time.perf_counter()
    shed = client.get("/v1/search", params={"q": "robot"})
    assert time.perf_counter() - started < 1.0
    assert shed.status_code == 503 and shed.headers["retry-after"] == "1"
    assert shed.json()["error"]["code"] == "overloaded"
    assert shed.headers["x-request-id"]
    assert client.get("/v1/suggest", params={"q": "ro"}).status_code == 503  # same class
    assert client.get("/healthz").status_code == 200  # never shed
    assert client.get("/readyz").status_code == 200
    metrics = client.get("/metrics").text
    assert 'recsys_requests_shed_total{route_class="read"} 2.0' in metrics
    assert 'recsys_requests_in_flight{route_class="read"} 1.0' in metrics
    fake.gate.set()
    thread.join(10)
    assert done == [200]
    assert client.get("/v1/search", params={"q": "robot"}).status_code == 200  # slot is back


def test_deadline() -> None:
    metrics = Metrics()

    def request(**state: float) -> SimpleNamespace:
        return SimpleNamespace(
            state=SimpleNamespace(**state),
            app=SimpleNamespace(state=SimpleNamespace(metrics=metrics)),
        )

    check_deadline(request(deadline=time.monotonic() + 10))  # in time
    check_deadline(request())  # no deadline (not admitted through the middleware)
    with pytest.raises(ApiError) as err:
        check_deadline(request(deadline=time.monotonic() - 0.01))
    assert (err.value.status_code, err.value.code) == (504, "deadline_exceeded")
    assert "recsys_requests_timed_out_total 1.0" in metrics.render()[0].decode()


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/v1/search", "read"),
        ("GET", "/v1/items/1/similar", "read"),
        ("GET", "/v1/recommendations", "read"),
        ("POST", "/v1/events", "events"),
        ("POST", "/v1/admin/reload", "admin"),
        ("GET", "/healthz", "unlimited"),
        ("GET", "/metrics", "unlimited"),
        ("GET", "/docs", "unlimited"),
    ],
)
def test_route_classes(method: str, path: str, expected: str) -> None:
    assert route_class(method, path) == expected


def test_invalid_utf8_is_a_422_not_a_replacement_character(client: TestClient) -> None:
    for url in ("/v1/search?q=%FF%FE", "/v1/recommendations?user_id=u%C3", "/v1/items/%FF"):
        answer = client.get(url)
        assert answer.status_code == 422, url
        assert "not valid UTF-8" in answer.json()["error"]["message"]
    assert client.get("/v1/search?q=caf%C3%A9").status_code == 200  # real UTF-8 is fine
