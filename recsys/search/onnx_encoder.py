"""Query encoding on ONNX Runtime: the same model, exported once, 2-6x faster per query on CPU.

A query is one short text encoded while a user waits, where PyTorch's per-call overhead
dominates. :func:`export_onnx` traces a sentence-transformers model of the form
Transformer -> mean pooling -> normalization (both bundled encoders) into one ONNX graph that
ends in the normalized embedding, optionally with dynamic int8 weights
(``onnxruntime.quantization.quantize_dynamic``), and checks it against the PyTorch model on a
fixed multilingual sample before anything uses it. It writes once per model file into the
model cache, atomically. :class:`OnnxEncoder` runs that graph with the model's own
``tokenizer.json`` (the ``tokenizers`` library, no transformers import at serving time).

The artifact's vectors stay those of the PyTorch model: the backend is a serving choice that
does not change the vector space (fp32 agrees to cosine 1.0000; int8's agreement and recall
are measured in bench/README.md, "Query encoding on ONNX Runtime").
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recsys.core.errors import RecsysError
from recsys.search.e5_import import default_cache, write_once
from recsys.search.encoder import (
    EncoderConfig,
    _ConfiguredEncoder,
    _normalise,
    resolve_precision,
)

logger = logging.getLogger(__name__)

VARIANTS = ("onnx", "onnx-int8")
OPSET = 17
# part of the cache directory's name: bump when the export changes
EXPORT_VERSION = 2
# minimum cosine to the PyTorch model on AGREEMENT_SAMPLE before an export is used
MIN_COSINE = {"onnx": 0.999, "onnx-int8": 0.95}
AGREEMENT_SAMPLE = (
    "a shark terrorizes the swimmers of a small island town",
    "un tiburón gigante aterroriza a los bañistas de una isla",
    "ein Hacker erfährt, dass die Wirklichkeit eine Computersimulation ist",
    "一个外星人被困在地球上，一个小男孩帮助他回家",
    "опытный грабитель банков и одержимый детектив",
    "رجل يستيقظ كل يوم في نفس اليوم",
    "एक बैंक कर्मचारी की हत्या हो जाती है",
    "toy story 🎬🍿",
    "x",
    "the lord of the rings " * 60,
)


def supports_onnx(model_dir: Path) -> str | None:
    """None when ``model_dir`` is Transformer -> mean pooling -> Normalize; else the reason."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds != ["Transformer", "Pooling", "Normalize"]:
            return f"modules {kinds}, expected Transformer, Pooling, Normalize"
        pooling = json.loads((model_dir / modules[1]["path"] / "config.json").read_text())
    except (OSError, ValueError, KeyError, IndexError) as exc:
        return f"cannot read its modules: {exc}"
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    if modes != ["pooling_mode_mean_tokens"]:
        return f"pooling {modes}, expected mean tokens"
    if not (model_dir / "tokenizer.json").is_file():
        return "no tokenizer.json"
    return None


KEY_SAMPLE_BYTES = 1 << 20


