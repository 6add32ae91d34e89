"""Known answers for clicked search pages -> training rows (labels, weights, kept rows)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import polars as pl

from recsys.ranking.click_lists import ClickPage, PageRetrieval, click_pages, position_bias
from recsys.ranking.click_model import prior_position_bias
from recsys.search.query_features import QUERY_FEATURES


class FakeRetriever:
    """Returns fixed results; records what it was asked."""

    def __init__(self, found: list[int]) -> None:
        self.found = np.array(found)
        self.asked: list[str] = []

    def retrieve_many(
        self, queries: Sequence[str], n: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for query in queries:
            self.asked.append(query)
            scores = np.arange(len(self.found) * len(QUERY_FEATURES), dtype=np.float64)
            yield self.found[:n], scores.reshape(len(self.found), -1)[:n]


def page(labels: list[float], items: list[int] | None = None) -> ClickPage:
    items = items or [5, 3, 7, 9]
    return ClickPage("star", "u1", 100, np.array(items), np.array(labels), np.arange(len(items)))


def test_rows_keep_the_shown_results_the_engine_retrieves_with_inverse_propensity() -> None:
    retriever = FakeRetriever([9, 3, 1, 5])  # 1 was not shown, 7 is no longer retrieved
    retrieval = PageRetrieval(retriever, [page([0, 1, 0, 2]), page([1, 0, 0, 0])], n=50)
    assert retriever.asked == ["star"]  # one retrieval per distinct query
    rows = retrieval.rows(page([0, 1, 0, 2]), prior_position_bias(10), max_weight=3.0)
    assert rows is not None
    items, query_scores, labels, weights = rows
    assert items.tolist() == [9, 3, 5]
    assert labels.tolist() == [2.0, 1.0, 0.0]  # played, clicked, ignored
    # a click at position 3 weighs 1 / (1/4), clipped to 3; at position 1: 2; no click: 1
    assert weights.tolist() == [3.0, 2.0, 1.0]
    assert query_scores.shape == (3, len(QUERY_FEATURES))
    (_, expected), *_ = retriever.retrieve_many(["star"], 50)
    np.testing.assert_array_equal(query_scores[1], expected[1])


def test_a_page_whose_click_is_no_longer_retrieved_gives_no_rows() -> None:
    retrieval = PageRetrieval(FakeRetriever([5, 3, 1]), [page([0, 0, 1, 0])], n=50)
    assert retrieval.rows(page([0, 0, 1, 0]), prior_position_bias(10), 10.0) is None


def test_click_pages_keep_pages_with_a_click_in_page_order() -> None:
    shown = pl.DataFrame(
        {
            "request_id": ["r1", "r1", "r2", "r2"],
            "ts": [10, 10, 20, 20],
            "user_id": ["u1", "u1", None, None],
            "query": ["Star", "Star", "alien", "alien"],
            "query_key": ["star", "star", "alien", "alien"],
            "item_id": ["b", "a", "a", "b"],
            "position": [0, 1, 0, 1],
            "clicked": [False, True, False, False],
            "played": [False, True, False, False],
        }
    )
    pages = click_pages(shown, {"a": 0, "b": 1})
    assert len(pages) == 1
    assert (pages[0].query, pages[0].user_id, pages[0].ts) == ("Star", "u1", 10)
    assert pages[0].items.tolist() == [1, 0]
    assert pages[0].labels.tolist() == [0.0, 2.0]
    assert not position_bias(shown).estimated  # two pairs, never at two positions
    assert position_bias(shown, corrected=False).relative == (1.0,)
