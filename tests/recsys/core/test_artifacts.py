"""publish / load_manifest: versioned directories, a `current` pointer, refusals that
name the problem."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from recsys.core.artifacts import (
    CURRENT,
    FORMAT_VERSION,
    MANIFEST,
    REQUIRED_FILES,
    Manifest,
    _prune,
    current_version,
    list_versions,
    load_manifest,
    publish,
    resolve_artifact_dir,
    set_current,
    sha256_file,
)
from recsys.core.errors import ArtifactError

HASH = "3f2a9c1d" + "0" * 56


def make_writer(
    files: tuple[str, ...] = REQUIRED_FILES, extra: dict[str, bytes] | None = None
) -> Callable[[Path], Manifest]:
    def write(tmp: Path) -> Manifest:
        for name in files:
            (tmp / name).write_bytes(f"contents of {name}".encode())
        for name, data in (extra or {}).items():
            (tmp / name).write_bytes(data)
        return Manifest(
            version="",
            created_at="2026-11-20T22:15:00+00:00",
            code_version="test",
            encoder={"model": "hashing", "dim": 256},
            index={"kind": "flat"},
            counts={"items": 3, "documents": 7},
            files={},
            inputs={"movielens/movies.csv": "abc"},
            reports={"embeddings": {"total": 7, "cached": 0, "encoded": 7}},
        )

    return write


def versions(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def live(root: Path) -> str:
    return (root / CURRENT).read_text().strip()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def published(root: Path) -> Path:
    return publish(root, HASH, make_writer(extra={"notes.txt": "ünïcode".encode()}))


# ----------------------------------------------------------------------------- publish


def test_publish_layout(root: Path, published: Path) -> None:
    assert published.parent == root
    assert re.fullmatch(r"\d{8}T\d{12}Z-3f2a9c1d", published.name)
    assert versions(root) == [published.name]
    assert (root / CURRENT).read_text() == published.name + "\n"
    assert sorted(p.name for p in published.iterdir()) == sorted(
        [*REQUIRED_FILES, "notes.txt", MANIFEST]
    )
    # no temporary directory or pointer left behind
    assert sorted(p.name for p in root.iterdir()) == sorted([CURRENT, published.name])


def test_manifest_lists_every_file_with_checksum(published: Path) -> None:
    data = json.loads((published / MANIFEST).read_text())
    assert data["version"] == published.name
    assert data["format_version"] == FORMAT_VERSION
    assert sorted(data["files"]) == sorted([*REQUIRED_FILES, "notes.txt"])
    for name, meta in data["files"].items():
        assert meta == {
            "sha256": sha256_file(published / name),
            "bytes": (published / name).stat().st_size,
        }
    assert data["counts"] == {"items": 3, "documents": 7}
    assert data["encoder"] == {"model": "hashing", "dim": 256}


def test_load_manifest_via_root_and_version_dir(root: Path, published: Path) -> None:
    directory, manifest = load_manifest(root)
    assert directory == published
    assert manifest.version == published.name
    assert manifest.counts == {"items": 3, "documents": 7}
    assert manifest.reports["embeddings"]["encoded"] == 7
    directory2, manifest2 = load_manifest(published)
    assert directory2 == published
    assert manifest2 == manifest
    assert Manifest.from_dict(manifest.to_dict()) == manifest


def test_resolve_artifact_dir(root: Path, published: Path) -> None:
    assert resolve_artifact_dir(root) == published
    assert resolve_artifact_dir(published) == published
    assert resolve_artifact_dir(str(root)) == published  # type: ignore[arg-type]


def test_second_publish_moves_current(root: Path, published: Path) -> None:
    second = publish(root, "ffffffff" + HASH[8:], make_writer())
    assert second != published
    assert live(root) == second.name
    assert versions(root) == sorted([published.name, second.name])
    assert load_manifest(root)[0] == second
    assert load_manifest(published)[0] == published  # the old version stays loadable


# ---------------------------------------------------------------------------- refusals


def test_missing_file_is_refused(published: Path) -> None:
    (published / "vectors.npy").unlink()
    with pytest.raises(ArtifactError, match="incomplete: vectors.npy is missing"):
        load_manifest(published)


def test_checksum_mismatch_is_refused(root: Path, published: Path) -> None:
    (published / "catalog.parquet").write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match="catalog.parquet does not match its manifest checksum"):
        load_manifest(root)
    # the check can be skipped explicitly
    assert load_manifest(root, verify_checksums=False)[0] == published


def test_manifest_not_listing_a_required_file_is_refused(root: Path) -> None:
    directory = publish(root, HASH, make_writer(files=REQUIRED_FILES[:-1]))
    with pytest.raises(ArtifactError, match=f"does not list {REQUIRED_FILES[-1]}"):
        load_manifest(directory)


@pytest.mark.parametrize("version", [0, FORMAT_VERSION + 1, "1"])
def test_wrong_format_version_is_refused(published: Path, version: object) -> None:
    path = published / MANIFEST
    data = json.loads(path.read_text())
    data["format_version"] = version
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=f"artifact format {version}.*Rebuild"):
        load_manifest(published)


def test_unreadable_manifest_is_refused(published: Path) -> None:
    (published / MANIFEST).write_text("{not json")
    with pytest.raises(ArtifactError, match="cannot read"):
        load_manifest(published)


def test_manifest_missing_fields_is_refused(published: Path) -> None:
    (published / MANIFEST).write_text(json.dumps({"format_version": FORMAT_VERSION}))
    with pytest.raises(ArtifactError, match="manifest is missing fields"):
        load_manifest(published)


def test_root_without_current_is_refused(tmp_path: Path) -> None:
    (tmp_path / "something").mkdir()
    with pytest.raises(ArtifactError, match=f"neither {MANIFEST} nor a {CURRENT} pointer"):
        load_manifest(tmp_path)


@pytest.mark.parametrize("pointer", ["20990101T000000000000Z-deadbeef\n", "", "\n"])
def test_current_naming_no_directory_is_refused(root: Path, published: Path, pointer: str):
    (root / CURRENT).write_text(pointer)
    with pytest.raises(ArtifactError, match="which is not a directory"):
        load_manifest(root)


def test_nonexistent_directory_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ArtifactError, match=r"does not exist.*recsys build"):
        load_manifest(missing)
    assert not missing.exists()


# ------------------------------------------------------------------- failure and prune


class Boom(RuntimeError):
    pass


def test_failing_write_leaves_nothing_behind(root: Path) -> None:
    def write(tmp: Path) -> Manifest:
        (tmp / "catalog.parquet").write_bytes(b"half")
        raise Boom("disk on fire")

    with pytest.raises(Boom, match="disk on fire"):
        publish(root, HASH, write)
    assert list(root.iterdir()) == []


def test_failing_write_keeps_current(root: Path, published: Path) -> None:
    before = sorted(p.name for p in root.iterdir())

    def write(tmp: Path) -> Manifest:
        make_writer()(tmp)
        raise KeyboardInterrupt  # even a BaseException cleans up

    with pytest.raises(KeyboardInterrupt):
        publish(root, HASH, write)
    assert sorted(p.name for p in root.iterdir()) == before
    assert live(root) == published.name
    assert load_manifest(root)[0] == published


def test_prune_keeps_the_newest(root: Path) -> None:
    made = [publish(root, HASH, make_writer(), keep=3).name for _ in range(5)]
    assert made == sorted(made)  # version names sort chronologically
    assert versions(root) == made[-3:]
    assert live(root) == made[-1]


@pytest.mark.parametrize("keep", [1, 0])
def test_prune_never_removes_the_live_version(root: Path, keep: int) -> None:
    for _ in range(3):
        last = publish(root, HASH, make_writer(), keep=keep)
    assert versions(root) == [last.name]
    assert load_manifest(root)[0] == last


def test_prune_keeps_live_version_even_when_oldest(root: Path) -> None:
    made = [publish(root, HASH, make_writer(), keep=10).name for _ in range(4)]
    (root / CURRENT).write_text(made[0] + "\n")  # rolled back by hand
    _prune(root, keep=2)
    assert versions(root) == [made[0], made[-1]]
    assert load_manifest(root)[0].name == made[0]


def test_prune_ignores_non_version_directories(root: Path, published: Path) -> None:
    (root / ".cache" / "embeddings").mkdir(parents=True)
    (root / "notes").mkdir()
    for _ in range(3):
        publish(root, HASH, make_writer(), keep=1)
    assert (root / ".cache" / "embeddings").is_dir()
    assert (root / "notes").is_dir()


# ----------------------------------------------------------------------------- versions


@pytest.mark.parametrize("pointer", ["../elsewhere", "/tmp", "..", ".", "a/b"])
def test_current_pointing_outside_the_root_is_refused(
    root: Path, published: Path, pointer: str
) -> None:
    (root.parent / "elsewhere").mkdir()
    (root / CURRENT).write_text(pointer + "\n")
    with pytest.raises(ArtifactError, match="not a directory in"):
        resolve_artifact_dir(root)


def test_current_naming_a_symlink_out_of_the_root_is_refused(root: Path, published: Path) -> None:
    (root / "escape").symlink_to(published.parent.parent)
    (root / CURRENT).write_text("escape\n")
    with pytest.raises(ArtifactError, match="resolves outside"):
        resolve_artifact_dir(root)


def test_list_set_and_read_current(root: Path, published: Path) -> None:
    second = publish(root, "b" * 64, make_writer())
    assert list_versions(root) == sorted([published.name, second.name])
    assert current_version(root) == second.name
    assert set_current(root, published.name) == published
    assert current_version(root) == published.name == resolve_artifact_dir(root).name
    (second / "ease.npz").write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match="checksum"):
        set_current(root, second.name)  # never point at a version that would not load
    assert current_version(root) == published.name
    with pytest.raises(ArtifactError, match="not a directory"):
        set_current(root, "../x")