def _weights_key(model_dir: Path) -> str:
    """Names the weights by content, not by where they lie or when they were written: each
    weights file's name, size and its first and last MiB. An export made once (in a
    container image's build, say) is found again from another path or copy."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        size = path.stat().st_size
        digest.update(f"{path.name}|{size}|".encode())
        with open(path, "rb") as handle:
            digest.update(handle.read(KEY_SAMPLE_BYTES))
            handle.seek(max(0, size - KEY_SAMPLE_BYTES))
            digest.update(handle.read(KEY_SAMPLE_BYTES))
    return digest.hexdigest()[:16]


def export_dir(model_dir: Path, variant: str, cache: Path | None = None) -> Path:
    cache = Path(cache) if cache is not None else default_cache()
    key = _weights_key(model_dir)
    return cache / f"onnx{EXPORT_VERSION}-{model_dir.name}-{key}-{variant}"


def export_onnx(
    model_dir: Path, variant: str = "onnx", max_seq_length: int = 128, cache: Path | None = None
) -> Path:
    """The exported directory for ``model_dir`` (model.onnx, tokenizer.json, export.json),
    written once and checked against the PyTorch model; never half-written."""
    if variant not in VARIANTS:
        raise RecsysError(f"ONNX variant must be one of {VARIANTS}, not {variant!r}")
    model_dir = Path(model_dir)
    reason = supports_onnx(model_dir)
    if reason:
        raise RecsysError(f"{model_dir} cannot run on ONNX Runtime: {reason}")
    return write_once(
        export_dir(model_dir, variant, cache),
        "export.json",
        lambda out: _export(model_dir, out, variant, max_seq_length),
    )


def _export(model_dir: Path, out: Path, variant: str, max_seq_length: int) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    out.mkdir(parents=True)
    model = SentenceTransformer(str(model_dir), device="cpu")
    model.max_seq_length = max_seq_length
    transformer: Any = model[0].auto_model
    graph = _pooled(transformer.eval())
    sample = model.tokenizer(["query: a", "query: two words"], padding=True, return_tensors="pt")
    fp32 = out / "model.fp32.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            (sample["input_ids"], sample["attention_mask"]),
            str(fp32),
            dynamo=False,
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"},
            },
            opset_version=OPSET,
        )
    if variant == "onnx-int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # per-channel scales: per-tensor ones gave cosine 0.86 to fp32 on MiniLM, 0.96 on e5
        quantize_dynamic(
            str(fp32), str(out / "model.onnx"), weight_type=QuantType.QInt8, per_channel=True
        )
        fp32.unlink()
    else:
        fp32.rename(out / "model.onnx")
    shutil.copy2(model_dir / "tokenizer.json", out / "tokenizer.json")
    reference = model.encode(list(AGREEMENT_SAMPLE), normalize_embeddings=True)
    exported = OnnxEncoder.from_directory(out, max_seq_length)._run(list(AGREEMENT_SAMPLE), 8)
    cosine = (np.asarray(reference, dtype=np.float32) * exported).sum(axis=1)
    agreement = {"cosine_min": float(cosine.min()), "cosine_mean": float(cosine.mean())}
    if agreement["cosine_min"] < MIN_COSINE[variant]:
        raise RecsysError(
            f"the {variant} export of {model_dir} disagrees with the PyTorch model "
            f"(cosine min {agreement['cosine_min']:.4f} < {MIN_COSINE[variant]})"
        )
    info = {"source": str(model_dir), "variant": variant, "opset": OPSET, **agreement}
    info["export_version"] = EXPORT_VERSION
    info["torch"] = torch.__version__
    (out / "export.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def _pooled(transformer: Any) -> Any:
    """Transformer output -> masked mean -> L2 normalization, as one traceable module."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    return Pooled()


class OnnxEncoder(_ConfiguredEncoder):
    """The ``Encoder`` protocol over an exported graph; ``threads`` per session (the service
    pins one per worker)."""

    def __init__(self, config: EncoderConfig, variant: str = "onnx", threads: int = 1) -> None:
        from recsys.search.encoder import resolve_model_path

        model_dir = Path(resolve_model_path(config.model))
        directory = export_onnx(model_dir, variant, config.max_seq_length)
        self._load(directory, config.max_seq_length, threads)
        dim = int(self._session.get_outputs()[0].shape[-1] or self._probe_dim())
        if config.dim is not None and config.dim != dim:
            raise RecsysError(
                f"encoder {config.model!r} has dimension {dim}, expected {config.dim}"
            )
        self.backend = variant
        # the vector space is the PyTorch model's: same resolved document precision
        precision = resolve_precision(config.precision, "cpu")
        self._config = EncoderConfig(**{**config.to_dict(), "dim": dim, "precision": precision})

    @classmethod
    def from_directory(cls, directory: Path, max_seq_length: int, threads: int = 1) -> OnnxEncoder:
        encoder = cls.__new__(cls)
        encoder._load(directory, max_seq_length, threads)
        return encoder

    def _load(self, directory: Path, max_seq_length: int, threads: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(directory / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=max_seq_length)
        pad = tokenizer.padding or {}
        pad_id = int(pad.get("pad_id", tokenizer.token_to_id("<pad>") or 0))
        tokenizer.enable_padding(pad_id=pad_id)
        self._tokenizer = tokenizer

    def _probe_dim(self) -> int:
        return int(self._run(["x"], 1).shape[1])

    def _run(self, texts: list[str], batch_size: int) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: np.ndarray | None = None
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = self._tokenizer.encode_batch([texts[i] for i in rows])
            feeds = {
                "input_ids": np.array([e.ids for e in batch], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in batch], dtype=np.int64),
            }
            vectors = self._session.run(None, feeds)[0]
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        return _normalise(out if out is not None else np.zeros((0, 0), dtype=np.float32))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._run([self._config.query_prompt + t for t in texts], 32)

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._run([self._config.document_prompt + t for t in texts], batch_size)
