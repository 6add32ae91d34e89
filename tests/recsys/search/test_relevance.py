"""The relevance threshold: known answers for the two tiers, the gap and the calibration."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.search.query_features import QUERY_FEATURES, column
from recsys.search.relevance import (
    GAP_RANK,
    RelevanceFloors,
    RelevanceParams,
    calibrate_dense_floor,
    dense_gap,
    is_sentence,
    null_queries,
    relevant,
    required_words,
    strong_evidence,
)

PARAMS = RelevanceParams()
FLOORS = RelevanceFloors(strong=0.6, weak=0.3, gap=0.2)


def rows(**columns: list[float]) -> np.ndarray:
    n = len(next(iter(columns.values())))
    out = np.zeros((n, len(QUERY_FEATURES)))
    for name, values in columns.items():
        out[:, column(name)] = values
    return out


def test_required_words() -> None:
    # one and two words: all of them; longer: at least two and a quarter
    n = np.array([1, 2, 3, 4, 8, 9, 12])
    assert required_words(n, PARAMS).tolist() == [1, 2, 2, 2, 2, 3, 3]


def test_strong_evidence_known_answer() -> None:
    scores = rows(
        query_words=[2, 2, 2, 2, 2],
        query_word_coverage=[1.0, 0.5, 0.0, 0.0, 0.5],
        query_title=[0.0, 0.0, 0.9, 0.0, 0.0],
        query_dense=[0.1, 0.1, 0.1, 0.65, 0.59],
    )
    assert strong_evidence(scores, FLOORS.strong, PARAMS).tolist() == [
        True,  # both words matched
        False,  # one of two words
        True,  # a near title match
        True,  # dense above the strong floor
        False,
    ]


def test_a_query_without_strong_evidence_matches_nothing() -> None:
    scores = rows(
        query_words=[1, 1, 1],
        query_word_coverage=[0.0, 0.0, 0.0],
        query_dense=[0.5, 0.45, 0.44],  # flat crowd below the strong floor, small gap
    )
    assert relevant(scores, FLOORS, PARAMS).tolist() == [False, False, False]


def test_once_meaningful_weak_evidence_is_enough() -> None:
    scores = rows(
        query_words=[3, 3, 3, 3, 3],
        query_word_coverage=[1.0, 1 / 3, 0.0, 0.0, 0.0],
        query_dense=[0.2, 0.1, 0.35, 0.25, 0.28],
    )
    # all words; one word; dense above the weak floor; nothing; nothing
    assert relevant(scores, FLOORS, PARAMS).tolist() == [True, True, True, False, False]


def test_a_sentence_keeps_every_retrieved_result() -> None:
    scores = rows(query_words=[9, 9, 9], query_dense=[0.2, 0.1, 0.05])
    assert not relevant(scores, FLOORS, PARAMS).any()
    assert relevant(scores, FLOORS, PARAMS, sentence=True).all()


@pytest.mark.parametrize(
    ("words", "known", "lang", "script", "expected"),
    [
        (9, 0.8, None, "LATIN", True),  # Spanish plot: words the catalog knows
        (9, 0.1, "es", "LATIN", True),  # a detected language
        (20, 0.0, None, "DEVANAGARI", True),  # Hindi: no vocabulary to compare with
        (5, 1.0, "en", "LATIN", False),  # too short to be a description
        (7, 0.0, None, "LATIN", False),  # a long keyboard mash
        (6, 0.0, None, None, False),  # digits
    ],
)
def test_is_sentence(
    words: int, known: float, lang: str | None, script: str | None, expected: bool
) -> None:
    assert is_sentence(words, known, lang, script) is expected


def test_a_standout_similarity_makes_a_query_meaningful() -> None:
    dense = [0.9] + [0.6] * (GAP_RANK + 5)  # all high (a multilingual encoder), one stands out
    scores = rows(query_words=[4.0] * len(dense), query_dense=dense)
    floors = RelevanceFloors(strong=0.95, weak=0.5, gap=0.2)
    assert relevant(scores, floors, PARAMS).all()
    flat = rows(query_words=[4.0] * len(dense), query_dense=[0.7] * len(dense))
    assert not relevant(flat, floors, PARAMS).any()


def test_dense_gap() -> None:
    sims = np.linspace(1.0, 0.0, 30)
    assert dense_gap(sims[::-1]) == pytest.approx(sims[0] - sims[GAP_RANK - 1])
    assert dense_gap(np.array([0.5])) == 0.0
    assert dense_gap(np.array([0.5, np.nan, 0.1])) == pytest.approx(1.5)  # NaN counts as -1


def test_null_queries_are_seeded_strings() -> None:
    first, again = null_queries(50, seed=3), null_queries(50, seed=3)
    assert first == again and first != null_queries(50, seed=4)
    for query in first:
        words = query.split()
        assert 1 <= len(words) <= 3 and all(3 <= len(w) <= 10 and w.isalpha() for w in words)


def test_calibration_known_answer() -> None:
    params = RelevanceParams(null_queries=100, null_quantile=0.5)
    # every null query: best 0.4, then a flat crowd at 0.3 -> gap 0.1
    asked: list[list[str]] = []

    def tops(queries: list[str]) -> list[np.ndarray]:
        asked.append(queries)
        return [np.array([0.4] + [0.3] * 25) for _ in queries]

    result = calibrate_dense_floor(tops, params)
    assert asked == [null_queries(100, params.seed)]  # every null query, in one call
    assert result["dense_floor"] == pytest.approx(0.4)
    assert result["null_median"] == pytest.approx(0.4)
    assert result["gap_floor"] == pytest.approx(0.1)
    floors = RelevanceFloors.from_calibration(result)
    assert (floors.strong, floors.weak, floors.gap) == pytest.approx((0.4, 0.4, 0.1))
