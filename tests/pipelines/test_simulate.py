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
