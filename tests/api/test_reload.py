"""Zero-downtime swaps: the service follows `current`, validates a new version beside the
old one, swaps it in, refuses a bad one (the old one keeps serving, /readyz says why), and
requests already running finish on the version they started with."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from api.settings import Settings
from recsys.core.artifacts import CURRENT, MANIFEST, resolve_artifact_dir
from recsys.core.errors import ArtifactError
from recsys.core.types import SearchRequest, SearchResult
from tests.api.conftest import FakeService


class VersionedFake(FakeService):
    """A fake engine for one version directory; ``gate`` (when set) holds searches."""

    def __init__(self, version: str, gate: threading.Event | None = None) -> None:
        super().__init__()
        self._version = version
        self.gate = gate

    @property
    def model_version(self) -> str:  # type: ignore[override]
        return self._version

    def search(self, request: SearchRequest) -> SearchResult:
        if self.gate is not None and request.query == "wait":
            assert self.gate.wait(10)
        return dataclasses.replace(super().search(request), model_version=self._version)

    def self_check(self) -> list[str]:
        return ["known answer missing"] if "nocheck" in self._version else []


class Versions:
    """An artifact root whose versions are directories with a manifest file; the loader
    builds a ``VersionedFake`` for the directory ``current`` names, and fails for names
    containing "broken"."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.gate: threading.Event | None = None
        self.loaded: list[str] = []

    def publish(self, name: str) -> None:
        (self.root / name).mkdir(parents=True)
        (self.root / name / MANIFEST).write_text("{}")
        (self.root / CURRENT).write_text(name + "\n")

    def load(self, settings: Settings) -> VersionedFake:
        name = resolve_artifact_dir(settings.artifacts_dir).name
        self.loaded.append(name)
        if "broken" in name:
            raise ArtifactError(f"{name}/vectors.npy does not match its manifest checksum")
        return VersionedFake(name, self.gate)


def started(
    make_client: Callable[..., TestClient], tmp_path: Path, **kw: object
) -> tuple[TestClient, Versions]:
    versions = Versions(tmp_path / "artifacts")
    versions.publish("v1")
    client = make_client(loader=versions.load, artifacts_dir=versions.root, **kw)
    return client, versions


def reload(client: TestClient) -> dict[str, object]:
    response = client.post("/v1/admin/reload")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_new_version_swaps_in_and_serves(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client, versions = started(make_client, tmp_path)
    assert client.get("/v1/search", params={"q": "robot"}).json()["model_version"] == "v1"
    assert reload(client)["outcome"] == "unchanged"

    versions.publish("v2")
    body = reload(client)
    assert (body["outcome"], body["version"], body["serving"]) == ("swapped", "v2", "v2")
    assert client.get("/v1/search", params={"q": "robot"}).json()["model_version"] == "v2"
    assert client.get("/readyz").json()["model_version"] == "v2"
    listed = client.get("/v1/admin/versions").json()
    assert (listed["serving"], listed["current"]) == ("v2", "v2")
    assert [v["version"] for v in listed["versions"]] == ["v1", "v2"]
    assert listed["last_reload"]["outcome"] == "swapped" and listed["refused"] is None
    metrics = client.get("/metrics").text
    assert 'recsys_reloads_total{outcome="swapped"} 1.0' in metrics
    assert 'recsys_model_version_info{version="v2"} 1.0' in metrics
    assert 'recsys_model_version_info{version="v1"}' not in metrics


def test_a_bad_version_is_refused_and_the_old_one_keeps_serving(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client, versions = started(make_client, tmp_path)
    for bad, reason in (("v2-broken", "checksum"), ("v3-nocheck", "known-answer check failed")):
        versions.publish(bad)
        body = reload(client)
        assert (body["outcome"], body["version"], body["serving"]) == ("refused", bad, "v1")
        assert reason in str(body["reason"])
        assert client.get("/v1/search", params={"q": "robot"}).json()["model_version"] == "v1"
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["model_version"] == "v1"
        assert ready.json()["refused_version"]["version"] == bad
    assert 'recsys_reloads_total{outcome="refused"} 2.0' in client.get("/metrics").text

    versions.publish("v4")
    assert reload(client)["outcome"] == "swapped"
    assert "refused_version" not in client.get("/readyz").json()


def test_current_pointing_outside_the_root_is_refused(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client, versions = started(make_client, tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / MANIFEST).write_text("{}")
    for pointer in ("../elsewhere", str(outside), "..", ""):
        (versions.root / CURRENT).write_text(pointer + "\n")
        body = reload(client)
        assert body["outcome"] == "refused" and body["serving"] == "v1", pointer
    (versions.root / "escape").symlink_to(outside)
    (versions.root / CURRENT).write_text("escape\n")
    body = reload(client)
    assert body["outcome"] == "refused" and "outside" in str(body["reason"])
    assert "escape" not in versions.loaded and "elsewhere" not in versions.loaded


def test_requests_in_flight_finish_on_the_version_they_started_with(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client, versions = started(make_client, tmp_path)
    gate = threading.Event()
    engine = client.app.state.engine_state.engine  # type: ignore[attr-defined]
    engine.gate = gate
    answers: list[str] = []

    def slow_search() -> None:
        response = client.get("/v1/search", params={"q": "wait"})
        answers.append(response.json()["model_version"])

    thread = threading.Thread(target=slow_search)
    thread.start()
    time.sleep(0.2)  # the request now holds v1
    versions.publish("v2")
    assert reload(client)["outcome"] == "swapped"
    assert client.get("/v1/search", params={"q": "robot"}).json()["model_version"] == "v2"
    gate.set()
    thread.join(10)
    assert answers == ["v1"]


def test_the_watcher_follows_current(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client, versions = started(make_client, tmp_path, reload_interval_s=0.05)
    versions.publish("v2")
    deadline = time.monotonic() + 5
    while client.get("/readyz").json()["model_version"] != "v2" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get("/readyz").json()["model_version"] == "v2"
    versions.publish("v3-broken")
    time.sleep(0.5)  # many polls: the refused version is loaded once, not on every poll
    assert versions.loaded.count("v3-broken") == 1
    assert client.get("/readyz").json()["refused_version"]["version"] == "v3-broken"
