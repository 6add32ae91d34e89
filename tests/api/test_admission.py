"""Admission control: past the in-flight limit a request is shed at once (503 overloaded,
Retry-After), health stays answered, and a request past its deadline is not computed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from api.admission import Slots, check_deadline, route_class
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
    client = make_client(loader=lambda _s: fake, max_in_flight_read=1, admission_queue=0)
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


def test_a_request_past_the_limit_waits_in_line_for_the_next_slot(
    make_client: Callable[..., TestClient],
) -> None:
    fake = GatedFake()
    client = make_client(
        loader=lambda _s: fake, max_in_flight_read=1, admission_queue=1, admission_wait_s=10
    )
    done: list[tuple[str, int]] = []

    def search(query: str) -> None:
        done.append((query, client.get("/v1/search", params={"q": query}).status_code))

    first = threading.Thread(target=search, args=("wait",))
    first.start()
    assert fake.entered.wait(5)
    second = threading.Thread(target=search, args=("robot",))
    second.start()
    for _ in range(500):  # until the second request stands in line
        if 'recsys_requests_queued{route_class="read"} 1.0' in client.get("/metrics").text:
            break
        time.sleep(0.01)
    else:
        pytest.fail("the second request never queued")
    third = client.get("/v1/search", params={"q": "robot"})  # the line (1 place) is full
    assert third.status_code == 503 and third.json()["error"]["code"] == "overloaded"
    fake.gate.set()
    first.join(10)
    second.join(10)
    assert sorted(done) == [("robot", 200), ("wait", 200)]
    metrics = client.get("/metrics").text
    assert 'recsys_requests_queued{route_class="read"} 0.0' in metrics
    assert 'recsys_requests_shed_total{route_class="read"} 1.0' in metrics


def test_a_request_that_waited_too_long_in_line_is_shed(
    make_client: Callable[..., TestClient],
) -> None:
    fake = GatedFake()
    client = make_client(
        loader=lambda _s: fake, max_in_flight_read=1, admission_queue=4, admission_wait_s=0.05
    )
    thread = threading.Thread(target=lambda: client.get("/v1/search", params={"q": "wait"}))
    thread.start()
    assert fake.entered.wait(5)
    started = time.perf_counter()
    shed = client.get("/v1/search", params={"q": "robot"})
    waited = time.perf_counter() - started
    assert shed.status_code == 503 and 0.05 <= waited < 1.0
    fake.gate.set()
    thread.join(10)
    assert 'recsys_requests_queued{route_class="read"} 0.0' in client.get("/metrics").text


def test_slots_hand_freed_places_to_waiters_first_come_first_served() -> None:
    changes: list[tuple[int, int]] = []

    async def scenario() -> list[str]:
        slots = Slots(limit=1, queue=2, on_change=lambda *state: changes.append(state))
        served: list[str] = []

        async def request(name: str, wait_s: float) -> None:
            if await slots.take(wait_s):
                served.append(name)
                await asyncio.sleep(0.01)
                slots.give()
            else:
                served.append(f"{name} shed")

        assert await slots.take(1.0)  # holds the only slot
        waiters = [asyncio.create_task(request(n, 5.0)) for n in ("a", "b")]
        await asyncio.sleep(0.01)
        assert (slots.in_flight, slots.waiting) == (1, 2)
        await request("c", 5.0)  # the line is full: shed at once
        late = asyncio.create_task(request("late", 5.0))  # not in line yet when "a" starts
        await asyncio.sleep(0)
        slots.give()
        await asyncio.gather(*waiters, late)
        assert (slots.in_flight, slots.waiting) == (0, 0)
        return served

    assert asyncio.run(scenario()) == ["c shed", "late shed", "a", "b"]
    assert changes[-1] == (0, 0)


def test_a_waiter_that_times_out_or_is_cancelled_leaves_the_line() -> None:
    async def scenario() -> None:
        slots = Slots(limit=1, queue=3)
        assert await slots.take(0)
        assert not await slots.take(0.01)  # timed out
        assert slots.waiting == 0
        waiting = asyncio.create_task(slots.take(5.0))
        await asyncio.sleep(0.01)
        waiting.cancel()  # the client left
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert (slots.in_flight, slots.waiting) == (1, 0)
        handed = asyncio.create_task(slots.take(5.0))
        await asyncio.sleep(0.01)
        slots.give()  # handed to the waiter ...
        handed.cancel()  # ... which is cancelled before it runs: the slot is passed on
        with pytest.raises(asyncio.CancelledError):
            await handed
        assert (slots.in_flight, slots.waiting) == (0, 0)
        assert slots.try_take()

    asyncio.run(scenario())


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
