"""Search-as-you-type suggestions: prefixes, inner words, folding, kinds, ranking, dedupe."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from recsys.search.suggest import SuggestIndex, Suggestion
from tests.recsys.lexical_catalog import catalog_frame

ROWS: list[dict[str, Any]] = [
    {"item_id": "0", "title": "Star Wars", "cast": ["Mark Hamill", "Harrison Ford"],
     "directors": ["George Lucas"], "genres": ["Science Fiction", "Adventure"]},
    {"item_id": "1", "title": "Harry Potter and the Philosopher's Stone",
     "alt_titles": ["Harry Potter and the Sorcerer's Stone"],
     "cast": ["Daniel Radcliffe", "Alan Rickman"], "genres": ["Fantasy", "Adventure"]},
    {"item_id": "2", "title": "Amélie", "original_title": "Le Fabuleux Destin d'Amélie Poulain",
     "localizations": [{"lang": "fr", "title": "Le Fabuleux Destin d'Amélie Poulain",
                        "description": None}],
     "cast": ["Audrey Tautou"], "genres": ["Comedy", "Romance"]},
    {"item_id": "3", "title": "Spirited Away", "original_title": "千と千尋の神隠し",
     "directors": ["Hayao Miyazaki"], "genres": ["Animation", "Fantasy"]},
    {"item_id": "4", "title": "Starship Troopers", "genres": ["Science Fiction", "Action"]},
    {"item_id": "5", "title": "Stardust", "cast": ["Claire Danes"], "genres": ["Fantasy"]},
    {"item_id": "6", "title": "The Godfather", "cast": ["Marlon Brando", "Al Pacino"],
     "genres": ["Crime", "Drama"]},
    {"item_id": "7", "title": "Hamlet", "year": 1990, "cast": ["Al Pacino"]},
    {"item_id": "8", "title": "Hamlet", "year": 1996},
    {"item_id": "9", "title": "Stonehearst Asylum", "alt_titles": None, "localizations": None,
     "cast": None, "directors": None, "genres": None},
]  # fmt: skip
WEIGHTS = np.array([10.0, 8.0, 5.0, 9.0, 3.0, 6.0, 7.0, 2.0, 1.0, 0.5])


@pytest.fixture(scope="module")
def index() -> SuggestIndex:
    return SuggestIndex.from_catalog(catalog_frame(ROWS), WEIGHTS)


def texts(suggestions: list[Suggestion]) -> list[str]:
    return [s.text for s in suggestions]


def test_title_prefix_ranks_by_weight(index: SuggestIndex) -> None:
    found = index.suggest("star", kinds={"title"})
    assert texts(found) == ["Star Wars", "Stardust", "Starship Troopers"]
    assert [s.item_position for s in found] == [0, 5, 4]
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)


def test_inner_word_prefix_finds_the_title(index: SuggestIndex) -> None:
    assert texts(index.suggest("wars")) == ["Star Wars"]
    assert [s.item_position for s in index.suggest("potter")] == [1]


def test_whole_name_matches_rank_above_inner_words_whatever_the_weight(
    index: SuggestIndex,
) -> None:
    found = index.suggest("stone", kinds={"title"})
    assert [s.item_position for s in found] == [9, 1]  # Stonehearst (0.5) before Potter (8)
    assert found[0].score > 1.0 > found[1].score


def test_leading_article_counts_as_the_start_of_the_name(index: SuggestIndex) -> None:
    [found] = index.suggest("godf")
    assert (found.text, found.item_position) == ("The Godfather", 6)
    assert found.score > 1.0


@pytest.mark.parametrize("prefix", ["amel", "AMÉL", "Amel", "  amél"])
def test_accents_and_case_fold(index: SuggestIndex, prefix: str) -> None:
    assert index.suggest(prefix, kinds={"title"}) == [
        Suggestion(kind="title", text="Amélie", item_position=2, score=1.5)
    ]


def test_an_item_is_suggested_once_with_its_best_matching_variant(index: SuggestIndex) -> None:
    # "Amélie" (whole name) beats "Le Fabuleux Destin d'Amélie Poulain" (inner word)
    assert texts(index.suggest("amelie")) == ["Amélie"]
    # both Harry Potter titles start the same way: one suggestion, the shorter title
    found = index.suggest("harry potter and the")
    assert texts(found) == ["Harry Potter and the Sorcerer's Stone"]


def test_items_sharing_a_title_stay_separate(index: SuggestIndex) -> None:
    found = index.suggest("hamlet")
    assert [(s.text, s.item_position) for s in found] == [("Hamlet", 7), ("Hamlet", 8)]


def test_people_are_suggested_with_summed_weights(index: SuggestIndex) -> None:
    found = index.suggest("al", kinds={"person"})
    # Al Pacino: The Godfather (7) + Hamlet (2) = 9 > Alan Rickman: Harry Potter (8)
    assert texts(found) == ["Al Pacino", "Alan Rickman"]
    assert all(s.kind == "person" and s.item_position is None for s in found)
    assert texts(index.suggest("tauto")) == ["Audrey Tautou"]  # a surname


def test_genres_are_suggested_by_item_count(index: SuggestIndex) -> None:
    assert index.suggest("fanta") == [
        Suggestion(kind="genre", text="Fantasy", item_position=None, score=2.0)
    ]
    found = index.suggest("a", kinds={"genre"})
    assert texts(found) == ["Adventure", "Action", "Animation"]  # 2 items, then 1 by length


def test_kinds_filter(index: SuggestIndex) -> None:
    assert {s.kind for s in index.suggest("a", k=50)} == {"title", "person", "genre"}
    assert {s.kind for s in index.suggest("a", k=50, kinds={"title"})} == {"title"}
    assert index.suggest("star", kinds={"person", "genre"}) == []
    with pytest.raises(ValueError, match="unknown suggestion kinds"):
        index.suggest("star", kinds={"movie"})
    with pytest.raises(ValueError, match="unknown suggestion kinds"):
        index.suggest("", kinds={"movie"})


def test_k_is_respected(index: SuggestIndex) -> None:
    assert len(index.suggest("s", k=2)) == 2
    assert len(index.suggest("s", k=1)) == 1
    assert index.suggest("s", k=0) == []


@pytest.mark.parametrize("prefix", ["", "   ", "!?", "-"])
def test_empty_prefix_suggests_nothing(index: SuggestIndex, prefix: str) -> None:
    assert index.suggest(prefix) == []


def test_trailing_space_completes_the_word(index: SuggestIndex) -> None:
    assert texts(index.suggest("star ", kinds={"title"})) == ["Star Wars"]


@pytest.mark.parametrize("prefix", ["千", "千と", "千と千尋の神隠し"])
def test_cjk_titles_complete_from_their_start(index: SuggestIndex, prefix: str) -> None:
    found = index.suggest(prefix)
    assert [(s.text, s.item_position) for s in found] == [("千と千尋の神隠し", 3)]


def test_no_match(index: SuggestIndex) -> None:
    assert index.suggest("zzz") == []


def test_build_rejects_unknown_kinds_and_misaligned_weights() -> None:
    with pytest.raises(ValueError, match="unknown suggestion kind"):
        SuggestIndex.build([("movie", "Star Wars", 0, 1.0)])
    with pytest.raises(ValueError, match="item weights"):
        SuggestIndex.from_catalog(catalog_frame(ROWS), WEIGHTS[:3])


def test_missing_catalog_columns_read_as_empty() -> None:
    frame = pl.DataFrame({"item_id": ["a", "b"], "title": ["Alien", None]})
    index = SuggestIndex.from_catalog(frame, np.array([1.0, 2.0]))
    assert texts(index.suggest("al")) == ["Alien"]


def test_a_large_index_answers() -> None:
    entries = [("title", f"Title {i:05d} word{i % 97}", i, float(i % 13)) for i in range(20_000)]
    index = SuggestIndex.build(entries)
    assert len(index) == 20_000
    found = index.suggest("title 0001", k=8)
    assert len(found) == 8
    assert all(s.text.startswith("Title 0001") for s in found)
    assert all(s.text.endswith(" word5") for s in index.suggest("word5 ", k=20))
    assert len(index.suggest("t", k=100)) == 100
    # inner-word matches of the heaviest titles (weight 12, the index's largest: 1.0) first
    assert [s.score for s in index.suggest("word0 ", k=5)] == [1.0] * 5
