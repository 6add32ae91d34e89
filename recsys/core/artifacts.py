"""Self-describing, versioned artifact directories.

Layout of a root (default ``artifacts/``)::

    artifacts/
      current                 # text file: the name of the live version
      20261120T221500Z-3f2a9c1d/
        manifest.json         # written last; lists every file with its sha256
        catalog.parquet  documents.parquet  vectors.npy  index.<kind>.faiss ...
      .cache/embeddings/...   # embedding cache (not part of any version)

A version is written into a temporary sibling directory and renamed into place, then
``current`` is replaced atomically, so a reader never sees a half-written artifact.
Readers go through :func:`load_manifest`, which refuses missing files, checksum
mismatches and incompatible format versions with a message naming the problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsys import __version__
from recsys.core.errors import ArtifactError

# 2: personalization files and section; 3: lexical index and section; 4: one vector index
# per document kind (index.<kind>.faiss); 5: query features per field and kind, the
# anonymous search ranker, the relevance threshold (manifest `search`)
FORMAT_VERSION = 5
MANIFEST = "manifest.json"
CURRENT = "current"
REQUIRED_FILES = (
    "catalog.parquet",
    "documents.parquet",
    "vectors.npy",
    "lexical.npz",
    "interactions.parquet",
    "covis.npz",
    "ease.npz",
)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def code_version() -> str:
    """Package version plus the git commit when run from a checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=2,
            cwd=Path(__file__).parent,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


@dataclass
class Manifest:
    version: str
    created_at: str
    code_version: str
    encoder: dict[str, Any]
    index: dict[str, Any]
    counts: dict[str, int]
    files: dict[str, dict[str, Any]]
    inputs: dict[str, str] = field(default_factory=dict)
    reports: dict[str, Any] = field(default_factory=dict)
    personalization: dict[str, Any] = field(default_factory=dict)
    lexical: dict[str, Any] = field(default_factory=dict)  # LexicalParams
    # search: the relevance threshold's calibration, the anonymous search ranker's report
    search: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except TypeError as exc:
            raise ArtifactError(f"manifest is missing fields: {exc}") from exc


def new_version_name(content_hash: str) -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + content_hash[:8]


def resolve_artifact_dir(path: Path) -> Path:
    """Accept either a version directory or a root with a ``current`` pointer. The pointer
    must name a version directory inside the root (no path, no ``..``, no symlink out)."""
    path = Path(path)
    if (path / MANIFEST).exists():
        return path
    pointer = path / CURRENT
    if pointer.exists():
        name = pointer.read_text().strip()
        return version_dir(path, name, pointer)
    if not path.exists():
        raise ArtifactError(f"artifact directory {path} does not exist; run `recsys build` first")
    raise ArtifactError(f"{path} holds neither {MANIFEST} nor a {CURRENT} pointer")


def version_dir(root: Path, name: str, pointer: Path | None = None) -> Path:
    """``root/name`` if ``name`` is a version directory directly inside ``root``; otherwise
    ArtifactError (a ``current`` that points elsewhere is refused, not followed)."""
    where = f"{pointer} names {name!r}, which" if pointer else f"version {name!r}"
    target = root / name
    if not name or name in (".", "..") or Path(name).name != name or "\\" in name:
        raise ArtifactError(f"{where} is not a directory in {root} (a version name, not a path)")
    if not target.is_dir():
        raise ArtifactError(f"{where} is not a directory in {root}")
    if target.resolve().parent != root.resolve():
        raise ArtifactError(f"{where} resolves outside {root}")
    return target


def list_versions(root: Path) -> list[str]:
    """Published version directories under ``root`` (each with a manifest), oldest first."""
    root = Path(root)
    if not root.is_dir():
        raise ArtifactError(f"artifact directory {root} does not exist")
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).exists()
    )


