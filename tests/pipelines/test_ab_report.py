"""`recsys ab-report`: table, JSON and PNG from exposures and events of the demo experiment."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from pipelines import ab_report as module
from pipelines.ab_report import ab_report, build_report, plot_report, render_table
from pipelines.evaluation_report import to_jsonable
from recsys.core.errors import NotFoundError
from recsys.experiments.interleaving import rng_for, team_draft
from recsys.experiments.loading import load_experiments

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# the earlier demo experiment (noop vs lightgbm on search): the report's known answers use it
RANKER_2026_11 = Path(__file__).resolve().parents[2] / "bench/experiments/ranker-2026-11.toml"
OLD_DEMO = ("--experiments", str(RANKER_2026_11))
TS = datetime(2026, 11, 20, 12, tzinfo=UTC)
BASE = [f"i{j}" for j in range(10)]
LEARNED = BASE[::-1]  # the "lightgbm" order: its top items are the ones users click more


def simulate(users: int = 600, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Serve the demo config to synthetic users; items i5..i9 are twice as attractive."""
    config = load_experiments(RANKER_2026_11)
    rng = np.random.default_rng(seed)
    exposures: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for u in range(users):
        user = f"user-{u}"
        assignment = config.assign(user, "search")
        assert assignment is not None
        for r in range(3):
            rid = f"{user}-{r}"
            teams = None
            if assignment.config.interleave:
                items, teams = team_draft(
                    BASE, LEARNED, 10, rng_for(rid), assignment.config.interleave
                )
            else:
                items = LEARNED if assignment.config.ranker == "lightgbm" else BASE
            exposures.append(
                {
                    "request_id": rid,
                    "ts": TS,
                    "route": "search",
                    "user_id": user,
                    "experiment": assignment.experiment,
                    "variant": assignment.variant,
                    "model_version": "v1",
                    "query": None,
                    "items": items,
                    "teams": teams,
                }
            )
            for pos, item in enumerate(items):
                p = (0.12 if int(item[1:]) >= 5 else 0.06) / (1 + 0.2 * pos)
                for kind in ("impression", "click") if rng.random() < p else ("impression",):
                    events.append(
                        {
                            "event_id": f"{rid}-{pos}-{kind}",
                            "type": kind,
                            "user_id": user,
                            "item_id": item,
                            "request_id": rid,
                            "position": pos,
                            "ts": TS,
                            "value": None,
                            "received_at": TS,
                        }
                    )
    return pl.DataFrame(exposures), pl.DataFrame(events)


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    exposures, events = simulate()
    return build_report(exposures, events, load_experiments(RANKER_2026_11), None, n_boot=300)


def test_report_content(report: dict[str, Any]) -> None:
    (exp,) = report["experiments"]
    assert exp["experiment"] == "ranker-2026-11" and exp["control"] == "control"
    assert list(exp["variants"]) == ["control", "treatment", "interleaved"]
    assert sum(v["users"] for v in exp["variants"].values()) == 600
    assert exp["impressions_from"] == "impression events"
    assert exp["variants"]["treatment"]["vs_control"]["ctr"]["low"] > 0
    assert not exp["srm"]["mismatch"]
    mix = exp["interleaving"]["interleaved"]
    assert (mix["baseline"], mix["challenger"]) == ("noop", "lightgbm")
    assert mix["win_rate"]["mean"] > 0.5 and mix["p_value"] is not None


def test_table(report: dict[str, Any]) -> None:
    table = render_table(report)
    lines = table.splitlines()
    assert lines[0].startswith("Experiment ranker-2026-11 (running, all pages); control: control")
    header = next(line for line in lines if line.startswith("variant "))
    assert all(col in header for col in ("users", "impressions", "CTR", "play rate", "NDCG@10"))
    rows = [line for line in lines if line.split()[:1] in (["control"], ["treatment"])]
    assert len({len(r) for r in rows[:2]}) == 1  # fixed width
    assert "Difference vs control" in table and "SRM: ok" in table
    assert "Interleaving interleaved: lightgbm vs noop: lightgbm win rate" in table


