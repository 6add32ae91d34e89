"""The BM25 lexical index: normalization, CJK bigrams, prefixes, typos, filters, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.core.errors import ArtifactError
from recsys.search.lexical import LexicalIndex, LexicalParams
from tests.recsys.lexical_catalog import catalog_frame

IDS = [row for row in catalog_frame()["item_id"].to_list()]


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    return LexicalIndex.build(catalog_frame())


def top(
    index: LexicalIndex, query: str, n: int = 5, allowed: np.ndarray | None = None
) -> list[str]:
    items, _ = index.search(query, n, allowed)
    return [IDS[i] for i in items]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("amelie", "2"),  # accent folding
        ("AMÉLIE", "2"),  # case folding
        ("Ｇｏｄｆａｔｈｅｒ", "3"),  # NFKC: full-width letters
        ("le fabuleux destin", "2"),  # original title
        ("千と千尋の神隠し", "1"),  # Japanese, unsegmented: character bigrams
        ("神隠し", "1"),  # a piece from inside the title
        ("기생충", "5"),  # Hangul
        ("tom hanks", "6"),  # cast
        ("miyazaki", "1"),  # director
        ("serveuse timide montmartre", "2"),  # localized overview
        ("concentration camp father", "7"),  # English description
    ],
)
def test_finds_by_normalized_tokens_in_every_field(
    index: LexicalIndex, query: str, expected: str
) -> None:
    assert top(index, query)[0] == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [("godfahter", "3"), ("godfater", "3"), ("parasit", "5"), ("amelei", "2")],
)
def test_typos_within_two_edits_match_title_terms(
    index: LexicalIndex, query: str, expected: str
) -> None:
    assert top(index, query)[0] == expected


def test_typo_tolerance_is_bounded(index: LexicalIndex) -> None:
    assert top(index, "gxdfxtxer") == []  # four edits from "godfather"
    assert top(index, "gdf") == []  # short terms get no typo expansion


@pytest.mark.parametrize(
    ("query", "expected"), [("godfa", {"3", "4"}), ("the godfather pa", {"4"}), ("千と", {"1"})]
)
def test_last_term_is_a_prefix(index: LexicalIndex, query: str, expected: set[str]) -> None:
    assert set(top(index, query, n=len(expected))) == expected


def test_exact_word_beats_its_completions(index: LexicalIndex) -> None:
    expansions = dict(index.expand("the god")[1])
    assert max(expansions.values()) < 1.0  # "god" is not a word of the catalog
    exact = dict(index.expand("toy")[0])
    assert exact[index.vocab.index("toy")] == 1.0


def test_filters_apply_inside_the_index(index: LexicalIndex) -> None:
    allowed = np.zeros(len(IDS), dtype=bool)
    allowed[3] = True  # only Part II
    assert top(index, "godfather", allowed=allowed) == ["4"]
    assert top(index, "amelie", allowed=allowed) == []


def test_scores_sorted_and_positive(index: LexicalIndex) -> None:
    items, scores = index.search("the godfather crime", 10)
    assert len(items) == len(set(items.tolist()))
    assert np.all(scores > 0) and np.all(np.diff(scores) <= 0)


def test_title_field_outweighs_description(index: LexicalIndex) -> None:
    # "parasite" is Parasite's title; no other item mentions it
    assert top(index, "family")[0] == "5"
    items, scores = index.search("godfather", 2)
    assert IDS[items[0]] == "3"  # shorter title: BM25 length normalization


def test_save_load_roundtrip(index: LexicalIndex, tmp_path: Path) -> None:
    path = tmp_path / "lexical.npz"
    index.save(path)
    loaded = LexicalIndex.load(path, LexicalParams.from_dict(index.params.to_dict()))
    for query in ("godfa", "千と千", "tom hanks", "godfahter"):
        np.testing.assert_array_equal(loaded.scores(query), index.scores(query))


def test_corrupt_file_is_an_artifact_error(tmp_path: Path) -> None:
    path = tmp_path / "lexical.npz"
    path.write_bytes(b"not an npz")
    with pytest.raises(ArtifactError, match="lexical index"):
        LexicalIndex.load(path, LexicalParams())


def test_truncation_stems_match_word_variants_in_descriptions(index: LexicalIndex) -> None:
    # "spirits" and "wanders" are in Spirited Away's description; the query has other forms
    assert top(index, "spirit wandering")[0] == "1"
    assert top(index, "employment")[0] == "5"  # "employed"


def test_field_weights_apply_at_query_time(index: LexicalIndex) -> None:
    query = "parasite"  # a title word of Parasite only
    titles_only = {"title": 1.0, "people": 0.0, "text": 0.0, "stems": 0.0}
    no_titles = {"title": 0.0, "people": 1.0, "text": 1.0, "stems": 1.0}
    assert top(index, query) == ["5"]
    assert index.search(query, 5, field_weights=titles_only)[0].tolist() == [4]
    assert index.search(query, 5, field_weights=no_titles)[0].tolist() == []


def test_evidence_per_field_and_word_coverage(index: LexicalIndex) -> None:
    """Per item: BM25 of titles, people, texts (summing to the default-weighted score) and
    the share of the query's words it matched."""
    items = np.arange(index.n_items)
    evidence = index.evidence("al pacino godfather", items)
    total = index.scores("al pacino godfather")
    np.testing.assert_allclose(evidence[:, :3].sum(axis=1), total, rtol=1e-5)
    godfather, part_two = 2, 3  # positions of items "3" and "4" in the fixture catalog
    assert evidence[godfather, 1] > 0 and evidence[godfather, 0] > 0  # people and title
    assert evidence[godfather, 3] == 1.0  # al, pacino, godfather all matched
    spirited = 0
    assert evidence[spirited, 3] == 0.0 and evidence[spirited, :3].sum() == 0.0
    assert 0 < evidence[part_two, 3] <= 1.0


