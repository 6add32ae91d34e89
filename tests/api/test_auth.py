"""API keys: dev mode is open; with keys, every route but health/readiness needs one with
the route's scope; per-key token buckets answer 429; ?variant= needs admin."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import ApiKeyConfigError, TokenBucket, hash_key, load_keys, required_scope
from tests.api.conftest import FakeService, make_settings

SEARCH_KEY, EVENTS_KEY, ADMIN_KEY, SLOW_KEY = "rk_search", "rk_events", "rk_admin", "rk_slow"
EVENT = {"events": [{"event_id": "e1", "type": "click", "user_id": "u1", "item_id": "m1"}]}


def keys_file(path: Path) -> Path:
    path.write_text(
        f"""
[[keys]]
name = "web"
sha256 = "{hash_key(SEARCH_KEY)}"
scopes = ["search"]

[[keys]]
name = "tracker"
sha256 = "{hash_key(EVENTS_KEY)}"
scopes = ["events"]

[[keys]]
name = "slow"
sha256 = "{hash_key(SLOW_KEY)}"
scopes = ["search"]
rate_per_s = 0.01
burst = 2
"""
    )
    return path


@pytest.fixture
def secured(make_client: Callable[..., TestClient], tmp_path: Path) -> TestClient:
    return make_client(
        loader=lambda _s: FakeService(),
        api_keys_file=keys_file(tmp_path / "keys.toml"),
        admin_api_key=ADMIN_KEY,
    )


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_dev_mode_is_open(client: TestClient) -> None:
    assert client.get("/v1/search", params={"q": "robot"}).status_code == 200
    assert client.post("/v1/admin/reload").status_code == 200


def test_routes_need_a_key_with_their_scope(secured: TestClient) -> None:
    assert secured.get("/healthz").status_code == 200
    assert secured.get("/readyz").status_code == 200
    missing = secured.get("/v1/search", params={"q": "robot"})
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.headers["x-request-id"]
    wrong = secured.get("/v1/search", params={"q": "robot"}, headers=bearer("rk_nope"))
    assert wrong.status_code == 401
    ok = secured.get("/v1/search", params={"q": "robot"}, headers=bearer(SEARCH_KEY))
    assert ok.status_code == 200
    ok = secured.get("/v1/search", params={"q": "robot"}, headers={"X-API-Key": SEARCH_KEY})
    assert ok.status_code == 200
    assert secured.get("/openapi.json", headers=bearer(SEARCH_KEY)).status_code == 200
    assert secured.get("/openapi.json").status_code == 401

    forbidden = secured.post("/v1/events", json=EVENT, headers=bearer(SEARCH_KEY))
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
    assert secured.post("/v1/events", json=EVENT, headers=bearer(EVENTS_KEY)).status_code == 200
    assert (
        secured.get("/v1/search", params={"q": "x"}, headers=bearer(EVENTS_KEY)).status_code == 403
    )

    for path in ("/metrics", "/v1/admin/versions"):
        assert secured.get(path, headers=bearer(SEARCH_KEY)).status_code == 403
        assert secured.get(path, headers=bearer(ADMIN_KEY)).status_code == 200


def test_variant_override_needs_admin(secured: TestClient) -> None:
    params = {"q": "robot", "variant": "treatment"}
    assert secured.get("/v1/search", params=params, headers=bearer(SEARCH_KEY)).status_code == 403
    answer = secured.get("/v1/search", params=params, headers=bearer(ADMIN_KEY))
    assert answer.status_code != 403  # 400 here: no experiment is configured


def test_a_key_past_its_rate_is_limited(secured: TestClient) -> None:
    codes = [
        secured.get("/v1/suggest", params={"q": "ro"}, headers=bearer(SLOW_KEY)).status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 429, 429]
    limited = secured.get("/v1/suggest", params={"q": "ro"}, headers=bearer(SLOW_KEY))
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    assert (
        secured.get("/v1/suggest", params={"q": "ro"}, headers=bearer(SEARCH_KEY)).status_code
        == 200
    )
    metrics = secured.get("/metrics", headers=bearer(ADMIN_KEY)).text
    assert 'recsys_rate_limited_total{key="slow"} 3.0' in metrics


def test_events_must_be_json(client: TestClient) -> None:
    body = '{"events": []}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": content_type} if content_type else {}
        answer = client.post("/v1/events", content=body, headers=headers)
        assert answer.status_code == 415, content_type
        assert answer.json()["error"]["code"] == "unsupported_media_type"
    ok = client.post(
        "/v1/events", json=EVENT, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("keys = 3", "array of tables"),
        ('[[keys]]\nname = "a"\nsha256 = "zz"\nscopes = ["search"]', "64 hex digits"),
        (f'[[keys]]\nname = "a"\nsha256 = "{"a" * 64}"\nscopes = ["root"]', "scopes"),
        (f'[[keys]]\nname = "a"\nsha256 = "{"a" * 64}"\nscopes = ["search"]\nrole = 1', "unknown"),
        ("[[keys", "cannot read"),
    ],
)
def test_bad_keys_files_stop_startup(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(text)
    with pytest.raises(ApiKeyConfigError, match=problem):
        create_app(make_settings(api_keys_file=path))
    with pytest.raises(ApiKeyConfigError, match="cannot read"):
        load_keys(tmp_path / "missing.toml", None)


def test_scopes_and_bucket_known_answers() -> None:
    assert required_scope("GET", "/healthz", b"") is None
    assert required_scope("GET", "/static/swagger-ui/swagger-ui.css", b"") is None
    assert required_scope("GET", "/v1/items/1", b"") == "search"
    assert required_scope("GET", "/v1/search", b"q=a&variant=x") == "admin"
    assert required_scope("POST", "/v1/events", b"") == "events"
    bucket = TokenBucket(rate_per_s=1.0, burst=2.0)
    assert [bucket.take() == 0.0 for _ in range(3)] == [True, True, False]
