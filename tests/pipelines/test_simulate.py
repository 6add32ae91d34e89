"""The traffic simulator: the click model (known answers) and a run against a real HTTP
server (the app with the fake engine and an experiment, under uvicorn in a thread)."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from api.app import create_app
from pipelines.ab_report import build_report
from pipelines.simulate import (
    ClickModel,
    read_holdout,
    run_simulation,
    sample_sizes,
    simulate_page,
    wait_for_exposures,
)
from pipelines.simulate_search import (
    page_truth,
    pick_target,
    run_search_simulation,
    session_query,
)
from recsys.core.errors import InputDataError
from recsys.events.store import SqliteEventStore
from recsys.experiments.loading import load_experiments
from tests.api.conftest import FakeService, make_settings
from tests.api.test_experiments import CONFIG


def test_click_model_known_answers() -> None:
    certain = ClickModel(eta=0.0, p_click=(0.0, 0.0, 1.0), p_play=(0.0, 0.0, 1.0))
    events = simulate_page(
        "r1", "u", ["a", "b", "c"], {"b": 5.0, "c": 2.0}, certain, random.Random(0)
    )
    kinds = [(e["type"], e["position"], e["item_id"]) for e in events]
    assert kinds == [
        ("impression", 0, "a"),
        ("impression", 1, "b"),
        ("click", 1, "b"),
        ("play", 1, "b"),
        ("impression", 2, "c"),
    ]
    assert len({e["event_id"] for e in events}) == len(events)
    assert all(e["request_id"] == "r1" and e["user_id"] == "u" for e in events)


def test_position_bias_lowers_examination_down_the_page() -> None:
    model = ClickModel(eta=1.0)
    rng = random.Random(1)
    seen = [0] * 10
    for n in range(2000):
        for event in simulate_page(f"r{n}", "u", [str(i) for i in range(10)], {}, model, rng):
            if event["type"] == "impression":
                seen[event["position"]] += 1
    assert seen[0] == 2000 and 900 < seen[1] < 1100 and 100 < seen[9] < 300


def test_read_holdout(tmp_path: Path) -> None:
    path = tmp_path / "holdout.csv"
    path.write_text("userId,movieId,rating,timestamp\n1,10,4.5,100\n1,11,2.0,101\n2,10,3,5\n")
    assert read_holdout(path) == {"1": {"10": 4.5, "11": 2.0}, "2": {"10": 3.0}}
    with pytest.raises(InputDataError):
        read_holdout(tmp_path / "missing.csv")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    config = tmp_path / "experiments.toml"
    config.write_text(CONFIG)
    db = tmp_path / "events.sqlite3"
    app = create_app(make_settings(events_db=db, experiments_path=config), lambda _s: FakeService())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", db
    uv.should_exit = True
    thread.join(10)


def test_simulation_end_to_end(server: tuple[str, Path], tmp_path: Path) -> None:
    url, db = server
    truth = {f"user{i}": {"m1": 5.0, "s1": 4.0} for i in range(40)}
    stats = run_simulation(url, truth, sorted(truth), sessions=2, k=4, seed=3, workers=2)
    assert stats.requests == 80 and stats.failed_requests == 0
    assert sum(stats.by_variant.values()) == 80
    assert stats.events_accepted == stats.events_posted > 0
    store = SqliteEventStore(db, create=False)
    exposures = wait_for_exposures(store.read_exposures, 80)
    events = store.read_events()
    store.close()
    assert exposures.height == 80 and set(exposures["experiment"]) == {"rank-test"}
    config = load_experiments(tmp_path / "experiments.toml")
    report = build_report(exposures, events, config, "rank-test", n_boot=200)
    (analysis,) = report["experiments"]
    assert analysis["srm"]["p_value"] is not None
    sizes = sample_sizes(exposures, events, config.get("rank-test"))
    assert {"ab", "interleaving", "interleaving_vote", "grid"} <= set(sizes)


def test_search_sessions_known_answers() -> None:
    truth = {"a": 5.0, "b": 2.0, "c": 4.5}
    rng = random.Random(0)
    assert {pick_target(truth, rng) for _ in range(50)} == {"a", "c"}  # liked ones only
    assert pick_target({"b": 2.0}, rng) == "b"  # or any, when nothing was liked
    grades = page_truth("c", truth)
    model = ClickModel()
    assert [model.grade(i, grades) for i in ("c", "a", "b", "zzz")] == [2, 1, 1, 0]
    rows = {"c": {"title": "The Matrix", "description": "A hacker learns the truth."}}
    first = session_query("u", 0, truth, rows, seed=1)  # a dict is a RowSource
    assert first == session_query("u", 0, truth, rows, seed=1)  # seeded
    asked = [session_query("u", s, {"c": 4.5}, rows, seed=1) for s in range(20)]
    assert all(a is not None and a[0] == "c" for a in asked)
    kinds = {a[1] for a in asked if a is not None}
    assert kinds <= {"title", "title_fragment", "title_prefix", "title_typo", "description"}
    assert session_query("u", 0, {"zz": 5.0}, rows, seed=1) is None  # no metadata


def test_search_simulation_end_to_end(server: tuple[str, Path], tmp_path: Path) -> None:
    url, db = server
    truth = {f"user{i}": {"m1": 5.0, "m4": 4.0, "m2": 2.0} for i in range(30)}
    stats = run_search_simulation(url, truth, sorted(truth), sessions=2, k=4, seed=3, workers=2)
    assert stats.requests == 60 and stats.failed_requests == 0
    assert stats.events_accepted == stats.events_posted > 0
    store = SqliteEventStore(db, create=False)
    exposures = wait_for_exposures(store.read_exposures, 60)
    events = store.read_events()
    store.close()
    assert exposures.height == 60 and set(exposures["route"]) == {"search"}
    assert exposures["query"].null_count() == 0
    config = load_experiments(tmp_path / "experiments.toml")
    report = build_report(exposures, events, config, "rank-test", n_boot=200, surface="search")
    assert report["surface"] == "search"
    (analysis,) = report["experiments"]
    assert sum(v["exposures"] for v in analysis["variants"].values()) == 60
    nothing = build_report(exposures, events, config, "rank-test", surface="recommendations")
    assert nothing["exposures"] == 0
    with pytest.raises(InputDataError, match="surface"):
        build_report(exposures, events, config, "rank-test", surface="checkout")


def test_cli_rejects_an_unknown_surface(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pipelines.cli import app

    holdout = tmp_path / "holdout.csv"
    holdout.write_text("userId,movieId,rating,timestamp\n1,10,4.5,100\n")
    args = ["simulate", "--holdout", str(holdout), "--surface", "checkout"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "--surface must be one of recommendations, search" in result.output
    assert "Traceback" not in result.output
