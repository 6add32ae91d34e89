"""The offline build end to end on the tiny fixture data dir, with the hashing encoder,
and its CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.build import CACHE_SUBDIR, BuildOptions, build
from pipelines.cli import app
from recsys.catalog.documents import DOCUMENT_SCHEMA
from recsys.catalog.schema import CATALOG_SCHEMA
from recsys.core.artifacts import CURRENT, REQUIRED_FILES, load_manifest
from recsys.core.errors import InputDataError
from recsys.search.encoder import HashingEncoder
from recsys.search.partitioned_index import PartitionedIndex
from recsys.search.vector_index import IndexParams
from tests.personalization_data import FIXTURE_DATA

os.environ["HF_HUB_OFFLINE"] = "1"

DATA = FIXTURE_DATA
COUNTS = {
    "items": 17,
    "documents": 22,
    "items_movie": 16,
    "items_tv_show": 1,
    "documents_content": 17,
    "documents_localized": 5,
}


def options(**kwargs: object) -> BuildOptions:
    return BuildOptions(progress=False, **kwargs)  # type: ignore[arg-type]


def versions(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("artifacts")
    build(DATA, root, options(), encoder=HashingEncoder())
    return root


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    return target


def test_artifact_loads(artifacts: Path) -> None:
    directory, manifest = load_manifest(artifacts)
    assert directory.parent == artifacts
    assert (artifacts / CURRENT).read_text().strip() == directory.name == manifest.version
    assert set(REQUIRED_FILES) <= set(manifest.files)
    assert manifest.encoder == {**HashingEncoder().config.to_dict(), "device": "cpu"}
    assert manifest.reports["engine"] == {"engine": "local"}
    assert manifest.index["kind"] == "partitioned"
    parts = manifest.index["parts"]
    assert set(parts) == {"content", "localized"}
    assert {p["kind"] for p in parts.values()} == {"flat"}  # every part < exact_threshold
    assert {p["recall_at_10"] for p in parts.values()} == {1.0}
    assert {f"index.{part}.faiss" for part in parts} <= set(manifest.files)
    assert manifest.reports["embeddings"] == {
        "total": 22,
        "cached": 0,
        "encoded": 22,
        "deduplicated": 0,
    }
    assert manifest.reports["ingest"]["merged"]["items"] == 17
    assert set(manifest.reports["timings_s"]) >= {"catalog_s", "embed_s", "index_s"}
    peaks = manifest.reports["peak_rss_mb"]  # after each stage, never falling
    assert [f"{stage}_s" for stage in peaks] == list(manifest.reports["timings_s"])
    assert list(peaks.values()) == sorted(peaks.values()) and min(peaks.values()) > 0
    assert "movielens/movies.csv" in manifest.inputs
    assert all(len(digest) == 64 for digest in manifest.inputs.values())


def test_counts_match_the_files(artifacts: Path) -> None:
    directory, manifest = load_manifest(artifacts)
    assert manifest.counts == COUNTS
    catalog = pl.read_parquet(directory / "catalog.parquet")
    documents = pl.read_parquet(directory / "documents.parquet")
    assert catalog.schema == pl.Schema(CATALOG_SCHEMA)
    assert documents.schema == pl.Schema(DOCUMENT_SCHEMA)
    assert catalog.height == manifest.counts["items"]
    assert documents.height == manifest.counts["documents"]
    assert set(documents["item_id"]) == set(catalog["item_id"])
    vectors = np.load(directory / "vectors.npy")
    assert vectors.shape == (22, 256)
    assert vectors.dtype == np.float16
    index = PartitionedIndex.load(directory, documents["kind"].to_numpy(), manifest.index)
    assert (len(index), index.dim) == (22, 256)


def test_stored_vectors_match_the_documents(artifacts: Path) -> None:
    directory, manifest = load_manifest(artifacts)
    documents = pl.read_parquet(directory / "documents.parquet")
    vectors = np.load(directory / "vectors.npy").astype(np.float32)
    expected = HashingEncoder().encode_documents(documents["text"].to_list())
    np.testing.assert_allclose(vectors, expected, atol=2e-3)  # stored as float16
    # the index finds each document's own vector first
    index = PartitionedIndex.load(directory, documents["kind"].to_numpy(), manifest.index)
    _, ids = index.search(expected, 1)
    assert ids[:, 0].tolist() == list(range(len(expected)))


def test_rebuild_reencodes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    first = build(DATA, root, options(), encoder=HashingEncoder())
    second = build(DATA, root, options(), encoder=HashingEncoder())
    assert second != first
    directory, manifest = load_manifest(root)
    assert directory == second
    assert manifest.reports["embeddings"] == {
        "total": 22,
        "cached": 22,
        "encoded": 0,
        "deduplicated": 0,
    }
    assert load_manifest(first)[1].reports["embeddings"]["encoded"] == 22
    assert (root / CACHE_SUBDIR).is_dir()
    # same inputs and encoder: same content hash suffix
    assert first.name.split("-")[-1] == second.name.split("-")[-1]
    # the model configuration is an input too
    other = dataclasses.replace(
        options().config,
        search_training=dataclasses.replace(
            options().config.search_training, learn_from_clicks=False
        ),
    )
    third = build(DATA, root, options(config=other), encoder=HashingEncoder())
    assert third.name.split("-")[-1] != second.name.split("-")[-1]


def test_no_cache_option(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    build(DATA, root, options(use_cache=False), encoder=HashingEncoder())
    build(DATA, root, options(use_cache=False), encoder=HashingEncoder())
    assert load_manifest(root)[1].reports["embeddings"]["encoded"] == 22
    assert not (root / CACHE_SUBDIR).exists()


def test_limit_items(tmp_path: Path) -> None:
    build(DATA, tmp_path, options(limit_items=3), encoder=HashingEncoder())
    _, manifest = load_manifest(tmp_path)
    assert manifest.counts["items"] == 3


def test_explicit_index_kind(tmp_path: Path) -> None:
    build(DATA, tmp_path, options(index=IndexParams(kind="hnsw")), encoder=HashingEncoder())
    parts = load_manifest(tmp_path)[1].index["parts"]
    assert {p["kind"] for p in parts.values()} == {"hnsw"}


def test_missing_data_dir(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="data directory does not exist"):
        build(tmp_path / "nope", tmp_path / "out", options(), encoder=HashingEncoder())
    assert not (tmp_path / "out").exists()


def test_missing_required_file_leaves_no_new_version(data_copy: Path, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    good = build(DATA, root, options(), encoder=HashingEncoder())
    (data_copy / "movielens" / "movies.csv").unlink()
    with pytest.raises(InputDataError, match="missing file") as err:
        build(data_copy, root, options(), encoder=HashingEncoder())
    assert err.value.path == str(data_copy / "movielens" / "movies.csv")
    assert versions(root) == [good.name]
    assert load_manifest(root)[0] == good
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp")]


def test_missing_required_file_in_empty_root(data_copy: Path, tmp_path: Path) -> None:
    (data_copy / "movielens" / "movies.csv").unlink()
    root = tmp_path / "artifacts"
    with pytest.raises(InputDataError):
        build(data_copy, root, options(), encoder=HashingEncoder())
    assert not root.exists() or versions(root) == []


# ------------------------------------------------------------------------------- CLI

runner = CliRunner()


def test_cli_build_and_info(tmp_path: Path) -> None:
    out = tmp_path / "artifacts"
    result = runner.invoke(
        app, ["build", "--encoder", "hashing", "--data", str(DATA), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    directory, manifest = load_manifest(out)
    assert f"published {directory}" in result.stdout
    assert manifest.encoder["model"] == "hashing"
    assert manifest.counts == COUNTS

    result = runner.invoke(app, ["info", "--artifacts", str(out)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["path"] == str(directory)
    assert info["version"] == directory.name
    assert info["counts"] == COUNTS
    assert info["files"] == manifest.files


def test_cli_build_missing_data_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["build", "--data", "/nonexistent", "--out", str(tmp_path / "artifacts")]
    )
    assert result.exit_code == 2
    assert "error:" in result.stderr
    assert "/nonexistent" in result.stderr
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, InputDataError)  # handled, not raised


def test_cli_info_without_artifacts_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["info", "--artifacts", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "error:" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.output


def test_cli_rejects_unknown_index_kind(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["build", "--encoder", "hashing", "--data", str(DATA), "--index", "annoy"]
    )
    assert result.exit_code == 2
    assert "--index must be auto, flat, ivf or hnsw" in result.stderr
