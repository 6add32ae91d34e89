"""The OpenAPI schema tells the truth: schemathesis generates requests from it for every
operation and checks the answers against it (status codes, content types, headers, bodies),
and that no answer is a 5xx.

One check is ours instead of schemathesis' ``positive_data_acceptance``: a schema-valid
request must not get a 422, except for what a JSON Schema cannot state:
- a value the catalog does not know (the 422 names the allowed ones);
- an event time outside [1995-01-01, arrival + 5 min].
A 400 (parameters that contradict each other, e.g. year_min > year_max, or a variant no
experiment has) is a documented answer to a schema-valid request.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from tests.api.conftest import FakeService, make_settings

EXAMPLES = 50
DATA_DEPENDENT_422 = ("allowed", "ts: must be between")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    app = create_app(make_settings(), lambda _s: FakeService())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
        not server.started or app.state.engine_state.status != "ready"
    ):
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def no_schema_lie(response: Any) -> None:
    if response.status_code != 422:
        return
    message = response.json()["error"]["message"]
    assert any(reason in message for reason in DATA_DEPENDENT_422), (
        f"schema-valid request rejected: {response.request.method} {response.request.url}: "
        f"{message}"
    )


def test_every_operation_conforms_to_its_schema(base_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    cases = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            nonlocal cases
            cases += 1
            response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
            no_schema_lie(response)

        try:
            run()
        except BaseException as exc:  # a FailureGroup is a BaseException group
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    print(f"schemathesis: {cases} cases over {len(operations)} operations")
    assert cases >= 100
    assert failures == [], "\n\n".join(failures)
