"""Queries on ONNX Runtime: which models export, the export agrees with PyTorch (same tokens,
cosine >= 0.999 in fp32) and is written once, atomically; backend selection and fallback.
The Encoder contract itself runs over OnnxEncoder in tests/contracts/test_encoders.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recsys.core.errors import RecsysError
from recsys.search import encoder as encoder_module
from recsys.search.encoder import (
    BUNDLED_MODEL,
    HASHING_MODEL,
    EncoderConfig,
    HashingEncoder,
    SentenceTransformerEncoder,
    load_encoder,
    resolve_model_path,
)
from recsys.search.onnx_encoder import OnnxEncoder, export_dir, export_onnx, supports_onnx

SAMPLE = [
    "Spirited Away",
    "千と千尋の神隠し",
    "Человек просыпается и не помнит, кто он",
    "رجل يبحث عن ابنته المفقودة",
    "एक लड़का क्रिकेट खेलता है",
    "🎬🍿 a film about popcorn",
    "",
    "a long description of a film that goes on and on " * 30,
]


def _model_dir(tmp_path: Path, pooling: dict[str, bool], kinds: list[str]) -> Path:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    modules = [
        {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
        for i, (path, kind) in enumerate(zip(["", "1_Pooling", "2_Normalize"], kinds, strict=False))
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    (tmp_path / "tokenizer.json").write_text("{}")
    return tmp_path


MEAN = {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}
PIPELINE = ["Transformer", "Pooling", "Normalize"]


def test_supported_pipeline(tmp_path: Path) -> None:
    assert supports_onnx(_model_dir(tmp_path, MEAN, PIPELINE)) is None


@pytest.mark.parametrize(
    ("pooling", "kinds", "reason"),
    [
        ({"pooling_mode_cls_token": True}, PIPELINE, "pooling"),
        (MEAN, ["Transformer", "Pooling"], "modules"),
        (MEAN, ["Transformer", "Pooling", "Dense"], "modules"),
    ],
)
def test_unsupported_pipelines_say_why(
    tmp_path: Path, pooling: dict[str, bool], kinds: list[str], reason: str
) -> None:
    directory = _model_dir(tmp_path, pooling, kinds)
    assert reason in (supports_onnx(directory) or "")
    with pytest.raises(RecsysError, match="cannot run on ONNX Runtime"):
        export_onnx(directory, cache=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_unreadable_model_directory(tmp_path: Path) -> None:
    assert "cannot read" in (supports_onnx(tmp_path) or "")


def test_unknown_backend_and_variant_are_errors(tmp_path: Path) -> None:
    with pytest.raises(RecsysError, match="backend must be one of"):
        load_encoder(EncoderConfig(model=HASHING_MODEL), backend="tensorrt")
    with pytest.raises(RecsysError, match="variant must be one of"):
        export_onnx(tmp_path, variant="onnx-int4")


def test_hashing_ignores_the_backend() -> None:
    for backend in ("auto", "onnx"):
        assert isinstance(
            load_encoder(EncoderConfig(model=HASHING_MODEL), backend=backend), HashingEncoder
        )


# ------------------------------------------------------------ the bundled model (slow)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.mark.slow
def test_export_agrees_with_pytorch_and_is_written_once(cache: Path) -> None:
    model_dir = Path(resolve_model_path(BUNDLED_MODEL))
    directory = export_onnx(model_dir, "onnx", cache=cache)
    info = json.loads((directory / "export.json").read_text())
    assert info["cosine_min"] >= 0.999
    stamp = (directory / "model.onnx").stat().st_mtime_ns
    assert export_onnx(model_dir, "onnx", cache=cache) == directory
    assert (directory / "model.onnx").stat().st_mtime_ns == stamp
    assert not [p.name for p in cache.iterdir() if p.name.startswith(".")]  # no staging left

    reference = SentenceTransformerEncoder(EncoderConfig())
    onnx = OnnxEncoder.from_directory(directory, 128)
    tokens = onnx._tokenizer.encode_batch(SAMPLE)
    expected = reference._model.tokenizer(SAMPLE, truncation=True, max_length=128)["input_ids"]
    assert [t.ids[: len(e)] for t, e in zip(tokens, expected, strict=True)] == expected
    got = onnx._run(SAMPLE, 3)
    cosine = (got * reference.encode_queries(SAMPLE)).sum(axis=1)
    assert cosine.min() >= 0.999


@pytest.mark.slow
def test_int8_export_is_close(cache: Path) -> None:
    model_dir = Path(resolve_model_path(BUNDLED_MODEL))
    directory = export_onnx(model_dir, "onnx-int8", cache=cache)
    assert json.loads((directory / "export.json").read_text())["cosine_min"] >= 0.95
    assert (directory / "model.onnx").stat().st_size < 0.5 * (
        export_onnx(model_dir, "onnx", cache=cache) / "model.onnx"
    ).stat().st_size


@pytest.mark.slow
def test_auto_picks_onnx_on_cpu_and_falls_back_to_pytorch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = EncoderConfig()
    chosen = load_encoder(config, device="cpu", backend="auto")
    assert isinstance(chosen, OnnxEncoder)
    assert chosen.backend == encoder_module.AUTO_ONNX_VARIANT[BUNDLED_MODEL] == "onnx-int8"
    assert chosen.config.fingerprint() == SentenceTransformerEncoder(config).config.fingerprint()

    def refuse(*args: object, **kwargs: object) -> None:
        raise RecsysError("no ONNX here")

    monkeypatch.setattr("recsys.search.onnx_encoder.OnnxEncoder.__init__", refuse)
    assert isinstance(load_encoder(config, backend="auto"), SentenceTransformerEncoder)
    with pytest.raises(RecsysError, match="no ONNX here"):
        load_encoder(config, backend="onnx")
    assert encoder_module.QUERY_BACKENDS == ("auto", "torch", "onnx", "onnx-int8")
    assert np.isfinite(chosen.encode_queries(["x"])).all()


def test_an_export_is_found_again_from_a_copy_of_the_model(tmp_path: Path) -> None:
    """Keyed by the weights' content: a copy elsewhere (new path, new mtime) finds the same
    export, as a container image's baked one must; other weights do not."""
    weights = bytes(range(256)) * 10_000  # 2.5 MB: first and last MiB differ from the middle
    first, second = tmp_path / "a" / "model", tmp_path / "b" / "model"
    for where in (first, second):
        where.mkdir(parents=True)
        (where / "model.safetensors").write_bytes(weights)
    cache = tmp_path / "cache"
    assert export_dir(first, "onnx", cache) == export_dir(second, "onnx", cache)
    (second / "model.safetensors").write_bytes(weights[:-1] + b"x")
    assert export_dir(first, "onnx", cache) != export_dir(second, "onnx", cache)
