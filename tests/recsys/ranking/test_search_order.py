"""How search results are ordered under each ranker name."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.core.errors import InvalidRequestError
from recsys.ranking.rankers import LightGBMRanker, NoOpRanker
from recsys.ranking.search_order import SearchOrdering
from recsys.search.query_features import QUERY_FEATURES, column
from recsys.search.title_match import EXACT_BONUS


class Scores:
    """Stands in for the anonymous and personal rankers: fixed scores per item."""

    def __init__(self, by_item: dict[int, float], known: str | None = None) -> None:
        self.by_item, self.known = by_item, known

    def scores(self, *args: object) -> np.ndarray | None:
        user, items = (args[0], args[1]) if len(args) == 3 else (self.known, args[0])
        if user != self.known:
            return None
        return np.array([self.by_item[i] for i in np.asarray(items).tolist()])


ITEMS = np.array([7, 3, 9, 1])
QUERY = np.zeros((4, len(QUERY_FEATURES)))
QUERY[:, column("query_fused")] = [0.4, 0.3, 0.2, 0.1]
QUERY[:, column("query_rank")] = [1, 2, 3, 4]
QUERY[2, column("query_title")] = EXACT_BONUS  # item 9 is the exact title


def ordering(personal: bool = True) -> SearchOrdering:
    anonymous = Scores({7: 0.1, 3: 0.9, 9: 0.5, 1: 0.2})
    person = Scores({7: 0.0, 3: 0.2, 9: 0.1, 1: 0.8}, known="u1") if personal else None
    return SearchOrdering(anonymous, person)  # type: ignore[arg-type]


def test_noop_keeps_the_fused_order() -> None:
    order, scores, name = ordering().order(ITEMS, QUERY, None, NoOpRanker.name)
    assert ITEMS[order].tolist() == [7, 3, 9, 1] and name == NoOpRanker.name
    np.testing.assert_array_equal(scores, QUERY[:, column("query_fused")])


def test_anonymous_requests_use_the_learned_ranker() -> None:
    order, scores, name = ordering().order(ITEMS, QUERY, None, None)
    assert ITEMS[order].tolist() == [3, 9, 1, 7] and name == LightGBMRanker.name
    assert scores[order].tolist() == sorted(scores.tolist(), reverse=True)


def test_a_known_user_gets_the_personal_ranker_with_the_exact_title_first() -> None:
    order, _, name = ordering().order(ITEMS, QUERY, "u1", LightGBMRanker.name)
    assert ITEMS[order].tolist() == [9, 1, 3, 7] and name == LightGBMRanker.name


def test_an_unknown_user_falls_back_to_the_anonymous_ranker() -> None:
    order, _, _ = ordering().order(ITEMS, QUERY, "stranger", None)
    assert ITEMS[order].tolist() == [3, 9, 1, 7]


def test_names_served_and_unknown_names() -> None:
    assert ordering().rankers == (LightGBMRanker.name, NoOpRanker.name)
    assert SearchOrdering().rankers == (NoOpRanker.name,)
    order, _, name = SearchOrdering().order(ITEMS, QUERY, None, None)
    assert name == NoOpRanker.name and order.tolist() == [0, 1, 2, 3]
    with pytest.raises(InvalidRequestError, match="search ranker"):
        ordering().order(ITEMS, QUERY, None, "bm25")
