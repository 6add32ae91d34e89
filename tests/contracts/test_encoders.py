"""The Encoder contract, run over every implementation: HashingEncoder (fast), the bundled
sentence-transformer and the same model on ONNX Runtime (marked slow). A new encoder is one
more ``factory`` param."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from recsys.search.encoder import (
    HASHING_MODEL,
    Encoder,
    EncoderConfig,
    HashingEncoder,
    SentenceTransformerEncoder,
)

TEXTS = [
    "Spirited Away (2001). Movie. Genres: Animation, Fantasy.",
    "千と千尋の神隠し",
    "Le Voyage de Chihiro. Chihiro découvre un monde étrange.",
    "Fight Club",
    "Fight Club",  # a duplicate row stays a row
]

Factory = Callable[..., Encoder]


def _hashing(**config: Any) -> Encoder:
    return HashingEncoder(EncoderConfig(model=HASHING_MODEL, **config))


def _sentence_transformer(**config: Any) -> Encoder:
    return SentenceTransformerEncoder(EncoderConfig(**config))


def _onnx(**config: Any) -> Encoder:
    from recsys.search.onnx_encoder import OnnxEncoder

    return OnnxEncoder(EncoderConfig(**config), "onnx")


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(_hashing, id="hashing"),
        pytest.param(_sentence_transformer, id="sentence_transformer", marks=pytest.mark.slow),
        pytest.param(_onnx, id="onnx", marks=pytest.mark.slow),
    ],
)
def factory(request: pytest.FixtureRequest) -> Factory:
    return request.param


@pytest.fixture(scope="module")
def encoder(factory: Factory) -> Encoder:
    return factory()


@pytest.fixture(scope="module")
def prompted(factory: Factory) -> Encoder:
    return factory(query_prompt="query: ", document_prompt="passage: ")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def assert_unit_rows(matrix: np.ndarray, n: int, dim: int) -> None:
    assert matrix.shape == (n, dim)
    assert matrix.dtype == np.float32
    assert np.all(np.isfinite(matrix))
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)


# --------------------------------------------------------------------------- contract


def test_implements_protocol(encoder: Encoder) -> None:
    assert isinstance(encoder, Encoder)
    assert isinstance(encoder.config, EncoderConfig)
    assert encoder.dim > 0
    assert encoder.config.dim == encoder.dim


def test_documents_are_unit_float32_rows(encoder: Encoder) -> None:
    assert_unit_rows(encoder.encode_documents(TEXTS), len(TEXTS), encoder.dim)


def test_queries_are_unit_float32_rows(encoder: Encoder) -> None:
    assert_unit_rows(encoder.encode_queries(TEXTS), len(TEXTS), encoder.dim)


def test_duplicate_texts_give_identical_rows(encoder: Encoder) -> None:
    docs = encoder.encode_documents(TEXTS)
    np.testing.assert_array_equal(docs[3], docs[4])


def test_deterministic(encoder: Encoder, factory: Factory) -> None:
    first = encoder.encode_documents(TEXTS)
    np.testing.assert_allclose(encoder.encode_documents(TEXTS), first, atol=1e-6)
    np.testing.assert_allclose(encoder.encode_queries(TEXTS), encoder.encode_queries(TEXTS))
    # a second instance from the same config lands in the same space
    np.testing.assert_allclose(factory().encode_documents(TEXTS), first, atol=1e-6)


def test_batch_size_does_not_change_vectors(encoder: Encoder) -> None:
    one = encoder.encode_documents(TEXTS, batch_size=2)
    many = encoder.encode_documents(TEXTS, batch_size=64)
    for a, b in zip(one, many, strict=True):
        assert cosine(a, b) > 0.999


@pytest.mark.parametrize("method", ["encode_queries", "encode_documents"])
@pytest.mark.parametrize("empty", [[], ()])
def test_empty_input(encoder: Encoder, method: str, empty: list[str] | tuple[str, ...]) -> None:
    out = getattr(encoder, method)(empty)
    assert out.shape == (0, encoder.dim)
    assert out.dtype == np.float32


def test_without_prompts_queries_and_documents_share_a_space(encoder: Encoder) -> None:
    queries, docs = encoder.encode_queries(TEXTS), encoder.encode_documents(TEXTS)
    for q, d in zip(queries, docs, strict=True):
        assert cosine(q, d) > 0.999  # only document precision (bf16/fp16) may differ


def test_prompts_are_applied(encoder: Encoder, prompted: Encoder) -> None:
    assert prompted.config.query_prompt == "query: "
    assert prompted.config.document_prompt == "passage: "
    query = prompted.encode_queries(["Fight Club"])
    doc = prompted.encode_documents(["Fight Club"])
    assert cosine(query[0], doc[0]) < 0.99  # different prompts, different vectors
    # the prompt is a prefix: same vector as the unprompted encoder given prompt + text
    np.testing.assert_allclose(query, encoder.encode_queries(["query: Fight Club"]), atol=1e-5)
    assert cosine(doc[0], encoder.encode_documents(["passage: Fight Club"])[0]) > 0.999


def test_config_keeps_model_and_prompts(prompted: Encoder) -> None:
    config = prompted.config
    assert (config.query_prompt, config.document_prompt) == ("query: ", "passage: ")
    assert config.max_seq_length == 128
    restored = EncoderConfig.from_dict(config.to_dict())
    assert restored == config
    assert restored.fingerprint() == config.fingerprint()
