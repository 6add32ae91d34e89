"""Liveness/readiness (including slow and failing loaders), metrics, the request log, OpenAPI."""

from __future__ import annotations

import json
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

import recsys
from api.app import create_app
from api.settings import Settings
from recsys.core.errors import ArtifactError
from recsys.core.types import SearchService
from recsys.search.options import SearchOptions
from tests.api.conftest import FakeService, make_settings

MakeClient = Callable[..., TestClient]


def _sample(client: TestClient, name: str, **labels: str) -> float:
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


# --------------------------------------------------------------------------- health / ready


def test_healthz(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readyz_when_loaded(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ready",
        "model_version": "fake-1",
        "n_items": 6,
        "index": "fake-flat",
    }


def test_loader_called_once_with_settings(make_client: MakeClient, fake: FakeService) -> None:
    seen: list[Settings] = []

    def loader(settings: Settings) -> SearchService:
        seen.append(settings)
        return fake

    client = make_client(loader=loader, max_k=20)
    client.get("/readyz")
    client.get("/v1/search", params={"q": "robot"})
    assert len(seen) == 1 and seen[0].max_k == 20


def test_readyz_503_while_loading_then_ready(make_client: MakeClient, fake: FakeService) -> None:
    release = threading.Event()

    def slow_loader(_settings: Settings) -> SearchService:
        release.wait(timeout=5.0)
        return fake

    client = make_client(loader=slow_loader, wait=False)
    try:
        assert client.get("/healthz").status_code == 200  # answers while the model loads
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json() == {"status": "loading", "reason": "engine is loading"}
        for path in ["/v1/search?q=robot", "/v1/items/m1", "/v1/items/m1/similar"]:
            r = client.get(path)
            assert r.status_code == 503, path
            assert r.json() == {"error": {"code": "not_ready", "message": "engine is loading"}}
            assert r.headers["Retry-After"] == "5"
        assert _sample(client, "recsys_engine_ready") == 0.0
    finally:
        release.set()
    assert client.app.state.engine_state.wait(timeout=5.0)  # type: ignore[attr-defined]
    assert client.get("/readyz").status_code == 200
    assert client.get("/v1/search", params={"q": "robot"}).status_code == 200
    assert _sample(client, "recsys_engine_ready") == 1.0


def test_failed_load_still_serves_health(make_client: MakeClient) -> None:
    def broken_loader(_settings: Settings) -> SearchService:
        raise ArtifactError("artifacts/manifest.json: missing")

    client = make_client(loader=broken_loader)
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"status": "failed", "reason": "artifacts/manifest.json: missing"}
    for path in ["/v1/search?q=robot", "/v1/items/m1", "/v1/items/m1/similar"]:
        r = client.get(path)
        assert r.status_code == 503
        assert r.json() == {
            "error": {
                "code": "not_ready",
                "message": "engine failed to load: artifacts/manifest.json: missing",
            }
        }
    assert client.get("/metrics").status_code == 200


def test_unexpected_loader_error_names_the_type(make_client: MakeClient) -> None:
    def loader(_settings: Settings) -> SearchService:
        raise RuntimeError("CUDA out of memory")

    r = make_client(loader=loader).get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"status": "failed", "reason": "RuntimeError: CUDA out of memory"}


def test_loader_returning_none_is_a_failure(make_client: MakeClient) -> None:
    r = make_client(loader=lambda _s: None).get("/readyz")
    assert r.status_code == 503
    assert r.json()["status"] == "failed"


