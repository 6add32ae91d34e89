"""The SearchService contract, run over every implementation: the API tests' fake and a real
``Engine`` built from the fixture catalog and synthetic ratings with the hashing encoder.
Whatever the API relies on is asserted here, so the fake cannot drift from the engine (it
once ignored ``original_language`` and ``maturity_ratings``)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

import pytest

from pipelines.build import BuildOptions, build
from recsys.core.errors import InvalidParameterError, InvalidRequestError, NotFoundError
from recsys.core.types import (
    Hit,
    RecommendRequest,
    SearchFilters,
    SearchRequest,
    SearchService,
    SimilarRequest,
    SuggestRequest,
)
from recsys.ranking.rankers import PopularityRanker
from recsys.search.encoder import HashingEncoder
from recsys.service import Engine
from tests.api.conftest import FakeService
from tests.personalization_data import FIXTURE_DATA, small_config, write_ratings


@dataclass(frozen=True)
class Case:
    service: SearchService
    known_user: str
    item_id: str  # an item with neighbours
    query: str  # a query with at least three hits


@pytest.fixture(scope="module", params=["fake", "engine"])
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    if request.param == "fake":
        return Case(FakeService(), "u1", "m2", "robot")
    data_dir = tmp_path_factory.mktemp("contract") / "data"
    shutil.copytree(FIXTURE_DATA, data_dir)
    facts = write_ratings(data_dir)
    options = BuildOptions(progress=False, config=small_config())
    directory = build(data_dir, data_dir.parent / "artifacts", options, encoder=HashingEncoder())
    return Case(Engine.load(directory, encoder=HashingEncoder()), facts["known_user"], "1", "story")


def matches(hit: Hit, filters: SearchFilters) -> bool:
    ratings = {r.lower() for r in filters.maturity_ratings or ()}
    return (
        (filters.type is None or hit.type == filters.type)
        and (filters.genre is None or filters.genre.lower() in map(str.lower, hit.genres))
        and (filters.year_min is None or (hit.year or 0) >= filters.year_min)
        and (filters.year_max is None or (hit.year or 9999) <= filters.year_max)
        and (filters.original_language in (None, hit.original_language))
        and (not ratings or (hit.maturity_rating or "").lower() in ratings)
    )


def check_list(hits: list[Hit], k: int) -> None:
    ids = [hit.item_id for hit in hits]
    assert len(ids) <= k and len(set(ids)) == len(ids)


def test_search_shape(case: Case) -> None:
    result = case.service.search(SearchRequest(case.query, k=3))
    assert result.model_version == case.service.model_version
    assert len(result.items) == 3
    check_list(result.items, 3)
    scores = [hit.score for hit in result.items]
    assert scores == sorted(scores, reverse=True)


FILTERS = [
    SearchFilters(type="tv_show"),
    SearchFilters(year_min=2000, year_max=2010),
    SearchFilters(genre="Comedy"),
    SearchFilters(original_language="fr"),
    SearchFilters(maturity_ratings=("r", "PG-13")),
]


@pytest.mark.parametrize("filters", FILTERS, ids=str)
def test_every_surface_honours_filters(case: Case, filters: SearchFilters) -> None:
    service = case.service
    lists = [
        service.search(SearchRequest(case.query, k=20, filters=filters)).items,
        service.similar(SimilarRequest(case.item_id, k=20, filters=filters)).items,
        [r.hit for r in service.recommend(RecommendRequest(case.known_user, 20, filters)).items],
        [r.hit for r in service.recommend(RecommendRequest("stranger", 20, filters)).items],
    ]
    assert any(lists), "no surface returned anything: the filter check would be vacuous"
    for hits in lists:
        check_list(hits, 20)
        assert all(matches(hit, filters) for hit in hits), [h.item_id for h in hits]


def test_blank_query_and_unknown_names_are_invalid(case: Case) -> None:
    service = case.service
    for request in (
        SearchRequest("   "),
        SearchRequest(case.query, ranker="no-such-ranker"),
        SearchRequest(case.query, retrieval="no-such-mode"),
    ):
        with pytest.raises(InvalidRequestError):
            service.search(request)
    with pytest.raises(InvalidRequestError):
        service.recommend(RecommendRequest(case.known_user, ranker="no-such-ranker"))


def test_every_declared_capability_is_served(case: Case) -> None:
    caps = case.service.capabilities()
    assert caps.search_rankers and caps.recommendation_rankers and caps.retrieval_modes
    for ranker in caps.search_rankers:
        assert case.service.search(
            SearchRequest(case.query, k=2, user_id=case.known_user, ranker=ranker)
        ).items
    for mode in caps.retrieval_modes:
        assert case.service.search(SearchRequest(case.query, k=2, retrieval=mode)).items
    for ranker in caps.recommendation_rankers:
        result = case.service.recommend(RecommendRequest(case.known_user, k=2, ranker=ranker))
        assert len(result.items) == 2


def test_similar_never_returns_the_item(case: Case) -> None:
    result = case.service.similar(SimilarRequest(case.item_id, k=5))
    assert result.items and case.item_id not in [hit.item_id for hit in result.items]
    assert result.found == len(result.items)  # neighbours returned (no threshold here)
    check_list(result.items, 5)
    with pytest.raises(NotFoundError):
        case.service.similar(SimilarRequest("no-such-item"))


def test_known_and_unknown_users(case: Case) -> None:
    known = case.service.recommend(RecommendRequest(case.known_user, k=4))
    assert known.cold_start is False and known.user_id == case.known_user
    assert all(r.reasons and r.sources for r in known.items)
    stranger = case.service.recommend(RecommendRequest("someone-new", k=4))
    assert stranger.cold_start is True and stranger.ranker == PopularityRanker.name
    assert len(stranger.items) == 4


def test_item_lookup(case: Case) -> None:
    item: dict[str, Any] = case.service.item(case.item_id)
    assert item["item_id"] == case.item_id and item["title"]
    with pytest.raises(NotFoundError):
        case.service.item("no-such-item")
    assert isinstance(case.service.stats(), dict)


def test_pages_partition_the_matches(case: Case) -> None:
    """Pages cut with offset never repeat an item, and together they are the first page
    of the whole list; ``found`` counts the matches."""
    service = case.service
    whole = service.search(SearchRequest(case.query, k=12))
    assert whole.found >= len(whole.items) >= 3
    paged: list[str] = []
    for offset in range(0, 12, 4):
        page = service.search(SearchRequest(case.query, k=4, offset=offset))
        assert page.offset == offset and page.found == whole.found
        paged += [hit.item_id for hit in page.items]
    assert len(paged) == len(set(paged))
    assert paged == [hit.item_id for hit in whole.items]
    beyond = service.search(SearchRequest(case.query, k=4, offset=whole.found))
    assert beyond.items == [] and beyond.found == whole.found


def test_a_page_beyond_the_window_is_invalid(case: Case) -> None:
    with pytest.raises(InvalidRequestError, match="offset"):
        case.service.search(SearchRequest(case.query, k=10, offset=195))


@pytest.mark.parametrize("field", ["type", "genre"])
def test_facet_counts_equal_the_filtered_totals(case: Case, field: str) -> None:
    result = case.service.search(SearchRequest(case.query, k=3, facets=(field,)))
    counts = result.facets[field]
    assert counts and sum(c for _, c in counts) >= min(result.found, 1)
    assert [c for _, c in counts] == sorted((c for _, c in counts), reverse=True)
    for value, count in counts[:4]:
        filters = SearchFilters(type=value) if field == "type" else SearchFilters(genre=value)
        filtered = case.service.search(SearchRequest(case.query, k=3, filters=filters))
        assert filtered.found == count, (value, count, filtered.found)


def test_unknown_filter_values_name_the_allowed_ones(case: Case) -> None:
    with pytest.raises(InvalidParameterError, match="genre.*allowed"):
        case.service.search(SearchRequest(case.query, filters=SearchFilters(genre="Nope")))


def test_suggest_completes_titles(case: Case) -> None:
    title = case.service.search(SearchRequest(case.query, k=1)).items[0].title
    prefix = title[:4]
    result = case.service.suggest(SuggestRequest(prefix, k=5))
    assert result.model_version == case.service.model_version
    assert 0 < len(result.suggestions) <= 5
    assert title in [s.text for s in result.suggestions if s.kind == "title"]
    assert all(s.item_id for s in result.suggestions if s.kind == "title")
    only_titles = case.service.suggest(SuggestRequest(prefix, k=5, kinds=("title",)))
    assert {s.kind for s in only_titles.suggestions} == {"title"}
