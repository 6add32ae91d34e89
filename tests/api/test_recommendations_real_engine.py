"""The HTTP API over a real engine: an artifact built from the fixture data plus the
structured ratings of tests/personalization_data.py (HashingEncoder, small config)."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.settings import Settings
from pipelines.build import BuildOptions, build
from recsys.ranking.features import SOURCES
from recsys.search.encoder import HashingEncoder
from recsys.service import Engine
from tests.personalization_data import FIXTURE_DATA, small_config, write_ratings

os.environ["HF_HUB_OFFLINE"] = "1"

MakeClient = Callable[..., TestClient]
PATH = "/v1/recommendations"
RESPONSE_KEYS = {"request_id", "user_id", "model_version", "ranker", "cold_start", "items"}
RESPONSE_KEYS |= {"experiment", "variant"}
ITEM_KEYS = {
    "item_id",
    "title",
    "score",
    "reasons",
    "sources",
    "original_title",
    "year",
    "type",
    "genres",
    "description",
    "lang",
    "original_language",
    "maturity_rating",
}


@dataclass(frozen=True)
class Artifact:
    directory: Path
    facts: dict[str, Any]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    base = tmp_path_factory.mktemp("api-real-engine")
    data_dir = base / "data"
    shutil.copytree(FIXTURE_DATA, data_dir)
    facts = write_ratings(data_dir)
    options = BuildOptions(progress=False, config=small_config())
    directory = build(data_dir, base / "artifacts", options, encoder=HashingEncoder())
    return Artifact(directory, facts)


@pytest.fixture
def client(make_client: MakeClient, artifact: Artifact) -> TestClient:
    def load(_settings: Settings) -> Engine:
        return Engine.load(artifact.directory, encoder=HashingEncoder())

    return make_client(loader=load)


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["item_id"] for item in body["items"]]


def _check_shape(body: dict[str, Any], artifact: Artifact) -> None:
    assert set(body) == RESPONSE_KEYS
    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])
    assert body["model_version"] == artifact.directory.name
    for item in body["items"]:
        assert set(item) == ITEM_KEYS
        assert isinstance(item["score"], float)
        assert item["reasons"] and all(isinstance(r, str) and r for r in item["reasons"])
        assert item["sources"] and all(isinstance(s, str) for s in item["sources"])
        assert item["type"] in {"movie", "tv_show"}
        assert isinstance(item["genres"], list)


def test_ready_with_personalization(client: TestClient, artifact: Artifact) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["model_version"] == artifact.directory.name
    assert body["default_ranker"] == "lightgbm"
    assert body["search_ranker"] is True
    assert body["users"] == len(artifact.facts["ratings"])


def test_known_user(client: TestClient, artifact: Artifact) -> None:
    user = artifact.facts["known_user"]
    r = client.get(PATH, params={"user_id": user, "k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    _check_shape(body, artifact)
    assert r.headers["X-Request-ID"] == body["request_id"]
    assert body["user_id"] == user
    assert body["cold_start"] is False
    assert body["ranker"] == "lightgbm"
    assert len(body["items"]) == 5
    assert not set(_ids(body)) & set(artifact.facts["known_history"])
    for item in body["items"]:
        assert set(item["sources"]) <= set(SOURCES)
    # taste: the three group-a movies the user has not seen are in the top 5
    unseen_a = set(artifact.facts["group_a"]) - set(artifact.facts["known_history"])
    assert len(unseen_a) == 3 and unseen_a <= set(_ids(body))


def test_known_user_include_seen(client: TestClient, artifact: Artifact) -> None:
    user = artifact.facts["known_user"]
    seen = set(artifact.facts["known_history"])
    unseen = client.get(PATH, params={"user_id": user, "k": 100}).json()
    assert not seen & set(_ids(unseen))
    r = client.get(PATH, params={"user_id": user, "k": 100, "include_seen": "true"})
    assert r.status_code == 200, r.text
    assert seen <= set(_ids(r.json()))
    assert len(r.json()["items"]) == len(unseen["items"]) + len(seen)


def test_unknown_user(client: TestClient, artifact: Artifact) -> None:
    r = client.get(PATH, params={"user_id": "someone-new", "k": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    _check_shape(body, artifact)
    assert body["user_id"] == "someone-new"
    assert body["cold_start"] is True
    assert body["ranker"] == "popularity"
    assert len(body["items"]) == 4
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert all(item["sources"] == ["popular"] for item in body["items"])


def test_unknown_user_with_filters_and_lang(client: TestClient, artifact: Artifact) -> None:
    params = {"user_id": "someone-new", "k": 3, "type": "movie", "genre": "Drama", "lang": "fr"}
    r = client.get(PATH, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    _check_shape(body, artifact)
    for item in body["items"]:
        assert item["type"] == "movie"
        assert "drama" in {g.casefold() for g in item["genres"]}
    first = body["items"][0]
    assert first["item_id"] == "29"  # The City of Lost Children, originally in French
    assert first["lang"] == "fr"
    assert first["title"] == "La Cité des enfants perdus"
    assert any("French" in reason for reason in first["reasons"])


def test_contradictory_filters_are_400(client: TestClient) -> None:
    r = client.get(PATH, params={"user_id": "1", "year_min": 2000, "year_max": 1990})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("user_id", [None, "1", "100", "someone-new"])
def test_search(client: TestClient, artifact: Artifact, user_id: str | None) -> None:
    params: dict[str, Any] = {"q": "Fight Club", "k": 5}
    if user_id is not None:
        params["user_id"] = user_id
    r = client.get("/v1/search", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {
        "request_id",
        "query",
        "model_version",
        "query_language",
        "experiment",
        "variant",
        "items",
        "found",
        "offset",
        "ranker",
        "facets",
    }
    assert body["query"] == "Fight Club"
    assert body["model_version"] == artifact.directory.name
    assert body["found"] >= 1 and len(body["items"]) == min(5, body["found"])
    assert body["items"][0]["item_id"] == "2959"  # the exact title, not watched by these


def test_search_title_fragment_for_a_known_user(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "Lost Children", "user_id": "1", "k": 5})
    assert r.status_code == 200, r.text
    assert "29" in [item["item_id"] for item in r.json()["items"]]


def _recommend(client: TestClient, user: str) -> dict[str, Any]:
    r = client.get(PATH, params={"user_id": user, "k": 5})
    assert r.status_code == 200, r.text
    return r.json()


def test_feedback_changes_the_next_page_and_survives_a_restart(
    make_client: MakeClient, artifact: Artifact, tmp_path: Path
) -> None:
    """A new user's plays end cold start at once; the played items leave the list and name
    the reasons; a restarted server (same store) rebuilds the same state."""

    def load(_settings: Settings) -> Engine:
        return Engine.load(artifact.directory, encoder=HashingEncoder())

    events_db = tmp_path / "events.sqlite3"
    first = make_client(loader=load, events_db=events_db)
    assert _recommend(first, "newcomer")["cold_start"] is True
    played = artifact.facts["group_b"][:2]
    batch = [
        {"event_id": f"n{i}", "type": "play", "user_id": "newcomer", "item_id": item}
        for i, item in enumerate(played)
    ]
    assert first.post("/v1/events", json={"events": batch}).status_code == 200
    body = _recommend(first, "newcomer")
    assert body["cold_start"] is False and body["ranker"] == "lightgbm"
    ids = [item["item_id"] for item in body["items"]]
    assert not set(ids) & set(played)
    reasons = " ".join(r for item in body["items"] for r in item["reasons"])
    titles = {item: first.get(f"/v1/items/{item}").json()["title"] for item in played}
    assert any(title in reasons for title in titles.values()), reasons
    assert "recsys_online_users 1.0" in first.get("/metrics").text

    second = make_client(loader=load, events_db=events_db)
    assert [item["item_id"] for item in _recommend(second, "newcomer")["items"]] == ids


def test_popular_is_the_cold_start_list_without_a_user(client: TestClient) -> None:
    r = client.get("/v1/popular", params={"k": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user_id"] == "" and body["cold_start"] is True
    assert body["experiment"] is None and body["variant"] is None
    cold = client.get(PATH, params={"user_id": "someone-new", "k": 4}).json()
    assert [i["item_id"] for i in body["items"]] == [i["item_id"] for i in cold["items"]]
    movies = client.get("/v1/popular", params={"k": 3, "type": "movie"}).json()["items"]
    assert movies and all(item["type"] == "movie" for item in movies)
    assert client.get("/v1/popular", params={"k": 0}).status_code == 422


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_replicas_sharing_a_store_converge(
    make_client: MakeClient,
    artifact: Artifact,
    tmp_path: Path,
    store: str,
    request: pytest.FixtureRequest,
) -> None:
    """A play posted to one replica reaches the other through the shared event store (a
    SQLite file, or PostgreSQL) within the watcher's interval."""

    def load(_settings: Settings) -> Engine:
        return Engine.load(artifact.directory, encoder=HashingEncoder())

    shared: dict[str, Any] = {"events_db": tmp_path / "events.sqlite3", "reload_interval_s": 0.1}
    if store == "postgres":
        shared["events_url"] = request.getfixturevalue("postgres_url")
    shared["artifacts_dir"] = artifact.directory.parent
    one, two = make_client(loader=load, **shared), make_client(loader=load, **shared)
    assert _recommend(two, "roamer")["cold_start"] is True
    event = {"event_id": "r1", "type": "play", "user_id": "roamer", "item_id": "1"}
    assert one.post("/v1/events", json={"events": [event]}).status_code == 200
    deadline = time.monotonic() + 5
    while _recommend(two, "roamer")["cold_start"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _recommend(two, "roamer")["cold_start"] is False
    assert _recommend(one, "roamer")["items"] == _recommend(two, "roamer")["items"]


def test_serve_workers_are_replicas_that_converge(artifact: Artifact, tmp_path: Path) -> None:
    """``recsys serve --workers 2``: two processes on one port, each ready with its own
    engine; a play posted through either is visible through both (the shared store)."""
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "RECSYS_EVENTS_DB": str(tmp_path / "events.sqlite3"),
        "RECSYS_RELOAD_INTERVAL_S": "0.2",
        "RECSYS_EXPERIMENTS_PATH": "",
        "RECSYS_REQUEST_LOG": "",
    }
    command = [sys.executable, "-m", "pipelines.cli", "serve", "--workers", "2"]
    command += ["--artifacts", str(artifact.directory.parent), "--port", str(port)]
    server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        ready = 0
        while ready < 10 and time.monotonic() < deadline:  # 10 in a row: both workers up
            try:
                ok = httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                ok = False
            ready = ready + 1 if ok else 0
            time.sleep(0.1 if ok else 0.5)
        assert ready == 10, "the workers did not become ready"
        workers = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True)
        assert len(workers.stdout.split()) >= 2
        event = {"event_id": "w1", "type": "play", "user_id": "wanderer", "item_id": "1"}
        assert httpx.post(f"{base}/v1/events", json={"events": [event]}).status_code == 200
        seen: list[bool] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (len(seen) >= 20 and all(seen[-20:])):
            with httpx.Client() as fresh:  # a new connection: either worker may answer
                params = {"user_id": "wanderer", "k": 5}
                body = fresh.get(f"{base}/v1/recommendations", params=params).json()
            seen.append(body["cold_start"] is False)
            time.sleep(0.05)
        assert len(seen) >= 20 and all(seen[-20:])
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_replica_serves_from_an_artifact_store(
    make_client: MakeClient, artifact: Artifact, tmp_path: Path
) -> None:
    """RECSYS_ARTIFACTS_URL: the store's `current` is mirrored (verified) into artifacts_dir
    and served from there; a new version pushed to the store is swapped in by a reload."""
    from recsys.core.artifact_store import push

    store = f"file://{tmp_path / 'store'}"
    push(artifact.directory.parent, store)

    def load(settings: Settings) -> Engine:
        return Engine.load(settings.artifacts_dir, encoder=HashingEncoder())

    mirror = tmp_path / "mirror"
    client = make_client(loader=load, artifacts_url=store, artifacts_dir=mirror, wait=False)
    assert client.app.state.engine_state.wait(timeout=60)  # type: ignore[attr-defined]
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["model_version"] == artifact.directory.name
    assert (mirror / "current").read_text().strip() == artifact.directory.name
