"""GET /v1/items/{item_id} and GET /v1/items/{item_id}/similar."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from recsys.core.types import SearchFilters
from tests.api.conftest import FakeService


def _ids(body: dict[str, Any]) -> list[str]:
    return [hit["item_id"] for hit in body["items"]]


def test_item_metadata(client: TestClient, fake: FakeService) -> None:
    r = client.get("/v1/items/m2")
    assert r.status_code == 200
    assert r.json() == {
        "item_id": "m2",
        "title": "The Matrix",
        "original_title": "The Matrix",
        "year": 1999,
        "type": "movie",
        "genres": ["Action", "Science Fiction"],
        "description": "A hacker learns reality is a simulation run by machines.",
        "lang": None,
        "available_langs": ["fr"],  # engine-specific fields pass through
    }
    assert fake.calls == [("item", {"item_id": "m2", "lang": None})]
    assert r.headers["X-Request-ID"]


def test_item_localized(client: TestClient, fake: FakeService) -> None:
    body = client.get("/v1/items/m4", params={"lang": "fr"}).json()
    assert body["title"] == "Le Fabuleux Destin d'Amélie Poulain"
    assert body["lang"] == "fr"
    assert fake.calls == [("item", {"item_id": "m4", "lang": "fr"})]


def test_unknown_item_is_404(client: TestClient) -> None:
    r = client.get("/v1/items/nope")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "not_found", "message": "unknown item 'nope'"}}


def test_longest_valid_item_id_reaches_the_engine(client: TestClient) -> None:
    item_id = "A-z_9" * 12 + "abcd"  # 64 chars
    assert len(item_id) == 64
    assert client.get(f"/v1/items/{item_id}").status_code == 404


@pytest.mark.parametrize("bad_id", ["bad.id", "a%20b", "x" * 65, "caf%C3%A9", "a%00b", "%3Cx%3E"])
@pytest.mark.parametrize("suffix", ["", "/similar"])
def test_invalid_item_id_is_422(
    client: TestClient, fake: FakeService, bad_id: str, suffix: str
) -> None:
    r = client.get(f"/v1/items/{bad_id}{suffix}")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_parameter"
    assert "path parameter 'item_id'" in r.json()["error"]["message"]
    assert fake.calls == []


def test_empty_item_id_is_404_json(client: TestClient) -> None:
    r = client.get("/v1/items/")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_item_bad_lang_is_422(client: TestClient) -> None:
    r = client.get("/v1/items/m1", params={"lang": "french"})
    assert r.status_code == 422
    assert "query parameter 'lang'" in r.json()["error"]["message"]


def test_similar_known_answer(client: TestClient) -> None:
    r = client.get("/v1/items/m2/similar", headers={"X-Request-ID": "sim-1"})
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == "m2"
    assert body["request_id"] == "sim-1" == r.headers["X-Request-ID"]
    assert body["model_version"] == "fake-1"
    assert _ids(body) == ["m3", "s1", "m1", "s2", "m4"]
    assert [hit["score"] for hit in body["items"]] == [1.04, 1.03, 0.06, 0.02, 0.01]


def test_similar_passes_parameters(client: TestClient, fake: FakeService) -> None:
    r = client.get(
        "/v1/items/m2/similar",
        params={
            "k": 1,
            "lang": "fr",
            "type": "tv_show",
            "genre": "Western",
            "year_min": 2010,
            "year_max": 2020,
        },
    )
    assert r.status_code == 200
    assert _ids(r.json()) == ["s1"]
    assert fake.calls == [
        (
            "similar",
            {
                "item_id": "m2",
                "k": 1,
                "lang": "fr",
                "filters": SearchFilters(
                    type="tv_show", genre="Western", year_min=2010, year_max=2020
                ),
            },
        )
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"k": 2}, ["m3", "s1"]),
        ({"type": "tv_show"}, ["s1", "s2"]),
        ({"year_min": 2000}, ["s1", "m1", "s2", "m4"]),
        ({"genre": "Comedy"}, ["s2", "m4"]),
    ],
)
def test_similar_k_and_filters(
    client: TestClient, params: dict[str, Any], expected: list[str]
) -> None:
    r = client.get("/v1/items/m2/similar", params=params)
    assert r.status_code == 200
    assert _ids(r.json()) == expected


def test_similar_unknown_item_is_404(client: TestClient) -> None:
    r = client.get("/v1/items/nope/similar")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "not_found", "message": "unknown item 'nope'"}}


@pytest.mark.parametrize(
    ("params", "status", "param"),
    [
        ({"k": 0}, 422, "k"),
        ({"k": 101}, 422, "k"),
        ({"k": "abc"}, 422, "k"),
        ({"lang": "EN"}, 422, "lang"),
        ({"type": "series"}, 422, "type"),
        ({"year_min": 1700}, 422, "year_min"),
        ({"year_max": "soon"}, 422, "year_max"),
        ({"year_min": 2001, "year_max": 2000}, 400, None),
    ],
)
def test_similar_validation(
    client: TestClient, fake: FakeService, params: dict[str, Any], status: int, param: str | None
) -> None:
    r = client.get("/v1/items/m2/similar", params=params)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    if param is None:
        assert error["code"] == "invalid_request"
    else:
        assert error["code"] == "invalid_parameter"
        assert f"query parameter '{param}'" in error["message"]
    assert fake.calls == []