def test_json_and_png(report: dict[str, Any], tmp_path: Path) -> None:
    text = json.dumps(to_jsonable(report), allow_nan=False)
    assert json.loads(text)["experiments"][0]["srm"]["observed"]["control"] > 0
    path = plot_report(report, tmp_path / "plots" / "ab.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE) and path.stat().st_size > 10_000
    empty = plot_report({"experiments": []}, tmp_path / "empty.png")
    assert empty.read_bytes().startswith(PNG_SIGNATURE)
    assert "No experiments configured." in render_table({"experiments": []})


def test_unknown_experiment_and_unconfigured_keys() -> None:
    exposures, events = simulate(users=20)
    with pytest.raises(NotFoundError, match="unknown experiment 'nope'"):
        build_report(exposures, events, load_experiments(RANKER_2026_11), "nope")
    renamed = exposures.with_columns(pl.lit("old-exp").alias("experiment"))
    report = build_report(renamed, events, load_experiments(RANKER_2026_11), None, n_boot=100)
    assert report["unconfigured_experiments"] == ["old-exp"]
    assert report["experiments"][0]["variants"]["control"]["users"] == 0
    assert "Not in the config: old-exp" in render_table(report)


def test_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    frames = simulate(users=200)
    db = tmp_path / "events.sqlite3"
    db.touch()
    real = module._read_store  # checks the file, then needs recsys.events.store.SqliteEventStore
    monkeypatch.setattr(module, "_read_store", lambda path: frames if path == db else real(path))
    app = typer.Typer()
    app.command("ab-report")(ab_report)
    app.command("unused")(lambda: None)  # two commands, so the name is part of the CLI
    runner = CliRunner()

    plot = tmp_path / "ab.png"
    result = runner.invoke(
        app, ["ab-report", "--db", str(db), "--n-boot", "200", "--plot", str(plot), *OLD_DEMO]
    )
    assert result.exit_code == 0, result.output
    assert "Experiment ranker-2026-11" in result.output and plot.is_file()

    result = runner.invoke(
        app, ["ab-report", "--db", str(db), "--json", "--experiment", "ranker-2026-11", *OLD_DEMO]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["experiments"][0]["experiment"] == "ranker-2026-11"

    result = runner.invoke(app, ["ab-report", "--db", str(tmp_path / "missing.sqlite3")])
    assert result.exit_code == 2 and "no event store" in result.output
    result = runner.invoke(app, ["ab-report", "--db", str(db), "--experiment", "nope"])
    assert result.exit_code == 2 and "unknown experiment" in result.output

    result = runner.invoke(
        app, ["ab-report", "--db", str(db), "--json", "--surface", "search", *OLD_DEMO]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["surface"] == "search"
    result = runner.invoke(app, ["ab-report", "--db", str(db), "--surface", "checkout"])
    assert result.exit_code == 2 and "must be one of search" in result.output
    assert "Traceback" not in result.output


def test_command_reads_the_sqlite_store(tmp_path: Path) -> None:
    from recsys.events.schema import Exposure, validate_events
    from recsys.events.store import SqliteEventStore

    exposures, events = simulate(users=60)
    db = tmp_path / "events.sqlite3"
    store = SqliteEventStore(db)
    store.append_exposures(
        [
            Exposure(
                request_id=row["request_id"],
                route=row["route"],
                model_version=row["model_version"],
                items=tuple(row["items"]),
                user_id=row["user_id"],
                experiment=row["experiment"],
                variant=row["variant"],
                teams=None if row["teams"] is None else tuple(row["teams"]),
                ts=TS,
            )
            for row in exposures.iter_rows(named=True)
        ]
    )
    fields = ("event_id", "type", "user_id", "item_id", "request_id", "position")
    store.append_events(
        validate_events([{k: row[k] for k in fields} for row in events.iter_rows(named=True)])
    )
    store.close()
    app = typer.Typer()
    app.command("ab-report")(ab_report)
    app.command("unused")(lambda: None)
    result = CliRunner().invoke(
        app, ["ab-report", "--db", str(db), "--json", "--n-boot", "100", *OLD_DEMO]
    )
    assert result.exit_code == 0, result.output
    variants = json.loads(result.stdout)["experiments"][0]["variants"]
    assert sum(v["users"] for v in variants.values()) == 60
    assert (
        sum(v["clicks"] for v in variants.values())
        == events.filter(pl.col("type") == "click").height
    )
