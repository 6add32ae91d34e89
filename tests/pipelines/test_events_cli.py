"""``recsys events export``: JSON lines to stdout or a file, from the server's default store."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from recsys.events.schema import validate_events
from recsys.events.store import EVENTS_DB_ENV, SqliteEventStore

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "events.sqlite3"
    store = SqliteEventStore(path)
    store.append_events(
        validate_events(
            [
                {"event_id": "b", "type": "play", "user_id": "u1", "item_id": "m2",
                 "ts": "2026-11-20T12:00:01+00:00"},
                {"event_id": "a", "type": "click", "user_id": "u1", "item_id": "m1",
                 "request_id": "r1", "position": 3, "ts": "2026-11-20T12:00:00.25Z"},
                {"event_id": "c", "type": "rating", "user_id": "u2", "item_id": "m1",
                 "value": 4.5, "ts": "2026-11-20T13:00:00+01:00"},
            ]
        )
    )  # fmt: skip
    store.close()
    return path


def lines(text: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in text.splitlines()]


def test_export_to_stdout(db: Path) -> None:
    result = runner.invoke(app, ["events", "export", "--db", str(db)])
    assert result.exit_code == 0, result.output
    rows = lines(result.stdout)
    assert [row["event_id"] for row in rows] == ["c", "a", "b"]  # by ts (c is 12:00:00 UTC)
    first = rows[1]
    assert first["ts"] == "2026-11-20T12:00:00.250Z"
    assert (first["type"], first["request_id"], first["position"]) == ("click", "r1", 3)
    assert str(first["received_at"]).endswith("Z")
    assert rows[0]["value"] == 4.5 and rows[2]["value"] is None
    assert set(first) == {
        "event_id", "type", "user_id", "item_id", "request_id", "position", "ts", "value",
        "received_at",
    }  # fmt: skip


def test_export_to_file_with_type_filter(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "events.jsonl"
    result = runner.invoke(
        app, ["events", "export", "--db", str(db), "--out", str(out), "--type", "play",
              "--type", "rating"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert [row["event_id"] for row in lines(out.read_text())] == ["c", "b"]


def test_export_finds_the_store_through_the_env(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EVENTS_DB_ENV, str(db))
    result = runner.invoke(app, ["events", "export"])
    assert result.exit_code == 0, result.output
    assert len(lines(result.stdout)) == 3


def test_export_missing_db_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite3"
    result = runner.invoke(app, ["events", "export", "--db", str(missing)])
    assert result.exit_code == 2
    assert "no event store" in result.output
    assert not missing.exists()


def test_export_unknown_type_exits_2(db: Path) -> None:
    result = runner.invoke(app, ["events", "export", "--db", str(db), "--type", "like"])
    assert result.exit_code == 2
    assert "--type must be one of" in result.output
