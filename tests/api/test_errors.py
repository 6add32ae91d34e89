"""The JSON error shape everywhere: unknown paths, wrong methods, engine errors, bugs."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.settings import Settings
from recsys.core.errors import InvalidRequestError, NotFoundError
from recsys.core.types import RecommendationResult, SearchResult
from tests.api.conftest import FakeService

MakeClient = Callable[..., TestClient]


class RaisingService(FakeService):
    """Every engine call raises ``exc``."""

    def __init__(self, exc: Exception) -> None:
        super().__init__()
        self.exc = exc

    def search(self, query: str, *args: Any, **kwargs: Any) -> SearchResult:
        raise self.exc

    def similar(self, item_id: str, *args: Any, **kwargs: Any) -> SearchResult:
        raise self.exc

    def item(self, item_id: str, lang: str | None = None) -> dict[str, Any]:
        raise self.exc

    def recommend(self, user_id: str, *args: Any, **kwargs: Any) -> RecommendationResult:
        raise self.exc


ENGINE_PATHS = [
    "/v1/search?q=robot",
    "/v1/items/m1",
    "/v1/items/m1/similar",
    "/v1/recommendations?user_id=u1",
]


def test_unknown_path_is_json_404(client: TestClient) -> None:
    r = client.get("/v2/search", params={"q": "x"})
    assert r.status_code == 404
    assert r.json() == {
        "error": {"code": "not_found", "message": "no endpoint at path '/v2/search'"}
    }
    assert r.headers["X-Request-ID"]


@pytest.mark.parametrize("path", ["/v1/search", "/v1/items/m1", "/v1/recommendations", "/healthz"])
def test_wrong_method_is_json_405(client: TestClient, path: str) -> None:
    r = client.post(path)
    assert r.status_code == 405
    assert r.headers["allow"] == "GET"
    assert r.json() == {
        "error": {"code": "method_not_allowed", "message": "method POST not allowed; allowed: GET"}
    }


@pytest.mark.parametrize("path", ENGINE_PATHS)
def test_engine_invalid_request_is_400(make_client: MakeClient, path: str) -> None:
    service = RaisingService(InvalidRequestError("genre 'Nope' is not in the catalog"))
    r = make_client(loader=lambda _s: service).get(path)
    assert r.status_code == 400
    assert r.json() == {
        "error": {"code": "invalid_request", "message": "genre 'Nope' is not in the catalog"}
    }


@pytest.mark.parametrize("path", ENGINE_PATHS)
def test_engine_not_found_is_404(make_client: MakeClient, path: str) -> None:
    service = RaisingService(NotFoundError("unknown user 'u9'"))
    r = make_client(loader=lambda _s: service).get(path)
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "not_found", "message": "unknown user 'u9'"}}


@pytest.mark.parametrize("path", ENGINE_PATHS)
def test_unexpected_engine_error_is_opaque_500(
    make_client: MakeClient, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    service = RaisingService(RuntimeError("index shard 3 is corrupt at /secret/path"))
    client = make_client(loader=lambda _s: service, raise_server_exceptions=False)
    r = client.get(path, headers={"X-Request-ID": "boom-1"})
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal", "message": "internal server error"}}
    assert "secret" not in r.text and "Traceback" not in r.text
    assert r.headers["X-Request-ID"] == "boom-1"
    assert any("boom-1" in rec.getMessage() for rec in caplog.records)  # logged, with the id
    route = path.split("?")[0].replace("m1", "{item_id}")
    text = client.get("/metrics").text
    assert f'recsys_http_requests_total{{method="GET",route="{route}",status="500"}} 1.0' in text


def test_validation_message_format(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "robot", "k": "abc"})
    assert r.json() == {
        "error": {
            "code": "invalid_parameter",
            "message": "query parameter 'k': Input should be a valid integer, "
            "unable to parse string as an integer",
        }
    }
    r = client.get("/v1/search")
    assert r.json()["error"]["message"] == "query parameter 'q': Field required"


NASTY_QUERIES = [
    "q=%00",
    "q=a%00b",
    "q=%01%02%03",
    "q=%1B%5B2J",
    "q=%7F",
    "q=%C2%85",
    "q=%FF",
    "q=%ED%A0%80",
    "q=%EF%BF%BF",
    "q=%E2%80%8B",
    "q=%F0%9F%98%80",
    "q=" + "%20" * 600,
    "q=" + "a" * 5000,
    "q=robot&q=",
    "q=robot&k=1e3",
    "q=robot&k=%00",
    "q=robot&k=99999999999999999999",
    "q=robot&lang=%00%00",
    "q=robot&type=%00",
    "q=robot&year_min=-0",
    "q=robot&year_max=+2000",
    "q=robot&genre=%0A",
    "q=robot&user_id=%E2%80%AE",
    "q[]=robot",
    "q=%25%25%25",
    "k=5",
]


@pytest.mark.parametrize("query", NASTY_QUERIES)
def test_hostile_input_never_causes_5xx(client: TestClient, query: str) -> None:
    r = client.get(f"/v1/search?{query}")
    assert r.status_code < 500, r.text
    allowed = {"request_id", "query", "model_version", "query_language", "items", "error"}
    allowed |= {"experiment", "variant", "found", "offset", "ranker", "facets"}
    assert set(r.json()) <= allowed
    if r.status_code >= 400:
        assert set(r.json()["error"]) == {"code", "message"}


@pytest.mark.parametrize("item_id", ["%00", "..", "%2E%2E", "a%2Fb", "%FF", "x" * 300, "-", "_"])
def test_hostile_item_ids_never_cause_5xx(client: TestClient, item_id: str) -> None:
    for suffix in ["", "/similar"]:
        r = client.get(f"/v1/items/{item_id}{suffix}")
        assert r.status_code < 500, (item_id, suffix, r.text)
        assert "error" in r.json() or "item_id" in r.json() or "items" in r.json()


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_MAX_K", "50")
    monkeypatch.setenv("RECSYS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("RECSYS_REQUEST_LOG", "/tmp/served.jsonl")
    settings = Settings()
    assert settings.max_k == 50
    assert settings.log_level == "debug"
    assert str(settings.request_log) == "/tmp/served.jsonl"


def test_settings_reject_default_k_above_max_k() -> None:
    with pytest.raises(ValueError, match="default_k"):
        Settings(max_k=5, default_k=10)


def test_request_id_on_every_response(client: TestClient) -> None:
    for path in ["/healthz", "/readyz", "/metrics", "/nope", "/v1/search", "/v1/items/m1"]:
        r = client.get(path)
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"]), path