def test_default_loader_calls_engine_load(
    monkeypatch: pytest.MonkeyPatch, make_client: MakeClient, fake: FakeService
) -> None:
    calls: list[tuple[Any, ...]] = []

    class Engine:
        @classmethod
        def load(
            cls,
            artifacts_dir: Path,
            device: str | None = None,
            options: Any = None,
            query_backend: str = "auto",
            threads: int = 1,
        ) -> FakeService:
            calls.append((artifacts_dir, device, options, query_backend, threads))
            return fake

    module = types.ModuleType("recsys.service")
    module.Engine = Engine  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "recsys.service", module)
    client = make_client(
        artifacts_dir=Path("/srv/artifacts"),
        encoder_device="cpu",
        query_cache_size=7,
        query_encoder="onnx",
    )
    options = SearchOptions(query_cache_size=7)
    assert calls == [(Path("/srv/artifacts"), "cpu", options, "onnx", 1)]
    assert client.get("/readyz").json()["status"] == "ready"


def test_engine_close_called_on_shutdown(fake: FakeService) -> None:
    closed: list[bool] = []
    fake.close = lambda: closed.append(True)  # type: ignore[attr-defined]
    app = create_app(make_settings(), lambda _s: fake)
    with TestClient(app) as client:
        assert app.state.engine_state.wait(timeout=5.0)
        assert client.get("/readyz").status_code == 200
    assert closed == [True]


# --------------------------------------------------------------------------- metrics


def test_metrics_count_requests(client: TestClient) -> None:
    name = "recsys_http_requests_total"
    assert _sample(client, name, route="/v1/search", method="GET", status="200") == 0.0
    client.get("/v1/search", params={"q": "robot"})
    client.get("/v1/search", params={"q": "robot"})
    client.get("/v1/search", params={"q": "robot", "k": 0})
    client.get("/v1/items/m1")
    client.get("/v1/items/nope")
    client.get("/no/such/path")
    assert _sample(client, name, route="/v1/search", method="GET", status="200") == 2.0
    assert _sample(client, name, route="/v1/search", method="GET", status="422") == 1.0
    assert _sample(client, name, route="/v1/items/{item_id}", method="GET", status="200") == 1.0
    assert _sample(client, name, route="/v1/items/{item_id}", method="GET", status="404") == 1.0
    assert _sample(client, name, route="unmatched", method="GET", status="404") == 1.0
    assert _sample(client, "recsys_http_request_duration_seconds_count", route="/v1/search") == 3.0


def test_metrics_content_type(client: TestClient) -> None:
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "# TYPE recsys_http_requests_total counter" in r.text
    r = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.rstrip().endswith("# EOF")


def test_each_app_has_its_own_registry(make_client: MakeClient, fake: FakeService) -> None:
    first = make_client(loader=lambda _s: fake)
    second = make_client(loader=lambda _s: fake)
    first.get("/v1/search", params={"q": "robot"})
    labels = {"route": "/v1/search", "method": "GET", "status": "200"}
    assert _sample(first, "recsys_http_requests_total", **labels) == 1.0
    assert _sample(second, "recsys_http_requests_total", **labels) == 0.0


# --------------------------------------------------------------------------- request log


def test_request_log_lines(make_client: MakeClient, fake: FakeService, tmp_path: Path) -> None:
    log_path = tmp_path / "logs" / "served.jsonl"
    client = make_client(loader=lambda _s: fake, request_log=log_path)
    client.get(
        "/v1/search",
        params={"q": " robot ", "k": 2, "lang": "fr", "type": "movie", "user_id": "u1"},
        headers={"X-Request-ID": "r-1"},
    )
    client.get("/v1/items/m2/similar", params={"k": 1}, headers={"X-Request-ID": "r-2"})
    client.get("/v1/items/m4", params={"lang": "fr"}, headers={"X-Request-ID": "r-3"})
    client.get("/v1/items/nope")  # errors are not "served" results
    client.get("/v1/search", params={"q": ""})

    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [r["request_id"] for r in records] == ["r-1", "r-2", "r-3"]
    search, similar, item = records
    assert search["route"] == "search"
    assert search["query"] == "robot"
    assert search["params"] == {"k": 2, "lang": "fr", "offset": 0, "type": "movie"}
    assert search["user_id"] == "u1"
    assert search["item_ids"] == ["m1", "m2"]
    assert search["scores"] == [1.06, 0.05]
    assert search["model_version"] == "fake-1"
    assert search["timings_ms"] == {"total": 1.5}
    assert isinstance(search["latency_ms"], float) and search["latency_ms"] >= 0
    assert search["timestamp"].endswith("+00:00")
    assert similar["route"] == "similar"
    assert similar["item_id"] == "m2"
    assert similar["item_ids"] == ["m3"]
    assert similar["params"] == {"k": 1}
    assert item["route"] == "item"
    assert item["item_ids"] == ["m4"] and item["params"] == {"lang": "fr"}


