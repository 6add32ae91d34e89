"""OpenTelemetry: off unless OTEL_* asks; on, a request is a server span with the engine's
stages as child spans."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api.app import create_app
from api.tracing import install_tracing, tracing_wanted
from tests.api.conftest import FakeService, make_settings


def test_off_by_default_and_on_with_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert not tracing_wanted()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert tracing_wanted()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not tracing_wanted()


def test_a_search_is_a_server_span_with_stage_children() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(make_settings(), lambda _s: FakeService())
    assert install_tracing(app, provider)
    with TestClient(app) as client:
        assert app.state.engine_state.wait(5)
        assert client.get("/v1/search", params={"q": "robot"}).status_code == 200
        assert client.get("/healthz").status_code == 200  # excluded
    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind.name == "SERVER"]
    assert [s.name for s in server] == ["GET /v1/search"]
    (stage,) = [s for s in spans if s.name == "recsys.total"]  # the fake times one stage
    assert stage.parent is not None and stage.parent.trace_id == server[0].context.trace_id
    assert stage.end_time - stage.start_time == 1_500_000  # the fake search times 1.5 ms
