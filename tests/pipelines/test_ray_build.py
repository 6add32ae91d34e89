"""``recsys build --engine ray`` gives the artifact a local build gives: a synthetic data slice
built both ways (Ray started here on 2 CPUs), every file's checksum compared. The index is
made to shard (a lowered threshold) so the parallel add and merge are checked too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.build import BuildOptions, build
from pipelines.synth import SynthSpec, write_data_dir
from recsys.search import vector_index
from recsys.search.encoder import EncoderConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_runner() -> Iterator[object]:
    ray = pytest.importorskip("ray")
    from pipelines.ray_engine import RayRunner

    runner = RayRunner(num_cpus=2)
    yield runner
    ray.shutdown()


def manifest(version: Path) -> dict:
    return json.loads((version / "manifest.json").read_text())


def test_ray_build_equals_local_build(
    ray_runner: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vector_index, "SHARD_MIN", 100)  # shard even this small index
    data = tmp_path / "data"
    write_data_dir(SynthSpec(items=600, users=80, interactions=8_000, seed=5), data)
    encoder = EncoderConfig(model="hashing")
    local = build(data, tmp_path / "local", BuildOptions(encoder=encoder, progress=False))
    on_ray = build(
        data,
        tmp_path / "ray",
        BuildOptions(encoder=encoder, progress=False, runner=ray_runner),  # type: ignore[arg-type]
    )
    a, b = manifest(local), manifest(on_ray)
    assert b["reports"]["engine"]["engine"] == "ray" and a["reports"]["engine"]["engine"] == "local"
    assert b["index"]["parts"]["content"]["extra"]["add_shards"] == 2
    assert a["files"] == b["files"]  # every file, byte for byte (sha256)
    assert on_ray.name.split("-")[-1] == local.name.split("-")[-1]  # the same content hash