def current_version(root: Path) -> str | None:
    """The version ``root/current`` names (None without a pointer)."""
    pointer = Path(root) / CURRENT
    return pointer.read_text().strip() or None if pointer.is_file() else None


def describe_versions(root: Path) -> list[dict[str, Any]]:
    """Every published version under ``root``, oldest first: ``version``, ``current``,
    ``complete``, and from its manifest (checksums not verified) ``created_at``,
    ``code_version``, ``encoder``; an unreadable one says its ``problem``."""
    pointer = current_version(root)
    rows: list[dict[str, Any]] = []
    for name in list_versions(root):
        row: dict[str, Any] = {"version": name, "current": name == pointer}
        try:
            _, manifest = load_manifest(Path(root) / name, verify_checksums=False)
        except ArtifactError as exc:
            rows.append({**row, "complete": False, "problem": str(exc)})
            continue
        rows.append(
            {
                **row,
                "complete": True,
                "created_at": manifest.created_at,
                "code_version": manifest.code_version,
                "encoder": manifest.encoder.get("model"),
            }
        )
    return rows


def set_current(root: Path, name: str) -> Path:
    """Point ``root/current`` at version ``name`` atomically (write, then rename); the
    version must be a complete one (its manifest and checksums verify)."""
    root = Path(root)
    target = version_dir(root, name)
    load_manifest(target)
    _write_pointer(root, name)
    return target


def _write_pointer(root: Path, name: str) -> None:
    pointer_tmp = root / f".{CURRENT}.{os.getpid()}.tmp"
    pointer_tmp.write_text(name + "\n")
    os.replace(pointer_tmp, root / CURRENT)


def load_manifest(path: Path, verify_checksums: bool = True) -> tuple[Path, Manifest]:
    directory = resolve_artifact_dir(path)
    try:
        data = json.loads((directory / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"cannot read {directory / MANIFEST}: {exc}") from exc
    manifest = Manifest.from_dict(data)
    if manifest.format_version != FORMAT_VERSION:
        raise ArtifactError(
            f"{directory} has artifact format {manifest.format_version}; this code reads "
            f"format {FORMAT_VERSION}. Rebuild with `recsys build`."
        )
    missing = [f for f in REQUIRED_FILES if f not in manifest.files]
    if missing:
        raise ArtifactError(f"{directory} manifest does not list {', '.join(missing)}")
    for name, meta in manifest.files.items():
        file = directory / name
        if not file.exists():
            raise ArtifactError(f"{directory} is incomplete: {name} is missing")
        if verify_checksums and sha256_file(file) != meta["sha256"]:
            raise ArtifactError(f"{directory}/{name} does not match its manifest checksum")
    return directory, manifest


def publish(
    root: Path,
    content_hash: str,
    write: Callable[[Path], Manifest],
    keep: int = 3,
) -> Path:
    """Run ``write(tmpdir)`` (it writes the files and returns the manifest without ``files``),
    checksum every file, write the manifest, rename into place, point ``current`` at it."""
    root.mkdir(parents=True, exist_ok=True)
    name = new_version_name(content_hash)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    tmp.chmod(0o755)  # mkdtemp makes it owner-only; a service user must be able to read it
    try:
        manifest = write(tmp)
        manifest.version = name
        manifest.files = {
            f.name: {"sha256": sha256_file(f), "bytes": f.stat().st_size}
            for f in sorted(tmp.iterdir())
            if f.is_file() and f.name != MANIFEST
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False))
        final = root / name
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _write_pointer(root, name)
    _prune(root, keep)
    return final


def _prune(root: Path, keep: int) -> None:
    """Keep the newest ``keep`` versions (the live one always stays)."""
    live = (root / CURRENT).read_text().strip()
    versions = sorted(
        p for p in root.iterdir() if p.is_dir() and (p / MANIFEST).exists() and p.name != live
    )
    for old in versions[: max(0, len(versions) - (keep - 1))]:
        shutil.rmtree(old, ignore_errors=True)
