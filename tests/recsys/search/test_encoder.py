"""Encoder specifics: HashingEncoder and sentence-transformer known answers, EncoderConfig.
The contract every encoder runs is ``tests/contracts/test_encoders.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recsys.core.errors import RecsysError
from recsys.search.encoder import (
    BUNDLED_MODEL,
    CPU_DOCUMENT_BATCH,
    CUDA_DOCUMENT_BATCH,
    HASHING_MODEL,
    EncoderConfig,
    HashingEncoder,
    SentenceTransformerEncoder,
    document_batch_size,
    load_encoder,
    resolve_precision,
)
from tests.contracts.test_encoders import _sentence_transformer, cosine

# ------------------------------------------------------------------- hashing specifics


def test_hashing_known_answers() -> None:
    encoder = HashingEncoder()
    assert encoder.dim == 256
    assert encoder.config == EncoderConfig(model=HASHING_MODEL, dim=256)
    assert HashingEncoder(dim=64).encode_documents(["x"]).shape == (1, 64)
    assert HashingEncoder(EncoderConfig(model=HASHING_MODEL, dim=32), dim=64).dim == 32
    vectors = encoder.encode_documents(["Fight Club", "fight   CLUB!", "Spirited Away"])
    np.testing.assert_array_equal(vectors[0], vectors[1])  # casefolded words, no punctuation
    assert cosine(vectors[0], vectors[2]) < 0.5


def test_hashing_text_without_features_is_finite() -> None:
    # no word characters: no features, a zero row (documented as L2-normalised elsewhere)
    out = HashingEncoder().encode_documents(["", "!!!"])
    assert out.shape == (2, 256)
    assert np.all(np.isfinite(out))


def test_load_encoder_maps_hashing() -> None:
    encoder = load_encoder(EncoderConfig(model=HASHING_MODEL, dim=64, document_prompt="p: "))
    assert isinstance(encoder, HashingEncoder)
    assert encoder.dim == 64
    assert encoder.config.document_prompt == "p: "


# ------------------------------------------------------------------------ EncoderConfig


def test_config_defaults() -> None:
    config = EncoderConfig()
    assert config.model == BUNDLED_MODEL
    assert (config.query_prompt, config.document_prompt) == ("", "")
    assert (config.max_seq_length, config.precision, config.dim) == (128, "auto", None)


def test_config_dict_round_trip() -> None:
    config = EncoderConfig("m", "q: ", "d: ", 256, "fp16", 768)
    data = config.to_dict()
    assert data == {
        "model": "m",
        "query_prompt": "q: ",
        "document_prompt": "d: ",
        "max_seq_length": 256,
        "precision": "fp16",
        "dim": 768,
    }
    assert EncoderConfig.from_dict(data) == config
    # unknown keys (from a newer manifest) are ignored, missing ones take defaults
    assert EncoderConfig.from_dict({**data, "pooling": "mean"}) == config
    assert EncoderConfig.from_dict({"model": "m"}) == EncoderConfig(model="m")


def test_fingerprint_is_stable() -> None:
    fingerprint = EncoderConfig().fingerprint()
    assert fingerprint == EncoderConfig().fingerprint()
    assert len(fingerprint) == 16
    int(fingerprint, 16)


@pytest.mark.parametrize(
    "change",
    [
        {"model": "hashing"},
        {"model": "/models/e5-small"},
        {"document_prompt": "passage: "},
        {"max_seq_length": 256},
        {"precision": "fp32"},
        {"precision": "fp16"},
        {"dim": 384},
    ],
    ids=lambda change: "-".join(f"{k}={v}" for k, v in change.items()),
)
def test_fingerprint_changes_with_the_document_space(change: dict[str, Any]) -> None:
    assert EncoderConfig(**change).fingerprint() != EncoderConfig().fingerprint()


def test_fingerprint_ignores_query_prompt() -> None:
    # documented: the fingerprint identifies the document vectors (and their cache);
    # the query prompt does not change them
    assert EncoderConfig(query_prompt="query: ").fingerprint() == EncoderConfig().fingerprint()


@pytest.mark.parametrize(
    ("requested", "device", "expected"),
    [
        ("fp32", "cpu", "fp32"),
        ("bf16", "cpu", "bf16"),
        ("fp16", "cuda", "fp16"),
        ("fp32", "cuda:1", "fp32"),
        ("auto", "cuda", "fp16"),
        ("auto", "cuda:1", "fp16"),
    ],
)
def test_resolve_precision(requested: str, device: str, expected: str) -> None:
    assert resolve_precision(requested, device) == expected


def test_resolve_precision_auto_on_cpu() -> None:
    assert resolve_precision("auto", "cpu") in ("bf16", "fp32")


def test_resolve_precision_rejects_unknown() -> None:
    with pytest.raises(RecsysError, match="precision must be one of"):
        resolve_precision("int8", "cpu")


# ------------------------------------------------------- sentence-transformer specifics


@pytest.mark.slow
def test_bundled_model_known_answers() -> None:
    encoder = SentenceTransformerEncoder(EncoderConfig())
    assert encoder.dim == 384
    assert encoder.config.model == BUNDLED_MODEL
    assert encoder.config.precision in ("fp32", "bf16", "fp16")  # "auto" is resolved
    assert isinstance(load_encoder(EncoderConfig()), SentenceTransformerEncoder)


@pytest.mark.slow
def test_bundled_model_is_semantic() -> None:
    encoder = _sentence_transformer()
    query = encoder.encode_queries(["Spirited Away"])[0]
    docs = encoder.encode_documents(
        [
            "Spirited Away (2001). Movie. Genres: Animation, Fantasy. A girl wanders into "
            "a world of spirits and must free her parents.",
            "Fight Club (1999). Movie. Genres: Drama. An insomniac office worker starts an "
            "underground fight club.",
        ]
    )
    spirited, unrelated = docs @ query
    assert spirited > unrelated + 0.2


@pytest.mark.slow
def test_unloadable_model_path_raises(tmp_path: Path) -> None:
    missing = tmp_path / "no-model-here"
    with pytest.raises(RecsysError, match="cannot load encoder") as err:
        SentenceTransformerEncoder(EncoderConfig(model=str(missing)))
    assert str(missing) in str(err.value)
    assert "offline" in str(err.value)


@pytest.mark.slow
def test_dimension_mismatch_raises() -> None:
    with pytest.raises(RecsysError, match="has dimension 384, expected 10"):
        SentenceTransformerEncoder(EncoderConfig(dim=10))


@pytest.mark.slow
def test_unknown_precision_raises() -> None:
    with pytest.raises(RecsysError, match="precision must be one of"):
        SentenceTransformerEncoder(EncoderConfig(precision="int8"))


def test_document_batches_are_smaller_on_cpu_than_on_cuda() -> None:
    assert document_batch_size("cpu") == CPU_DOCUMENT_BATCH == 32
    assert document_batch_size("cuda:0") == CUDA_DOCUMENT_BATCH > CPU_DOCUMENT_BATCH
