"""Documentation served offline from the package, and CORS configured by settings."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.settings import Settings
from tests.api.conftest import FakeService

ORIGIN = "https://app.example.com"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_every_asset_from_this_server(client: TestClient, page: str) -> None:
    html = client.get(page)
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: *['"]([^'"]+)['"]""", html.text)
    urls = [a or b for a, b in urls]
    assert urls, "the page loads no assets?"
    assert not [u for u in urls if u.startswith(("http://", "https://", "//"))], urls
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
    assert "/openapi.json" in urls or "/openapi.json" in html.text


def test_docs_pages_are_not_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/docs", "/redoc"} & set(paths)


def test_no_cors_headers_by_default(client: TestClient) -> None:
    r = client.get("/healthz", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in r.headers


def test_preflight_and_requests_from_an_allowed_origin(
    make_client: Callable[..., TestClient], fake: FakeService
) -> None:
    client = make_client(loader=lambda _s: fake, cors_origins=(ORIGIN,))
    preflight = client.options(
        "/v1/events",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    r = client.get("/v1/search", params={"q": "heat"}, headers={"Origin": ORIGIN})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in r.headers["access-control-expose-headers"].lower()


def test_other_origins_get_no_cors_headers(
    make_client: Callable[..., TestClient], fake: FakeService
) -> None:
    client = make_client(loader=lambda _s: fake, cors_origins=(ORIGIN,))
    r = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    preflight = client.options(
        "/v1/events",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400


def test_cors_origins_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_CORS_ORIGINS", f" {ORIGIN}/ , http://localhost:3000")
    assert Settings().cors_origins == (ORIGIN, "http://localhost:3000")
    monkeypatch.setenv("RECSYS_CORS_ORIGINS", "*")
    assert Settings().cors_origins == ("*",)
    monkeypatch.setenv("RECSYS_CORS_ORIGINS", "app.example.com")
    with pytest.raises(ValidationError, match="must be '\\*' or start with http"):
        Settings()
