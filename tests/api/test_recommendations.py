"""GET /v1/recommendations: known answers from the fake, pass-through, validation, cold start,
readiness, the request log, metrics and OpenAPI."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.settings import Settings
from recsys.core.errors import ArtifactError
from recsys.core.types import (
    RecommendationResult,
    RecommendRequest,
    SearchFilters,
    SearchService,
)
from tests.api.conftest import FakeService

MakeClient = Callable[..., TestClient]
PATH = "/v1/recommendations"


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["item_id"] for item in body["items"]]


def _sample(client: TestClient, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


# --------------------------------------------------------------------------- happy path


def test_recommendations_known_answer(client: TestClient, fake: FakeService) -> None:
    r = client.get(PATH, params={"user_id": "u1", "k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    keys = {"request_id", "user_id", "model_version", "ranker", "cold_start", "items"}
    assert set(body) == keys | {"experiment", "variant"}
    assert body["experiment"] is None and body["variant"] is None  # no experiments configured
    assert body["user_id"] == "u1"
    assert body["model_version"] == "fake-1"
    assert body["ranker"] == "fake-genre"
    assert body["cold_start"] is False
    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])
    assert r.headers["X-Request-ID"] == body["request_id"]
    # u1 watched m2 and m3 (Action / Science Fiction / Thriller): Westworld shares a genre,
    # the rest follow by prior; the watched items are left out.
    assert _ids(body) == ["s1", "m1", "s2"]
    assert [item["score"] for item in body["items"]] == [1.03, 0.06, 0.02]
    assert body["items"][0] == {
        "item_id": "s1",
        "title": "Westworld",
        "score": 1.03,
        "reasons": ["because you watched The Matrix", "because you watched Blade Runner"],
        "sources": ["genre"],
        "original_title": "Westworld",
        "year": 2016,
        "type": "tv_show",
        "genres": ["Science Fiction", "Western"],
        "description": "Robot hosts in a western theme park awaken.",
        "lang": None,
        "original_language": None,
        "maturity_rating": None,
    }
    assert body["items"][1]["reasons"] == ["popular now"]
    assert body["items"][1]["sources"] == ["popularity"]


def test_recommendations_defaults(client: TestClient, fake: FakeService) -> None:
    r = client.get(PATH, params={"user_id": "u2"})
    assert r.status_code == 200
    assert fake.calls == [
        (
            "recommend",
            {
                "user_id": "u2",
                "k": 10,
                "filters": None,
                "lang": None,
                "include_seen": False,
                "ranker": None,
            },
        )
    ]
    body = r.json()
    assert _ids(body) == ["s2", "m1", "m2", "m3", "s1"]  # m4 (watched) left out
    assert body["items"][0]["reasons"] == ["because you watched Amelie"]


def test_user_id_at_the_length_limit_is_accepted(client: TestClient, fake: FakeService) -> None:
    r = client.get(PATH, params={"user_id": "u" * 128})
    assert r.status_code == 200
    assert fake.calls[0][1]["user_id"] == "u" * 128


def test_response_is_cut_to_k(make_client: MakeClient) -> None:
    class Overeager(FakeService):
        def recommend(self, request: RecommendRequest) -> RecommendationResult:
            return super().recommend(replace(request, k=100))  # ignores the asked k

    client = make_client(loader=lambda _s: Overeager())
    assert _ids(client.get(PATH, params={"user_id": "u1", "k": 2}).json()) == ["s1", "m1"]


# --------------------------------------------------------------------------- include_seen


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("1", True), ("false", False), ("0", False)]
)
def test_include_seen_is_passed_through(
    client: TestClient, fake: FakeService, value: str, expected: bool
) -> None:
    r = client.get(PATH, params={"user_id": "u1", "include_seen": value})
    assert r.status_code == 200
    assert fake.calls[0][1]["include_seen"] is expected


def test_include_seen_is_honoured(client: TestClient) -> None:
    unseen = client.get(PATH, params={"user_id": "u1"}).json()
    assert _ids(unseen) == ["s1", "m1", "s2", "m4"]
    seen = client.get(PATH, params={"user_id": "u1", "include_seen": "true"}).json()
    assert _ids(seen) == ["m2", "m3", "s1", "m1", "s2", "m4"]
    assert seen["items"][0]["reasons"] == ["you watched it", "because you watched Blade Runner"]


# --------------------------------------------------------------------------- filters / lang


def test_filters_and_lang_are_passed_through(client: TestClient, fake: FakeService) -> None:
    r = client.get(
        PATH,
        params={
            "user_id": "u2",
            "k": 3,
            "lang": "fr",
            "type": "movie",
            "genre": "Science Fiction",
            "year_min": 1990,
            "year_max": 2024,
            "include_seen": "true",
        },
    )
    assert r.status_code == 200, r.text
    assert fake.calls == [
        (
            "recommend",
            {
                "user_id": "u2",
                "k": 3,
                "lang": "fr",
                "include_seen": True,
                "ranker": None,
                "filters": SearchFilters(
                    type="movie", genre="Science Fiction", year_min=1990, year_max=2024
                ),
            },
        )
    ]
    items = r.json()["items"]
    assert [(i["item_id"], i["title"], i["lang"]) for i in items] == [("m2", "Matrix", "fr")]
    assert items[0]["reasons"] == ["popular now", "popular in your language"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "tv_show"}, ["s1", "s2"]),
        ({"genre": "Comedy"}, ["s2", "m4"]),
        ({"year_min": 2000, "year_max": 2020}, ["s1", "s2", "m4"]),
        ({"year_max": 1990}, []),  # only m3, which u1 watched
        ({"year_max": 1990, "include_seen": "true"}, ["m3"]),
    ],
)
def test_filters_apply(client: TestClient, params: dict[str, Any], expected: list[str]) -> None:
    r = client.get(PATH, params={"user_id": "u1", **params})
    assert r.status_code == 200, r.text
    assert _ids(r.json()) == expected


def test_lang_localizes(client: TestClient) -> None:
    items = client.get(PATH, params={"user_id": "nobody", "lang": "fr", "k": 2}).json()["items"]
    assert [(i["title"], i["lang"]) for i in items] == [("Mon ami robot", "fr"), ("Matrix", "fr")]


def test_year_min_greater_than_year_max_is_400(client: TestClient, fake: FakeService) -> None:
    r = client.get(PATH, params={"user_id": "u1", "year_min": 2010, "year_max": 2000})
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "code": "invalid_request",
            "message": "year_min (2010) must not be greater than year_max (2000)",
        }
    }
    assert fake.calls == []


# --------------------------------------------------------------------------- validation


INVALID = [
    ({}, "user_id"),
    ({"k": 1}, "user_id"),
    ({"user_id": ""}, "user_id"),
    ({"user_id": "u" * 129}, "user_id"),
    ({"user_id": "u\x00"}, "user_id"),
    ({"user_id": "u\t1"}, "user_id"),
    ({"user_id": "u\x7f"}, "user_id"),
    ({"user_id": "u1", "k": 0}, "k"),
    ({"user_id": "u1", "k": -1}, "k"),
    ({"user_id": "u1", "k": 101}, "k"),
    ({"user_id": "u1", "k": "abc"}, "k"),
    ({"user_id": "u1", "include_seen": "maybe"}, "include_seen"),
    ({"user_id": "u1", "lang": "FR"}, "lang"),
    ({"user_id": "u1", "lang": ""}, "lang"),
    ({"user_id": "u1", "type": "film"}, "type"),
    ({"user_id": "u1", "genre": ""}, "genre"),
    ({"user_id": "u1", "genre": "Drama\x00"}, "genre"),
    ({"user_id": "u1", "year_min": 1799}, "year_min"),
    ({"user_id": "u1", "year_max": 2101}, "year_max"),
]


@pytest.mark.parametrize(("params", "param"), INVALID)
def test_invalid_parameters_are_422(
    client: TestClient, fake: FakeService, params: dict[str, Any], param: str
) -> None:
    r = client.get(PATH, params=params)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_parameter"
    assert f"query parameter '{param}'" in error["message"]
    assert "\x00" not in error["message"]
    assert fake.calls == []  # the engine never sees invalid input


def test_missing_user_id_message(client: TestClient) -> None:
    r = client.get(PATH)
    assert r.json() == {
        "error": {
            "code": "invalid_parameter",
            "message": "query parameter 'user_id': Field required",
        }
    }


def test_k_limits_come_from_settings(make_client: MakeClient, fake: FakeService) -> None:
    client = make_client(loader=lambda _s: fake, max_k=5, default_k=2)
    assert _ids(client.get(PATH, params={"user_id": "u1"}).json()) == ["s1", "m1"]
    assert client.get(PATH, params={"user_id": "u1", "k": 5}).status_code == 200
    r = client.get(PATH, params={"user_id": "u1", "k": 6})
    assert r.status_code == 422
    assert "less than or equal to 5" in r.json()["error"]["message"]


# --------------------------------------------------------------------------- cold start


def test_unknown_user_gets_cold_start(client: TestClient, fake: FakeService) -> None:
    r = client.get(PATH, params={"user_id": "someone-new", "k": 4})
    assert r.status_code == 200
    body = r.json()
    assert body["cold_start"] is True
    assert body["ranker"] == "popularity"
    assert body["user_id"] == "someone-new"
    assert _ids(body) == ["m1", "m2", "m3", "s1"]  # by prior
    assert all(item["reasons"] == ["popular now"] for item in body["items"])
    assert all(item["sources"] == ["popularity"] for item in body["items"])
    assert fake.calls[0][1]["user_id"] == "someone-new"


# --------------------------------------------------------------------------- readiness


def test_503_while_loading_then_ready(make_client: MakeClient, fake: FakeService) -> None:
    release = threading.Event()

    def slow_loader(_settings: Settings) -> SearchService:
        release.wait(timeout=5.0)
        return fake

    client = make_client(loader=slow_loader, wait=False)
    try:
        r = client.get(PATH, params={"user_id": "u1"})
        assert r.status_code == 503
        assert r.json() == {"error": {"code": "not_ready", "message": "engine is loading"}}
        assert r.headers["Retry-After"] == "5"
    finally:
        release.set()
    assert client.app.state.engine_state.wait(timeout=5.0)  # type: ignore[attr-defined]
    assert client.get(PATH, params={"user_id": "u1"}).status_code == 200


def test_503_after_failed_load(make_client: MakeClient) -> None:
    def broken_loader(_settings: Settings) -> SearchService:
        raise ArtifactError("artifacts/manifest.json: missing")

    r = make_client(loader=broken_loader).get(PATH, params={"user_id": "u1"})
    assert r.status_code == 503
    assert r.json() == {
        "error": {
            "code": "not_ready",
            "message": "engine failed to load: artifacts/manifest.json: missing",
        }
    }


# --------------------------------------------------------------------------- observability


def test_request_log_line(make_client: MakeClient, fake: FakeService, tmp_path: Path) -> None:
    log_path = tmp_path / "served.jsonl"
    client = make_client(loader=lambda _s: fake, request_log=log_path)
    client.get(
        PATH,
        params={"user_id": "u1", "k": 2, "lang": "fr", "type": "movie", "include_seen": "true"},
        headers={"X-Request-ID": "rec-1"},
    )
    client.get(PATH, params={"user_id": "nobody", "k": 1}, headers={"X-Request-ID": "rec-2"})
    client.get(PATH, params={"user_id": "u1", "k": 0})  # errors are not "served" results

    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [r["request_id"] for r in records] == ["rec-1", "rec-2"]
    first, second = records
    assert first["route"] == "recommendations"
    assert first["user_id"] == "u1"
    assert first["params"] == {"k": 2, "lang": "fr", "type": "movie", "include_seen": True}
    assert first["item_ids"] == ["m2", "m3"]
    assert first["scores"] == [2.05, 2.04]
    assert first["model_version"] == "fake-1"
    assert first["timings_ms"] == {"total": 2.5}
    assert isinstance(first["latency_ms"], float) and first["latency_ms"] >= 0
    assert "query" not in first and "item_id" not in first
    assert second["params"] == {"k": 1, "include_seen": False}
    assert second["user_id"] == "nobody"
    assert second["item_ids"] == ["m1"]


def test_metrics_label_the_route(client: TestClient) -> None:
    name = "recsys_http_requests_total"
    labels = {"route": PATH, "method": "GET"}
    client.get(PATH, params={"user_id": "u1"})
    client.get(PATH, params={"user_id": "nobody"})
    client.get(PATH)  # 422
    assert _sample(client, name, status="200", **labels) == 2.0
    assert _sample(client, name, status="422", **labels) == 1.0
    assert _sample(client, "recsys_http_request_duration_seconds_count", route=PATH) == 3.0


def test_engine_is_called_off_the_event_loop(client: TestClient, fake: FakeService) -> None:
    client.get(PATH, params={"user_id": "u1"})
    client.get(PATH, params={"user_id": "nobody"})
    assert [name for name, _ in fake.calls] == ["recommend", "recommend"]
    assert fake.called_on_event_loop == [False, False]


def test_openapi_documents_the_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"][PATH]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert set(params) >= {
        "user_id",
        "k",
        "include_seen",
        "lang",
        "type",
        "genre",
        "year_min",
        "year_max",
    }
    for name, param in params.items():
        assert param["schema"].get("examples") or param.get("examples"), name
    assert params["user_id"]["required"] is True
    assert params["user_id"]["schema"]["maxLength"] == 128
    assert params["k"]["schema"]["maximum"] == 100
    assert params["include_seen"]["schema"]["default"] is False
    assert set(operation["responses"]) >= {"200", "400", "422", "503"}
    assert "example" in operation["responses"]["422"]["content"]["application/json"]
    ok_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok_schema["$ref"].endswith("/RecommendationResponse")
    schemas = spec["components"]["schemas"]
    (example,) = schemas["RecommendationResponse"]["examples"]
    assert set(example) == {
        "request_id",
        "user_id",
        "model_version",
        "ranker",
        "cold_start",
        "items",
    }
    assert set(example["items"][0]) >= {"item_id", "title", "score", "reasons", "sources"}
    assert set(schemas["RecommendationOut"]["properties"]) >= {"reasons", "sources", "genres"}
