"""An artifact store behind a URL: push uploads a version and then moves `current`; a mirror
downloads it verified, refuses a corrupted one, and follows `current` to the next version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from recsys.core.artifact_store import ArtifactMirror, push
from recsys.core.artifacts import CURRENT, REQUIRED_FILES, Manifest, load_manifest, publish
from recsys.core.errors import ArtifactError


def fake_version(root: Path, seed: int) -> Path:
    def write(tmp: Path) -> Manifest:
        for name in REQUIRED_FILES:
            (tmp / name).write_bytes(np.random.default_rng(seed).bytes(64) + name.encode())
        return Manifest(
            version="", created_at="", code_version="", encoder={}, index={}, counts={},
            files={}, inputs={}, reports={},
        )  # fmt: skip

    return publish(root, f"{seed:08x}", write)


def test_push_then_mirror_follows_current(tmp_path: Path) -> None:
    local, store, mirror_dir = tmp_path / "local", tmp_path / "store", tmp_path / "mirror"
    first = fake_version(local, 1)
    url = f"file://{store}"
    assert push(local, url) == first.name
    assert (store / CURRENT).read_text().strip() == first.name
    mirror = ArtifactMirror(url, mirror_dir)
    synced = mirror.sync()
    directory, manifest = load_manifest(synced)  # checksums verified
    assert directory.name == first.name and manifest.files.keys() == set(REQUIRED_FILES)
    second = fake_version(local, 2)
    push(local, url)
    assert load_manifest(mirror.sync())[0].name == second.name
    assert (mirror_dir / first.name).exists()  # the old version stays for a rollback


def test_a_corrupted_download_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    local, store = tmp_path / "local", tmp_path / "store"
    version = fake_version(local, 3)
    push(local, f"file://{store}")
    (store / version.name / REQUIRED_FILES[0]).write_bytes(b"tampered")
    mirror = ArtifactMirror(f"file://{store}", tmp_path / "mirror")
    with pytest.raises(ArtifactError, match="does not match its manifest checksum"):
        mirror.sync()
    assert not (tmp_path / "mirror" / version.name).exists()
    assert not (tmp_path / "mirror" / CURRENT).exists()


def test_store_without_current_or_with_an_odd_pointer(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    with pytest.raises(ArtifactError, match="no current pointer"):
        ArtifactMirror(f"file://{store}", tmp_path / "m").sync()
    (store / CURRENT).write_text("../../etc\n")
    with pytest.raises(ArtifactError, match="not a version"):
        ArtifactMirror(f"file://{store}", tmp_path / "m").sync()


def test_push_command(tmp_path: Path) -> None:
    local = tmp_path / "local"
    version = fake_version(local, 4)
    store = tmp_path / "store"
    result = CliRunner().invoke(app, ["push", "--artifacts", str(local), "--to", f"file://{store}"])
    assert result.exit_code == 0, result.output
    assert json.loads((store / version.name / "manifest.json").read_text())["version"]
    shutil.rmtree(local)
    result = CliRunner().invoke(app, ["push", "--artifacts", str(local), "--to", f"file://{store}"])
    assert result.exit_code == 2 and "does not exist" in result.output