@pytest.mark.parametrize("query", ["al pacino godfather", "godfathr", "spir", "the", "zzz"])
def test_evidence_of_some_items_equals_their_rows_of_all(index: LexicalIndex, query: str) -> None:
    """Evidence reads only the given items' postings: any subset, in any order and with
    repeats, gets exactly (bitwise) its rows of the evidence over every item."""
    everything = index.evidence(query, np.arange(index.n_items))
    rng = np.random.default_rng(0)
    for _ in range(5):
        items = rng.integers(0, index.n_items, int(rng.integers(1, 2 * index.n_items)))
        assert np.array_equal(index.evidence(query, items), everything[items])


def test_known_share_counts_vocabulary_words(index: LexicalIndex) -> None:
    assert index.known_share(["godfather", "xqzvbnm"]) == 0.5
    assert index.known_share([]) == 0.0


def test_a_misspelt_word_of_a_short_query_finds_titles(index: LexicalIndex) -> None:
    # "godfahter" is no word of the catalog: it reaches "godfather" within two edits
    assert [index.vocab[t] for t, _ in index.expand("godfahter")[0]] == ["godfather"]
    assert index._typo_terms("godfathr")  # one edit from a title word
    odyssey = LexicalIndex.build(
        catalog_frame([{"item_id": "a", "title": "2001: A Space Odyssey", "year": 1968}])
    )
    assert odyssey._typo_terms("odysey")  # a word: corrected
    assert odyssey._typo_terms("2002") == {}  # a number: never ("2201" is not "2001")


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_built_a_chunk_at_a_time_equals_built_at_once(index: LexicalIndex, chunk: int) -> None:
    chunked = LexicalIndex.build(catalog_frame(), chunk=chunk)
    assert chunked.vocab == index.vocab
    assert chunked.title_terms.tolist() == index.title_terms.tolist()
    assert chunked.doc_freq.tolist() == index.doc_freq.tolist()
    for name, matrix in index.fields.items():
        assert (chunked.fields[name] != matrix).nnz == 0