def test_request_log_failure_does_not_fail_requests(
    make_client: MakeClient, fake: FakeService, tmp_path: Path
) -> None:
    client = make_client(loader=lambda _s: fake, request_log=tmp_path)  # a directory: unwritable
    r = client.get("/v1/search", params={"q": "robot"})
    assert r.status_code == 200
    assert client.get("/v1/items/m1").status_code == 200
    assert _sample(client, "recsys_request_log_failures_total") == 2.0


def test_request_log_concurrent_writes_stay_line_delimited(
    make_client: MakeClient, fake: FakeService, tmp_path: Path
) -> None:
    log_path = tmp_path / "served.jsonl"
    client = make_client(loader=lambda _s: fake, request_log=log_path)
    log = client.app.state.request_log  # type: ignore[attr-defined]

    def writer(n: int) -> None:
        for i in range(50):
            log.write({"request_id": f"{n}-{i}", "payload": "x" * 2000})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = log_path.read_text().splitlines()
    assert len(lines) == 200
    assert all(json.loads(line)["payload"] == "x" * 2000 for line in lines)


# --------------------------------------------------------------------------- OpenAPI


def test_openapi_document(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "recsys"
    assert spec["info"]["version"] == recsys.__version__
    search = spec["paths"]["/v1/search"]["get"]
    params = {p["name"]: p for p in search["parameters"]}
    assert set(params) >= {"q", "k", "lang", "type", "genre", "year_min", "year_max", "user_id"}
    for name, param in params.items():
        assert param["schema"].get("examples") or param.get("examples"), name
    assert params["k"]["schema"]["maximum"] == 100
    assert set(search["responses"]) >= {"200", "400", "422", "503"}
    assert "example" in search["responses"]["422"]["content"]["application/json"]
    for path in ["/v1/items/{item_id}", "/v1/items/{item_id}/similar", "/healthz", "/readyz"]:
        assert path in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert schemas["SearchResponse"]["examples"]
    assert schemas["ErrorResponse"]["examples"]


def test_docs_page(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200
    assert "swagger" in r.text.lower()


def test_request_log_rotates_by_size_and_is_not_world_readable(tmp_path: Path) -> None:
    from api.observability import Metrics, RequestLog

    path = tmp_path / "logs" / "served.jsonl"
    log = RequestLog(path, Metrics(), max_bytes=1024, backups=2)
    for n in range(200):
        assert log.write({"n": n, "pad": "x" * 40})
    assert path.stat().st_mode & 0o777 == 0o640
    rotated = sorted(p.name for p in path.parent.iterdir())
    assert rotated == ["served.jsonl", "served.jsonl.1", "served.jsonl.2"]  # older ones dropped
    assert all(p.stat().st_size <= 1024 + 100 for p in path.parent.iterdir())
    last = path.read_text().splitlines()[-1]
    assert '"n":199' in last


def test_503_bodies_do_not_show_absolute_paths(make_client: MakeClient) -> None:
    def broken(_settings: Settings) -> SearchService:
        raise ArtifactError("/srv/recsys/artifacts/v7/vectors.npy does not match its checksum")

    client = make_client(loader=broken)
    for answer in (client.get("/readyz"), client.get("/v1/search", params={"q": "x"})):
        assert answer.status_code == 503
        text = answer.text
        assert "/srv/recsys" not in text and ".../v7/vectors.npy does not match" in text
