"""The search API clients expect: paging, found, facets, highlights, suggestions, and
clear errors for every new parameter."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import FakeService


def search(client: TestClient, **params: Any) -> Any:
    r = client.get("/v1/search", params={"q": "robot", **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_pages_with_offset_and_found(client: TestClient) -> None:
    whole = search(client, k=6)
    first, second = search(client, k=3), search(client, k=3, offset=3)
    assert whole["found"] == first["found"] == second["found"] >= 6
    assert (first["offset"], second["offset"]) == (0, 3)
    ids = [hit["item_id"] for hit in first["items"] + second["items"]]
    assert ids == [hit["item_id"] for hit in whole["items"]] and len(set(ids)) == 6


def test_page_is_an_offset_of_whole_pages(client: TestClient, fake: FakeService) -> None:
    assert search(client, k=3, page=2)["offset"] == 3
    assert fake.calls[-1][1]["offset"] == 3
    r = client.get("/v1/search", params={"q": "robot", "page": 2, "offset": 3})
    assert r.status_code == 400 and "not both" in r.json()["error"]["message"]
    assert client.get("/v1/search", params={"q": "robot", "page": 0}).status_code == 422


def test_offset_is_passed_to_the_engine(client: TestClient, fake: FakeService) -> None:
    search(client, k=2, offset=4, facets="genre, type")
    assert fake.calls[-1][1]["offset"] == 4
    assert fake.calls[-1][1]["facets"] == ("genre", "type")


@pytest.mark.parametrize("offset", ["-1", "10001", "two", ""])
def test_bad_offsets_are_422(client: TestClient, offset: str) -> None:
    r = client.get("/v1/search", params={"q": "robot", "offset": offset})
    assert r.status_code == 422 and "offset" in r.json()["error"]["message"]


def test_a_page_beyond_the_window_is_400(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "robot", "offset": 195, "k": 10})
    assert r.status_code == 400 and "offset + k" in r.json()["error"]["message"]


def test_facets_count_over_all_matches(client: TestClient) -> None:
    body = search(client, k=1, facets="type,genre")
    assert set(body["facets"]) == {"type", "genre"}
    types = body["facets"]["type"]
    assert sum(v["count"] for v in types) == body["found"]
    assert [v["count"] for v in types] == sorted((v["count"] for v in types), reverse=True)
    assert search(client)["facets"] == {}


@pytest.mark.parametrize("facets", ["colour", "genre,,type", "GENRE"])
def test_unknown_facets_are_422_naming_the_allowed(client: TestClient, facets: str) -> None:
    r = client.get("/v1/search", params={"q": "robot", "facets": facets})
    assert r.status_code == 422
    assert "allowed: genre, type, year, original_language, maturity_rating" in r.text


def test_unknown_genre_is_422_naming_the_allowed(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "robot", "genre": "Nope"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_parameter"
    assert "'genre'" in error["message"] and "allowed:" in error["message"]


def test_highlights_mark_the_query_words(client: TestClient) -> None:
    hits = search(client, k=3)["items"]
    assert hits[0]["highlights"]["title"] == "<mark>Robot</mark> Dreams"
    assert all("<mark>" in v for hit in hits for v in (hit["highlights"] or {}).values())


def test_suggest(client: TestClient) -> None:
    r = client.get("/v1/suggest", params={"q": "rob", "k": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"] == "rob" and len(body["suggestions"]) <= 2
    assert body["suggestions"][0] == {
        "kind": "title",
        "text": "Robot Dreams",
        "item_id": "m1",
        "year": 2023,
        "score": body["suggestions"][0]["score"],
    }


def test_suggest_keeps_one_trailing_space(client: TestClient, fake: FakeService) -> None:
    client.get("/v1/suggest", params={"q": "  star   wars   "})
    assert fake.calls[-1][1]["prefix"] == "star wars "


@pytest.mark.parametrize(
    "params",
    [
        {"q": ""},
        {"q": "   "},
        {"q": "a\x00b"},
        {"q": "x" * 201},
        {"q": "rob", "k": 0},
        {"q": "rob", "k": 21},
        {"q": "rob", "kinds": "title,studio"},
        {},
    ],
)
def test_bad_suggest_parameters_are_422(client: TestClient, params: dict[str, Any]) -> None:
    r = client.get("/v1/suggest", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_parameter"
