"""embed_texts and EmbeddingCache: only new or changed texts are encoded, never twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from recsys.search.embeddings import EmbeddingCache, embed_texts, text_key
from recsys.search.encoder import HASHING_MODEL, EncoderConfig, HashingEncoder

TEXTS = ["Spirited Away", "Fight Club", "千と千尋の神隠し", "Le Voyage de Chihiro"]


class CountingEncoder(HashingEncoder):
    """HashingEncoder that records every text it is asked to encode as a document."""

    def __init__(self, config: EncoderConfig | None = None) -> None:
        super().__init__(config)
        self.calls: list[list[str]] = []

    @property
    def encoded(self) -> Counter[str]:
        """How often each text was encoded (call order and batching are free to vary)."""
        return Counter(text for call in self.calls for text in call)

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        self.calls.append(list(texts))
        return super().encode_documents(texts, batch_size=batch_size, progress=progress)


def reference(texts: Sequence[str], config: EncoderConfig | None = None) -> np.ndarray:
    return HashingEncoder(config).encode_documents(list(texts))


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def cache_files(cache_dir: Path, encoder: HashingEncoder) -> tuple[Path, Path]:
    directory = cache_dir / encoder.config.fingerprint()
    return directory / "keys.npy", directory / "vectors.npy"


def test_first_call_encodes_every_text(cache_dir: Path) -> None:
    encoder = CountingEncoder()
    vectors, stats = embed_texts(TEXTS, encoder, cache_dir, progress=False)
    assert encoder.encoded == Counter(TEXTS)
    assert stats.to_dict() == {"total": 4, "cached": 0, "encoded": 4, "deduplicated": 0}
    assert vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, reference(TEXTS))
    keys, vecs = cache_files(cache_dir, encoder)
    assert keys.exists() and vecs.exists()
    assert len(EmbeddingCache(cache_dir, encoder.config.fingerprint(), encoder.dim)) == 4


def test_second_call_encodes_only_the_changed_text(cache_dir: Path) -> None:
    embed_texts(TEXTS, CountingEncoder(), cache_dir, progress=False)
    changed = [TEXTS[0], "Fight Club (1999)", TEXTS[2], TEXTS[3]]
    encoder = CountingEncoder()
    vectors, stats = embed_texts(changed, encoder, cache_dir, progress=False)
    assert encoder.encoded == Counter(["Fight Club (1999)"])
    assert stats.to_dict() == {"total": 4, "cached": 3, "encoded": 1, "deduplicated": 0}
    np.testing.assert_array_equal(vectors, reference(changed))


def test_unchanged_texts_encode_nothing(cache_dir: Path) -> None:
    first, _ = embed_texts(TEXTS, CountingEncoder(), cache_dir, progress=False)
    encoder = CountingEncoder()
    # same texts, another order: rows follow the input order
    vectors, stats = embed_texts(TEXTS[::-1], encoder, cache_dir, progress=False)
    assert encoder.calls == []
    assert stats.to_dict() == {"total": 4, "cached": 4, "encoded": 0, "deduplicated": 0}
    np.testing.assert_array_equal(vectors, first[::-1])


def test_duplicates_are_encoded_once(cache_dir: Path) -> None:
    texts = ["Heat", "Solaris", "Heat", "Heat", "Solaris", "Hamlet"]
    encoder = CountingEncoder()
    vectors, stats = embed_texts(texts, encoder, cache_dir, progress=False)
    assert encoder.encoded == Counter(["Heat", "Solaris", "Hamlet"])
    assert (stats.total, stats.cached, stats.encoded, stats.deduplicated) == (6, 0, 3, 3)
    np.testing.assert_array_equal(vectors, reference(texts))
    assert len(EmbeddingCache(cache_dir, encoder.config.fingerprint(), encoder.dim)) == 3


def test_duplicates_are_encoded_once_without_cache() -> None:
    encoder = CountingEncoder()
    vectors, stats = embed_texts(["a b", "c", "a b"], encoder, None, progress=False)
    assert encoder.encoded == Counter(["a b", "c"])
    assert stats.total == 3 and stats.cached == 0
    np.testing.assert_array_equal(vectors, reference(["a b", "c", "a b"]))


def test_no_cache_dir_always_encodes(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    embed_texts(TEXTS, encoder, None, progress=False)
    embed_texts(TEXTS, encoder, None, progress=False)
    assert encoder.encoded == Counter(TEXTS * 2)
    assert list(tmp_path.iterdir()) == []


def test_empty_input(cache_dir: Path) -> None:
    encoder = CountingEncoder()
    vectors, stats = embed_texts([], encoder, cache_dir, progress=False)
    assert vectors.shape == (0, encoder.dim)
    assert stats.to_dict() == {"total": 0, "cached": 0, "encoded": 0, "deduplicated": 0}
    assert encoder.calls == []


def test_cache_survives_reload_from_disk(cache_dir: Path) -> None:
    first, _ = embed_texts(TEXTS, CountingEncoder(), cache_dir, progress=False)
    fingerprint = HashingEncoder().config.fingerprint()
    cache = EmbeddingCache(cache_dir, fingerprint, 256)
    assert len(cache) == 4
    found, missing = cache.get([text_key(t) for t in [*TEXTS, "unknown"]])
    assert missing == [4]
    np.testing.assert_array_equal(found[:4], first)
    assert not found[4].any()


def test_cache_keyed_by_fingerprint(cache_dir: Path) -> None:
    plain = CountingEncoder()
    prompted = CountingEncoder(EncoderConfig(model=HASHING_MODEL, document_prompt="passage: "))
    assert plain.config.fingerprint() != prompted.config.fingerprint()
    embed_texts(TEXTS, plain, cache_dir, progress=False)
    vectors, stats = embed_texts(TEXTS, prompted, cache_dir, progress=False)
    assert prompted.encoded == Counter(TEXTS)  # nothing reused from the other vector space
    assert stats.encoded == 4
    np.testing.assert_array_equal(vectors, reference(TEXTS, prompted.config))
    assert sorted(p.name for p in cache_dir.iterdir()) == sorted(
        [plain.config.fingerprint(), prompted.config.fingerprint()]
    )
    # and each space keeps its own vectors
    again = CountingEncoder()
    embed_texts(TEXTS, again, cache_dir, progress=False)
    assert again.calls == []


def test_query_prompt_shares_the_document_cache(cache_dir: Path) -> None:
    embed_texts(TEXTS, CountingEncoder(), cache_dir, progress=False)
    other = CountingEncoder(EncoderConfig(model=HASHING_MODEL, query_prompt="query: "))
    embed_texts(TEXTS, other, cache_dir, progress=False)
    assert other.calls == []


def _corrupt(keys: Path, vectors: Path, how: str) -> None:
    if how == "garbage_vectors":
        vectors.write_bytes(b"this is not a numpy file")
    elif how == "truncated_vectors":
        vectors.write_bytes(vectors.read_bytes()[:-40])
    elif how == "truncated_header":
        keys.write_bytes(keys.read_bytes()[:20])
    elif how == "length_mismatch":
        np.save(vectors, np.load(vectors)[:2])
    elif how == "wrong_dim":
        np.save(vectors, np.zeros((4, 8), dtype=np.float32))
    elif how == "pickled_keys":
        np.save(keys, np.array([{"a": 1}] * 4, dtype=object), allow_pickle=True)
    elif how == "legacy_string_keys":  # the earlier "S16" key format
        np.save(keys, np.array([b"k" * 16] * 4, dtype="S16"))
    elif how == "empty_vectors":
        vectors.write_bytes(b"")
    else:  # pragma: no cover
        raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "garbage_vectors",
        "truncated_vectors",
        "truncated_header",
        "length_mismatch",
        "wrong_dim",
        "pickled_keys",
        "legacy_string_keys",
        "empty_vectors",
    ],
)
def test_corrupt_cache_is_ignored(cache_dir: Path, how: str) -> None:
    embed_texts(TEXTS, CountingEncoder(), cache_dir, progress=False)
    keys, vecs = cache_files(cache_dir, HashingEncoder())
    _corrupt(keys, vecs, how)
    encoder = CountingEncoder()
    vectors, stats = embed_texts(TEXTS, encoder, cache_dir, progress=False)
    assert encoder.encoded == Counter(TEXTS)  # everything re-encoded, nothing fatal
    assert stats.encoded == 4
    np.testing.assert_array_equal(vectors, reference(TEXTS))
    # and the cache was rewritten in a readable state
    again = CountingEncoder()
    embed_texts(TEXTS, again, cache_dir, progress=False)
    assert again.calls == []


def _text_with_key_ending_in_nul() -> str:
    return next(t for t in (f"text {i}" for i in range(10_000)) if text_key(t)[-1] == 0)


def test_key_ending_in_nul_byte_is_cached(cache_dir: Path) -> None:
    # numpy "S16" strings drop trailing NUL bytes: such a key (1 in 256) must still hit
    texts = [_text_with_key_ending_in_nul(), "Fight Club"]
    embed_texts(texts, CountingEncoder(), cache_dir, progress=False)
    encoder = CountingEncoder()
    _, stats = embed_texts(texts, encoder, cache_dir, progress=False)
    assert encoder.calls == []
    assert stats.encoded == 0
    fingerprint = HashingEncoder().config.fingerprint()
    assert len(EmbeddingCache(cache_dir, fingerprint, 256)) == 2  # no duplicate rows


def test_cache_add_ignores_known_keys(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, "fp", 3)
    keys = [text_key("a"), text_key("b")]
    cache.add(keys, np.eye(3, dtype=np.float32)[:2])
    cache.add([text_key("a")], np.full((1, 3), 9.0, dtype=np.float32))
    assert len(cache) == 2
    found, missing = cache.get(keys)
    assert missing == []
    np.testing.assert_array_equal(found, np.eye(3, dtype=np.float32)[:2])
    cache.save()
    assert len(EmbeddingCache(tmp_path, "fp", 3)) == 2
    assert EmbeddingCache(tmp_path, "fp", 4).get(keys)[1] == [0, 1]  # other dim: unusable
    assert not [p for p in (tmp_path / "fp").iterdir() if p.name.endswith(".tmp")]
