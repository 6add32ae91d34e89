"""Hybrid retrieval in the engine: fusion, title matches on top, filters inside retrieval
(k results whenever k items match), language preference, one result per item."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.catalog.documents import build_documents
from recsys.catalog.items import ItemTable
from recsys.core.types import SearchFilters, SearchRequest
from recsys.search.encoder import HashingEncoder
from recsys.search.hybrid import HybridSearcher
from recsys.search.options import SearchOptions
from recsys.search.query_features import QUERY_FEATURES
from recsys.service import Engine
from tests.recsys.lexical_catalog import ROWS, catalog_frame

# a catalog with the multilingual known-answer rows plus 60 filler movies, 20 of them French
FILLER = [
    {
        "item_id": f"f{i}",
        "title": f"Filler Story {i}",
        "original_language": "fr" if i % 3 == 0 else "en",
        "year": 1980 + i % 40,
        "genres": ["Drama"],
        "description": f"An ordinary drama number {i} about a family.",
        "maturity_rating": "PG" if i % 2 else "TV-MA",
    }
    for i in range(60)
]


@pytest.fixture(scope="module")
def engine() -> Engine:
    catalog = catalog_frame(ROWS + FILLER)
    documents = build_documents(catalog)
    encoder = HashingEncoder()
    vectors = encoder.encode_documents(documents["text"].to_list())
    items = ItemTable(catalog)
    searcher = HybridSearcher.from_arrays(
        items,
        items.positions(documents["item_id"].to_list()),
        documents["kind"].to_numpy(),
        vectors,
        None,  # exact per-kind indexes
        encoder,
        SearchOptions(query_cache_size=0, min_fetch=10, fusion_depth=10),
    )
    return Engine(searcher, "test")


def ids(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [hit.item_id for hit in result.items]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("the godfather", "3"),
        ("godfahter", "3"),  # typo
        ("the godfather part ii", "4"),
        ("千と千尋の神隠し", "1"),  # native script
        ("千と千", "1"),  # native-script prefix
        ("amelie", "2"),  # accents folded
        ("le fabuleux destin d'amélie poulain", "2"),  # original title
        ("기생충", "5"),
        ("la vita e bella", "7"),
        ("jurass", None),  # nothing like it: no crash, whatever dense finds
    ],
)
def test_title_queries_rank_the_title_first(
    engine: Engine, query: str, expected: str | None
) -> None:
    result = engine.search(SearchRequest(query, k=5))
    if expected is not None:
        assert ids(result)[0] == expected


def test_exact_title_beats_a_better_fused_score(engine: Engine) -> None:
    items, scores = engine.searcher.retrieve("the godfather", 5)
    title = scores[:, QUERY_FEATURES.index("query_title")]
    assert title[0] == 1.0  # the exact title
    fused = scores[:, QUERY_FEATURES.index("query_fused")]
    assert np.all(np.diff(fused) <= 0)
    assert scores[:, QUERY_FEATURES.index("query_rank")].tolist() == list(range(1, len(items) + 1))


def test_fusion_uses_both_lists(engine: Engine) -> None:
    items, scores = engine.searcher.retrieve("concentration camp father", 10)
    bm25 = scores[:, QUERY_FEATURES.index("query_bm25")]
    dense = scores[:, QUERY_FEATURES.index("query_dense")]
    assert engine.items.ids[items[0]] == "7"
    assert bm25[0] > 0 and dense[0] > 0
    query = "concentration camp father"
    lexical_only = SearchOptions(query_cache_size=0, dense_weight=0.0)
    found, _ = engine.searcher.retrieve(query, 10, options=lexical_only)
    lexical = engine.searcher.lexical
    assert set(found.tolist()) == set(np.flatnonzero(lexical.scores(query)).tolist())
    dense_only = SearchOptions(query_cache_size=0, lexical_weight=0.0)
    found, scores = engine.searcher.retrieve(query, 10, options=dense_only)
    assert len(found) == 10  # every item has a dense score


def test_results_are_one_per_item(engine: Engine) -> None:
    # Amelie has a title, a content and a French localized document: one result
    result = engine.search(SearchRequest("amelie serveuse paris", k=20))
    assert len(ids(result)) == len(set(ids(result)))


@pytest.mark.parametrize(
    ("filters", "n_matching"),
    [
        (SearchFilters(original_language="fr"), 21),  # Amelie + 20 French fillers
        (SearchFilters(maturity_ratings=("tv-ma",)), 30),
        (SearchFilters(maturity_ratings=("PG", "G")), 32),
        (SearchFilters(year_min=1990, year_max=1999, genre="drama"), 21),
        (SearchFilters(original_language="ko"), 1),
    ],
)
def test_filters_return_k_results_whenever_k_items_match(
    engine: Engine, filters: SearchFilters, n_matching: int
) -> None:
    allowed = engine.items.mask(filters)
    assert allowed is not None and int(allowed.sum()) == n_matching
    for k in (1, 10, 25):
        # a query unrelated to the matching items: every hit must come from the filter path
        result = engine.search(SearchRequest("godfather crime dynasty", k=k, filters=filters))
        assert len(result.items) == min(k, n_matching)
        assert all(allowed[engine.items.position(hit.item_id)] for hit in result.items)


def test_filter_values_are_reported_on_hits(engine: Engine) -> None:
    hit = engine.search(
        SearchRequest("amelie", k=1, filters=SearchFilters(original_language="fr"))
    ).items[0]
    assert (hit.item_id, hit.original_language, hit.maturity_rating) == ("2", "fr", "R")


def test_query_language_is_detected_and_preferred(engine: Engine) -> None:
    result = engine.search(SearchRequest("une famille ordinaire et un drame", k=10))
    assert result.query_language == "fr"
    items, scores = engine.searcher.retrieve("une famille ordinaire et un drame", 10)
    in_french = scores[:, QUERY_FEATURES.index("query_language")]
    french = engine.items.language_mask("fr")
    assert in_french.tolist() == french[items].astype(float).tolist()
    assert (
        engine.search(SearchRequest("godfather", k=3)).query_language is None
    )  # one word: no guess


def test_requested_lang_shows_localized_titles(engine: Engine) -> None:
    hit = engine.search(SearchRequest("amelie", k=1, lang="fr")).items[0]
    assert (hit.title, hit.lang) == ("Le Fabuleux Destin d'Amélie Poulain", "fr")
    hit = engine.search(SearchRequest("spirited away", k=1, lang="ja")).items[0]
    assert (hit.title, hit.lang) == ("千と千尋の神隠し", "ja")


def test_remakes_stay_distinguishable(engine: Engine) -> None:
    result = engine.search(SearchRequest("godfather", k=2))
    assert {(h.title, h.year) for h in result.items} == {
        ("The Godfather", 1972),
        ("The Godfather: Part II", 1974),
    }


def test_search_ranker_and_retrieval_arms(engine: Engine) -> None:
    from recsys.core.errors import InvalidRequestError

    hybrid = ids(engine.search(SearchRequest("concentration camp father", k=5)))
    assert (
        ids(engine.search(SearchRequest("concentration camp father", k=5, ranker="noop"))) == hybrid
    )
    dense = engine.search(SearchRequest("concentration camp father", k=5, retrieval="dense"))
    lexical = engine.search(SearchRequest("concentration camp father", k=5, retrieval="lexical"))
    assert len(dense.items) == 5 and ids(lexical) == ["7"]  # only one item has those words
    with pytest.raises(InvalidRequestError, match="search ranker"):
        engine.search(SearchRequest("godfather", ranker="popularity"))
    with pytest.raises(InvalidRequestError, match="retrieval mode"):
        engine.search(SearchRequest("godfather", retrieval="fuzzy"))


def test_the_dense_side_counts_an_item_once_at_its_best_kind() -> None:
    from recsys.search.hybrid import _rrf

    content = (1.0, [7, 3])  # item 7 first among English overviews
    localized = (0.5, [3])  # item 3 also has an overview in the query's language
    best = _rrf([content, localized], rrf_k=60.0)
    assert best == {7: 1.0 / 61, 3: max(1.0 / 62, 0.5 / 61)}
    assert max(best, key=best.__getitem__) == 7  # summing would have put item 3 first
    assert _rrf([(0.0, [1, 2])], rrf_k=60.0) == {}  # a list weighted out adds no candidates


def features_of(engine: Engine, query: str) -> dict[str, dict[str, float]]:
    items, scores = engine.searcher.retrieve(query, 20)
    return {
        engine.items.ids[i]: dict(zip(QUERY_FEATURES, row.tolist(), strict=True))
        for i, row in zip(items.tolist(), scores, strict=True)
    }


def test_query_features_per_field_and_title_shape(engine: Engine) -> None:
    godfather = features_of(engine, "godfather part")
    part_two = godfather["4"]
    assert part_two["query_words"] == 2
    assert part_two["query_word_coverage"] == 1.0
    assert part_two["query_title_prefix"] == 1.0  # begins "godfather part ii"
    assert part_two["query_title_share"] == pytest.approx(2 / 3)
    assert part_two["query_bm25_title"] > 0 and part_two["query_bm25_people"] == 0
    first = godfather["3"]
    assert first["query_title_prefix"] == 0.0 and first["query_title_share"] == 1.0
    pacino = features_of(engine, "al pacino")
    assert pacino["3"]["query_bm25_people"] > 0 and pacino["3"]["query_bm25_title"] == 0


def test_dense_columns_per_document_kind(engine: Engine) -> None:
    features = features_of(engine, "une serveuse timide")
    amelie = features["2"]  # has a French localized overview
    assert np.isfinite(amelie["query_dense_localized"])
    assert amelie["query_dense"] == pytest.approx(
        max(amelie["query_dense_content"], amelie["query_dense_localized"])
    )
    no_localization = next(f for i, f in features.items() if i.startswith("f") and i != "2")
    assert np.isnan(no_localization["query_dense_localized"])
    assert no_localization["query_dense"] == pytest.approx(no_localization["query_dense_content"])


def test_feature_rows_do_not_depend_on_the_other_results(engine: Engine) -> None:
    """A result's query features are the same whatever else is scored with it (training
    lists and served pages see the same numbers)."""
    searcher = engine.searcher
    query = "a family drama"
    vec = searcher.encode_query(query)
    items, _ = searcher.retrieve(query, 20)
    full = searcher.features(query, vec, items, {}, {}, None)
    row_of = {item: row for item, row in zip(items.tolist(), full, strict=True)}
    for subset in (items[:3], items[::-1], items[5:6]):
        alone = searcher.features(query, vec, subset, {}, {}, None)
        expected = np.array([row_of[i] for i in subset.tolist()])
        np.testing.assert_array_equal(alone, expected)


def test_retrieve_many_gives_each_query_what_retrieve_gives(engine: Engine) -> None:
    """The build's batched path (encoding and index searches a chunk at a time, a chunk
    smaller than the query list here) returns the same results and features as one query at
    a time, in query order."""
    queries = [
        "the godfather",
        "godfahter",
        "千と千尋の神隠し",
        "an ordinary drama about a family and its story",  # descriptive: dense counts more
        "une histoire de famille ordinaire",
        "zzzz",
    ]
    batched = list(engine.searcher.retrieve_many(queries, 7, chunk=4))
    assert len(batched) == len(queries)
    for query, (items, features) in zip(queries, batched, strict=True):
        one_items, one_features = engine.searcher.retrieve(query, 7)
        assert items.tolist() == one_items.tolist(), query
        np.testing.assert_allclose(features, one_features, rtol=1e-5, atol=1e-6)
