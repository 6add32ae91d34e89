"""GET /v1/search: known answers, pass-through to the engine, and every validation rule."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recsys.core.types import SearchFilters
from tests.api.conftest import FakeService


def _ids(body: dict[str, Any]) -> list[str]:
    return [hit["item_id"] for hit in body["items"]]


def test_search_known_answer(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "robot"})
    assert r.status_code == 200
    body = r.json()
    assert _ids(body) == ["m1", "s1", "m2", "m3", "s2", "m4"]
    assert [hit["score"] for hit in body["items"]] == [1.06, 1.03, 0.05, 0.04, 0.02, 0.01]
    assert body["query"] == "robot"
    assert body["model_version"] == "fake-1"
    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])
    assert r.headers["X-Request-ID"] == body["request_id"]
    assert body["items"][0] == {
        "item_id": "m1",
        "title": "Robot Dreams",
        "original_title": "Robot Dreams",
        "year": 2023,
        "type": "movie",
        "genres": ["Animation", "Drama"],
        "score": 1.06,
        "description": "A dog builds a robot friend in New York.",
        "lang": None,
        "original_language": None,
        "maturity_rating": None,
        "highlights": {
            "title": "<mark>Robot</mark> Dreams",
            "description": "A dog builds a <mark>robot</mark> friend in New York.",
        },
    }


def test_search_passes_parameters_to_engine(client: TestClient, fake: FakeService) -> None:
    r = client.get(
        "/v1/search",
        params={
            "q": "robot",
            "k": 3,
            "lang": "fr",
            "type": "movie",
            "genre": "Drama",
            "year_min": 2000,
            "year_max": 2024,
            "user_id": "u_42",
        },
    )
    assert r.status_code == 200
    assert fake.calls == [
        (
            "search",
            {
                "query": "robot",
                "k": 3,
                "lang": "fr",
                "user_id": "u_42",
                "filters": SearchFilters(type="movie", genre="Drama", year_min=2000, year_max=2024),
            },
        )
    ]
    assert _ids(r.json()) == ["m1"]
    hit = r.json()["items"][0]
    assert (hit["title"], hit["lang"]) == ("Mon ami robot", "fr")


def test_search_defaults(client: TestClient, fake: FakeService) -> None:
    r = client.get("/v1/search", params={"q": "comedy"})
    assert r.status_code == 200
    assert fake.calls[0][1] == {
        "query": "comedy",
        "k": 10,
        "filters": None,
        "lang": None,
        "user_id": None,
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"k": 2}, ["m1", "s1"]),
        ({"k": 1}, ["m1"]),
        ({"type": "movie"}, ["m1", "m2", "m3", "m4"]),
        ({"type": "tv_show"}, ["s1", "s2"]),
        ({"genre": "Science Fiction"}, ["s1", "m2", "m3"]),
        ({"year_min": 2000, "year_max": 2020}, ["s1", "s2", "m4"]),
        ({"year_min": 2005, "year_max": 2005}, ["s2"]),
        ({"year_max": 1990}, ["m3"]),
        ({"type": "movie", "year_min": 2030}, []),
    ],
)
def test_search_k_and_filters(
    client: TestClient, params: dict[str, Any], expected: list[str]
) -> None:
    r = client.get("/v1/search", params={"q": "robot", **params})
    assert r.status_code == 200, r.text
    assert _ids(r.json()) == expected


def test_search_lang_localizes(client: TestClient) -> None:
    items = client.get("/v1/search", params={"q": "robot", "lang": "fr", "k": 2}).json()["items"]
    assert [(h["title"], h["lang"]) for h in items] == [
        ("Mon ami robot", "fr"),
        ("Westworld", None),
    ]


def test_query_is_stripped_and_whitespace_collapsed(client: TestClient, fake: FakeService) -> None:
    r = client.get("/v1/search", params={"q": " \t robot \n\r  dreams  "})
    assert r.status_code == 200
    assert r.json()["query"] == "robot dreams"
    assert fake.calls[0][1]["query"] == "robot dreams"


def test_query_at_the_length_limit_is_accepted(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "a" * 512})
    assert r.status_code == 200
    # the limit applies after trimming
    assert client.get("/v1/search", params={"q": "  " + "a" * 512 + "  "}).status_code == 200


def test_unknown_query_parameters_are_ignored(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "robot", "k": 1, "foo": "bar", "debug": "1"})
    assert r.status_code == 200
    assert _ids(r.json()) == ["m1"]


def test_unicode_passes_and_undecodable_bytes_are_422(client: TestClient) -> None:
    for raw in ["q=caf%C3%A9", "q=%E2%80%AE%F0%9F%A4%96", "q=%2B%26%3D"]:
        r = client.get(f"/v1/search?{raw}")
        assert r.status_code == 200, (raw, r.text)
    for raw in ["q=%FF%FE", "q=%ED%A0%80"]:  # not UTF-8 (a lone surrogate is not either)
        r = client.get(f"/v1/search?{raw}")
        assert r.status_code == 422 and "not valid UTF-8" in r.text, (raw, r.text)


INVALID = [
    # (params or raw query string, parameter named in the message)
    ({}, "q"),
    ({"q": ""}, "q"),
    ({"q": "   \t\n "}, "q"),
    ({"q": "robot\x00dreams"}, "q"),
    ({"q": "\x00"}, "q"),
    ({"q": "robot\x1b[31m"}, "q"),
    ({"q": "robot\x7f"}, "q"),
    ({"q": "robot\x85"}, "q"),
    ({"q": "a" * 513}, "q"),
    ({"q": "robot", "k": 0}, "k"),
    ({"q": "robot", "k": -1}, "k"),
    ({"q": "robot", "k": 101}, "k"),
    ({"q": "robot", "k": "abc"}, "k"),
    ({"q": "robot", "k": "1.5"}, "k"),
    ({"q": "robot", "k": ""}, "k"),
    ({"q": "robot", "lang": "FR"}, "lang"),
    ({"q": "robot", "lang": "fra"}, "lang"),
    ({"q": "robot", "lang": "f"}, "lang"),
    ({"q": "robot", "lang": ""}, "lang"),
    ({"q": "robot", "lang": "fr\n"}, "lang"),
    ({"q": "robot", "type": "film"}, "type"),
    ({"q": "robot", "type": "Movie"}, "type"),
    ({"q": "robot", "genre": ""}, "genre"),
    ({"q": "robot", "genre": "Drama\x00"}, "genre"),
    ({"q": "robot", "genre": "x" * 65}, "genre"),
    ({"q": "robot", "year_min": 1799}, "year_min"),
    ({"q": "robot", "year_min": "nineteen"}, "year_min"),
    ({"q": "robot", "year_max": 2101}, "year_max"),
    ({"q": "robot", "year_max": "2000.5"}, "year_max"),
    ({"q": "robot", "user_id": "u" * 129}, "user_id"),
    ({"q": "robot", "user_id": "u\x00"}, "user_id"),
    ({"q": "robot", "user_id": "u\t1"}, "user_id"),
    ({"q": "robot", "user_id": ""}, "user_id"),
]


@pytest.mark.parametrize(("params", "param"), INVALID)
def test_invalid_parameters_are_422(
    client: TestClient, fake: FakeService, params: dict[str, Any], param: str
) -> None:
    r = client.get("/v1/search", params=params)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_parameter"
    assert f"query parameter '{param}'" in error["message"]
    assert "\x00" not in error["message"]
    assert fake.calls == []  # the engine never sees invalid input
    assert r.headers["X-Request-ID"]


def test_control_character_message(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "a\x00b"})
    assert r.json()["error"]["message"] == (
        "query parameter 'q': must not contain control characters (e.g. NUL)"
    )
    r = client.get("/v1/search", params={"q": "a" * 513})
    assert r.json()["error"]["message"] == (
        "query parameter 'q': must be at most 512 characters after trimming (got 513)"
    )


def test_several_invalid_parameters_are_all_reported(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "robot", "k": 0, "lang": "xx1"})
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert "query parameter 'k'" in message and "query parameter 'lang'" in message


def test_year_min_greater_than_year_max_is_400(client: TestClient, fake: FakeService) -> None:
    r = client.get("/v1/search", params={"q": "robot", "year_min": 2010, "year_max": 2000})
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "code": "invalid_request",
            "message": "year_min (2010) must not be greater than year_max (2000)",
        }
    }
    assert fake.calls == []


def test_per_parameter_errors_win_over_contradictions(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "robot", "year_min": 2010, "year_max": 2000, "k": 0})
    assert r.status_code == 422


def test_limits_come_from_settings(make_client: Any, fake: FakeService) -> None:
    client = make_client(loader=lambda _s: fake, max_k=5, default_k=2, max_query_chars=10)
    assert _ids(client.get("/v1/search", params={"q": "robot"}).json()) == ["m1", "s1"]
    assert client.get("/v1/search", params={"q": "robot", "k": 5}).status_code == 200
    r = client.get("/v1/search", params={"q": "robot", "k": 6})
    assert r.status_code == 422
    assert "less than or equal to 5" in r.json()["error"]["message"]
    assert client.get("/v1/search", params={"q": "x" * 10}).status_code == 200
    assert client.get("/v1/search", params={"q": "x" * 11}).status_code == 422


def test_request_id_round_trip(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "robot"}, headers={"X-Request-ID": "req-abc.123"})
    assert r.headers["X-Request-ID"] == "req-abc.123"
    assert r.json()["request_id"] == "req-abc.123"


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "<script>", "-leading-dash", ""])
def test_insane_request_id_is_replaced(client: TestClient, bad: str) -> None:
    r = client.get("/v1/search", params={"q": "robot"}, headers={"X-Request-ID": bad})
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"])
    assert r.json()["request_id"] == r.headers["X-Request-ID"]


def test_request_ids_are_unique(client: TestClient) -> None:
    ids = {client.get("/v1/search", params={"q": "robot"}).json()["request_id"] for _ in range(5)}
    assert len(ids) == 5


def test_engine_is_called_off_the_event_loop(client: TestClient, fake: FakeService) -> None:
    # The CPU-bound engine calls must run in the thread pool, not block the event loop.
    client.get("/v1/search", params={"q": "robot"})
    client.get("/v1/items/m1")
    client.get("/v1/items/m1/similar")
    assert [name for name, _ in fake.calls] == ["search", "item", "similar"]
    assert fake.called_on_event_loop == [False, False, False]


def test_language_and_maturity_filters_reach_the_engine(
    client: TestClient, fake: FakeService
) -> None:
    r = client.get(
        "/v1/search",
        params={"q": "robot", "original_language": "fr", "maturity_rating": " PG, tv-pg "},
    )
    assert r.status_code == 200, r.text
    assert fake.calls[0][1]["filters"] == SearchFilters(
        original_language="fr", maturity_ratings=("PG", "tv-pg")
    )


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"original_language": "french"}, "original_language"),
        ({"original_language": "FR"}, "original_language"),
        ({"maturity_rating": "PG;DROP"}, "maturity_rating"),
        ({"maturity_rating": "PG,,R"}, "maturity_rating"),
        ({"maturity_rating": ",".join(["PG"] * 21)}, "maturity_rating"),
    ],
)
def test_bad_language_and_maturity_filters_are_422(
    client: TestClient, params: dict[str, str], name: str
) -> None:
    r = client.get("/v1/search", params={"q": "robot", **params})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_parameter" and name in error["message"]
