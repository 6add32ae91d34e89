"""Structured logs: each request gets an access line with its id, route, status, latency,
and the model version and variant that served it; JSON lines carry them as fields."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from fastapi.testclient import TestClient

from api.logs import ACCESS_LOGGER, JsonFormatter


def test_access_line_has_the_request_fields(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        answer = client.get("/v1/search", params={"q": "robot"}, headers={"X-Request-ID": "r-42"})
        client.get("/healthz")
    search, health = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert answer.status_code == 200
    assert (search.request_id, search.route, search.method, search.status) == (  # type: ignore[attr-defined]
        "r-42",
        "/v1/search",
        "GET",
        200,
    )
    assert search.model_version == "fake-1" and search.latency_ms >= 0  # type: ignore[attr-defined]
    assert health.route == "/healthz" and health.model_version is None  # type: ignore[attr-defined]

    line = json.loads(JsonFormatter().format(search))
    assert line["level"] == "info" and line["logger"] == ACCESS_LOGGER
    assert {"request_id": "r-42", "route": "/v1/search", "status": 200}.items() <= line.items()
    assert line["model_version"] == "fake-1" and "variant" not in line  # no experiment: no field


def test_json_formatter_keeps_exceptions() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed %s", ("now",), exc_info=sys.exc_info()
        )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "failed now" and "ValueError: boom" in line["exc"]
