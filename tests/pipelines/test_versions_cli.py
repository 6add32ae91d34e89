"""`recsys versions` and `recsys rollback`: list versions, move `current` back safely."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pipelines.cli import app
from recsys.core.artifacts import current_version, publish
from tests.recsys.core.test_artifacts import make_writer

runner = CliRunner()


def three_versions(root: Path) -> list[str]:
    return [publish(root, c * 64, make_writer(), keep=5).name for c in "abc"]


def test_versions_lists_and_marks_current(tmp_path: Path) -> None:
    names = three_versions(tmp_path)
    result = runner.invoke(app, ["versions", "--artifacts", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["version"] for r in rows] == names
    assert [r["current"] for r in rows] == [False, False, True]
    assert all(r["complete"] and r["encoder"] == "hashing" for r in rows)
    table = runner.invoke(app, ["versions", "--artifacts", str(tmp_path)]).stdout
    assert f"* {names[2]}" in table and f"  {names[0]}" in table


def test_rollback_steps_back_and_to_a_named_version(tmp_path: Path) -> None:
    names = three_versions(tmp_path)
    result = runner.invoke(app, ["rollback", "--artifacts", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"{names[2]} -> {names[1]}" in result.stdout
    assert current_version(tmp_path) == names[1]
    assert runner.invoke(app, ["rollback", "--artifacts", str(tmp_path)]).exit_code == 0
    assert current_version(tmp_path) == names[0]
    result = runner.invoke(app, ["rollback", "--artifacts", str(tmp_path)])
    assert result.exit_code == 2 and "oldest version kept" in result.output
    result = runner.invoke(app, ["rollback", "--artifacts", str(tmp_path), "--to", names[2]])
    assert result.exit_code == 0 and current_version(tmp_path) == names[2]


def test_rollback_refuses_unknown_and_broken_versions(tmp_path: Path) -> None:
    names = three_versions(tmp_path)
    result = runner.invoke(app, ["rollback", "--artifacts", str(tmp_path), "--to", "nope"])
    assert result.exit_code == 2 and "no version 'nope'" in result.output
    (tmp_path / names[1] / "vectors.npy").write_bytes(b"corrupt")
    result = runner.invoke(app, ["rollback", "--artifacts", str(tmp_path)])
    assert result.exit_code == 2 and "checksum" in result.output
    assert current_version(tmp_path) == names[2]  # unchanged
    result = runner.invoke(app, ["versions", "--artifacts", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "does not exist" in result.output
    assert "Traceback" not in result.output
