"""Experiments over HTTP: listing, assignment, arms in responses, the ``variant=`` override,
team-draft interleaving and the exposure log (against the fake engine)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from recsys.core.errors import InputDataError
from recsys.core.types import Capabilities
from recsys.events.store import SqliteEventStore
from recsys.experiments.loading import load_experiments
from recsys.ranking.rankers import NoOpRanker
from tests.api.conftest import FakeService, make_settings

CONFIG = """
[[experiments]]
key = "rank-test"
salt = "s1"
traffic = 1.0
surfaces = ["search", "recommendations"]

[[experiments.variants]]
name = "control"
weight = 1
ranker = "noop"

[[experiments.variants]]
name = "treatment"
weight = 1
ranker = "lightgbm"

[[experiments.variants]]
name = "interleaved"
weight = 2
interleave = ["noop", "lightgbm"]
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "experiments.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def setup(tmp_path: Path, config_path: Path, fake: FakeService) -> dict[str, Any]:
    settings = make_settings(experiments_path=config_path, events_db=tmp_path / "ev.sqlite3")
    app = create_app(settings, lambda _s: fake)
    return {"app": app, "db": tmp_path / "ev.sqlite3", "config": load_experiments(config_path)}


def users_in(config_path: Path, variant: str, n: int = 1) -> list[str]:
    config = load_experiments(config_path)
    found = [
        f"user{i}"
        for i in range(2000)
        if (a := config.assign(f"user{i}", "search")) and a.variant == variant
    ]
    return found[:n]


def test_list_experiments(setup: dict[str, Any]) -> None:
    with TestClient(setup["app"]) as client:
        body = client.get("/v1/experiments").json()
    (experiment,) = body["experiments"]
    assert experiment["key"] == "rank-test" and experiment["traffic"] == 1.0
    assert [(v["name"], v["weight"]) for v in experiment["variants"]] == [
        ("control", 0.25),
        ("treatment", 0.25),
        ("interleaved", 0.5),
    ]


def test_assignment_is_deterministic_and_matches_responses(
    setup: dict[str, Any], config_path: Path
) -> None:
    with TestClient(setup["app"]) as client:
        setup["app"].state.engine_state.wait(5)
        counts: Counter[str] = Counter()
        for i in range(400):
            user = f"user{i}"
            r = client.get("/v1/experiments/rank-test/assignment", params={"user_id": user})
            assert r.status_code == 200
            body = r.json()
            assert body["experiment"] == "rank-test" and body["user_id"] == user
            counts[body["variant"]] += 1
            if i < 20:  # the responses carry the same arm
                search = client.get("/v1/search", params={"q": "robot", "user_id": user}).json()
                recs = client.get("/v1/recommendations", params={"user_id": user}).json()
                assert search["variant"] == recs["variant"] == body["variant"]
                assert search["experiment"] == recs["experiment"] == "rank-test"
        again = client.get("/v1/experiments/rank-test/assignment", params={"user_id": "user7"})
    assert (
        again.json()["variant"] == load_experiments(config_path).assign("user7", "search").variant
    )
    # 1:1:2 weights; 400 users: each share within 0.1 of its weight
    assert abs(counts["interleaved"] / 400 - 0.5) < 0.1
    assert abs(counts["control"] / 400 - 0.25) < 0.1


