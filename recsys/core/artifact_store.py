"""Artifact roots in an object store (S3-compatible or any fsspec URL), for replicas on
several machines: ``recsys artifacts push`` uploads a local version and then moves the
store's ``current``; each replica mirrors the store into a local directory and loads from
there (``RECSYS_ARTIFACTS_URL``; the watcher syncs before it looks at ``current``).

The store has the local layout (``<url>/current``, ``<url>/<version>/manifest.json`` and
the files it lists). Upload order makes a half-pushed version invisible: the files, then the
manifest, then ``current``. A mirror downloads a version into a temporary directory,
verifies every file against the manifest's sha256, and only then renames it into place and
moves its own ``current``: a replica never loads a partial or corrupted download.

``s3://`` needs the ``s3fs`` package (``pip install s3fs``); ``file://`` and ``memory://``
work out of the box (the tests use them).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from recsys.core.artifacts import (
    CURRENT,
    MANIFEST,
    _write_pointer,
    load_manifest,
    resolve_artifact_dir,
    sha256_file,
)
from recsys.core.errors import ArtifactError


def _filesystem(url: str) -> tuple[Any, str]:
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise ArtifactError(f"cannot open the artifact store {url}: {exc}") from exc
    return fs, path.rstrip("/")


def push(local: Path, url: str, version: str | None = None) -> str:
    """Upload a local version (default: the local ``current``) and point the store at it."""
    directory = resolve_artifact_dir(local / version if version else local)
    _, manifest = load_manifest(directory)  # verified before anything leaves the machine
    fs, root = _filesystem(url)
    target = f"{root}/{manifest.version}"
    fs.makedirs(target, exist_ok=True)
    for name in manifest.files:
        fs.put_file(str(directory / name), f"{target}/{name}")
    fs.put_file(str(directory / MANIFEST), f"{target}/{MANIFEST}")
    with fs.open(f"{root}/{CURRENT}", "w") as pointer:
        pointer.write(manifest.version + "\n")
    return manifest.version


class ArtifactMirror:
    """A local copy of an artifact store's ``current`` version, kept in step by ``sync``."""

    def __init__(self, url: str, local: Path) -> None:
        self.url = url
        self.local = Path(local)
        self.fs, self.root = _filesystem(url)

    def sync(self) -> Path:
        """Download ``current`` if it is new here; returns the local root (with ``current``)."""
        try:
            name = self.fs.cat_file(f"{self.root}/{CURRENT}").decode().strip()
        except (FileNotFoundError, OSError) as exc:
            raise ArtifactError(f"{self.url} has no {CURRENT} pointer: {exc}") from exc
        if not name or "/" in name or name.startswith("."):
            raise ArtifactError(f"{self.url}/{CURRENT} names {name!r}, not a version")
        self.local.mkdir(parents=True, exist_ok=True)
        if not (self.local / name / MANIFEST).exists():
            self._download(name)
        _write_pointer(self.local, name)
        return self.local

    def _download(self, name: str) -> None:
        source = f"{self.root}/{name}"
        try:
            manifest = json.loads(self.fs.cat_file(f"{source}/{MANIFEST}"))
        except (FileNotFoundError, OSError, json.JSONDecodeError) as exc:
            raise ArtifactError(f"{source}: no readable manifest: {exc}") from exc
        tmp = Path(tempfile.mkdtemp(prefix=f".download-{name}-", dir=self.local))
        try:
            for file, meta in manifest.get("files", {}).items():
                if "/" in file or file.startswith("."):
                    raise ArtifactError(f"{source}: the manifest lists an odd file {file!r}")
                self.fs.get_file(f"{source}/{file}", str(tmp / file))
                if sha256_file(tmp / file) != meta["sha256"]:
                    raise ArtifactError(f"{source}/{file} does not match its manifest checksum")
            (tmp / MANIFEST).write_text(json.dumps(manifest))
            tmp.chmod(0o755)
            os.rename(tmp, self.local / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