def test_assignment_errors(setup: dict[str, Any]) -> None:
    with TestClient(setup["app"]) as client:
        r = client.get("/v1/experiments/nope/assignment", params={"user_id": "u"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = client.get("/v1/experiments/rank-test/assignment")
        assert r.status_code == 422


def test_arm_ranker_reaches_the_engine(
    setup: dict[str, Any], config_path: Path, fake: FakeService
) -> None:
    (control,) = users_in(config_path, "control")
    (treatment,) = users_in(config_path, "treatment")
    with TestClient(setup["app"]) as client:
        setup["app"].state.engine_state.wait(5)
        client.get("/v1/search", params={"q": "robot", "user_id": control})
        client.get("/v1/recommendations", params={"user_id": treatment})
    assert fake.calls[0][1]["ranker"] == "noop"
    assert fake.calls[1][1]["ranker"] == "lightgbm"


def test_anonymous_search_has_no_experiment(setup: dict[str, Any]) -> None:
    with TestClient(setup["app"]) as client:
        setup["app"].state.engine_state.wait(5)
        body = client.get("/v1/search", params={"q": "robot"}).json()
    assert body["experiment"] is None and body["variant"] is None


def test_variant_override_is_served_but_not_logged_as_randomized(
    setup: dict[str, Any], config_path: Path
) -> None:
    (control,) = users_in(config_path, "control")
    with TestClient(setup["app"]) as client:
        setup["app"].state.engine_state.wait(5)
        r = client.get(
            "/v1/recommendations",
            params={"user_id": control, "variant": "treatment"},
            headers={"X-Request-ID": "forced-1"},
        )
        assert r.status_code == 200
        assert (r.json()["experiment"], r.json()["variant"]) == ("rank-test", "treatment")
        bad = client.get("/v1/search", params={"q": "robot", "variant": "nope"})
        assert bad.status_code == 400 and "nope" in bad.json()["error"]["message"]
        bad = client.get("/v1/search", params={"q": "robot", "variant": "a b"})
        assert bad.status_code == 422
    exposures = SqliteEventStore(setup["db"], create=False).read_exposures()
    row = exposures.filter(exposures["request_id"] == "forced-1").to_dicts()[0]
    assert row["experiment"] is None and row["variant"] == "treatment"


def test_exposures_logged_with_arm_items_and_interleaving_teams(
    setup: dict[str, Any], config_path: Path
) -> None:
    users = users_in(config_path, "interleaved", 3) + users_in(config_path, "control", 2)
    pages: dict[str, list[str]] = {}
    with TestClient(setup["app"]) as client:
        setup["app"].state.engine_state.wait(5)
        for n, user in enumerate(users):
            request_id = f"req-{n}"
            body = client.get(
                "/v1/recommendations",
                params={"user_id": user, "k": 4},
                headers={"X-Request-ID": request_id},
            ).json()
            pages[request_id] = [item["item_id"] for item in body["items"]]
            again = client.get(
                "/v1/recommendations",
                params={"user_id": user, "k": 4},
                headers={"X-Request-ID": request_id},
            ).json()
            assert [item["item_id"] for item in again["items"]] == pages[request_id]
    exposures = SqliteEventStore(setup["db"], create=False).read_exposures()
    by_id = {row["request_id"]: row for row in exposures.to_dicts()}
    for n, user in enumerate(users):
        row = by_id[f"req-{n}"]
        assert row["user_id"] == user and row["route"] == "recommendations"
        assert row["experiment"] == "rank-test"
        assert row["items"] == pages[f"req-{n}"]
        if n < 3:
            assert row["variant"] == "interleaved"
            assert len(row["teams"]) == len(row["items"])
            assert set(row["teams"]) <= {"noop", "lightgbm"}
            counts = Counter(row["teams"])
            assert abs(counts["noop"] - counts["lightgbm"]) <= 1
        else:
            assert row["variant"] == "control" and row["teams"] is None


def test_invalid_experiments_file_fails_at_startup(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(CONFIG.replace('ranker = "noop"', 'ranker = "popularity"'))
    with pytest.raises(InputDataError, match="cannot order search results"):
        create_app(make_settings(experiments_path=path))
    path.write_text(CONFIG.replace("traffic = 1.0", "traffic = 1.5"))
    with pytest.raises(InputDataError):
        create_app(make_settings(experiments_path=path))
    with pytest.raises(InputDataError, match="does not exist"):
        create_app(make_settings(experiments_path=tmp_path / "missing.toml"))


def test_demo_config_is_servable() -> None:
    app = create_app(make_settings(experiments_path=Path("recsys/defaults/experiments.toml")))
    (experiment,) = app.state.experiments.running("recommendations")
    assert {v.name for v in experiment.variants} >= {"control", "treatment"}
    assert not app.state.experiments.running("search")


def test_engine_that_cannot_serve_an_arm_fails_to_load(
    tmp_path: Path, make_client: Callable[..., TestClient]
) -> None:
    """An artifact without a personal search ranker cannot serve the LightGBM search arm:
    the load fails with the reason instead of answering that arm with retrieval order."""

    class NoSearchRanker(FakeService):
        def capabilities(self) -> Capabilities:
            caps = super().capabilities()
            return replace(caps, search_rankers=(NoOpRanker.name,))

    path = tmp_path / "experiments.toml"
    path.write_text(CONFIG)
    client = make_client(loader=lambda _s: NoSearchRanker(), experiments_path=path)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "failed"
    assert "ranker 'lightgbm' cannot order search results" in ready.json()["reason"]
    assert client.get("/v1/search", params={"q": "robot"}).status_code == 503
    ok = make_client(loader=lambda _s: FakeService(), experiments_path=path)
    assert ok.get("/readyz").json()["status"] == "ready"


def test_interleaved_search_names_both_rankers_and_keeps_found(
    setup: dict[str, Any], config_path: Path
) -> None:
    (user,) = users_in(config_path, "interleaved", 1)
    (control,) = users_in(config_path, "control", 1)
    with TestClient(setup["app"]) as client:
        setup["app"].state.engine_state.wait(5)
        mixed = client.get("/v1/search", params={"q": "robot", "user_id": user, "k": 4}).json()
        plain = client.get("/v1/search", params={"q": "robot", "user_id": control, "k": 4}).json()
    assert mixed["variant"] == "interleaved" and mixed["ranker"] == "noop+lightgbm"
    assert plain["ranker"] == "noop"
    assert mixed["found"] == plain["found"] > 0  # the arms share the matches
