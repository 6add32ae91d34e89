"""Engine behaviour on the tiny raw-data fixture, with the model-free hashing encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.build import BuildOptions, build
from recsys.core.errors import (
    ArtifactError,
    InvalidParameterError,
    InvalidRequestError,
    NotFoundError,
)
from recsys.core.types import SearchFilters, SearchRequest, SimilarRequest
from recsys.search.encoder import EncoderConfig, HashingEncoder
from recsys.search.options import SearchOptions
from recsys.service import Engine
from tests.personalization_data import FIXTURE_DATA


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("artifacts")
    return build(FIXTURE_DATA, out, BuildOptions(progress=False), encoder=HashingEncoder())


@pytest.fixture(scope="module")
def engine(artifact: Path) -> Engine:
    return Engine.load(artifact, encoder=HashingEncoder())


def ids(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [hit.item_id for hit in result.items]


def test_exact_title_ranks_both_works_with_that_title_first(engine: Engine) -> None:
    result = engine.search(SearchRequest("toy story", k=5))
    assert set(ids(result)[:2]) == {"1", "s6"}
    assert len(result.items) == 5
    assert result.model_version == engine.model_version
    assert [h.score for h in result.items] == sorted((h.score for h in result.items), reverse=True)


def test_k_limits_results_and_items_are_unique(engine: Engine) -> None:
    result = engine.search(SearchRequest("story", k=3))
    assert len(result.items) == 3
    assert len(set(ids(result))) == 3


def test_year_filter_picks_the_right_toy_story(engine: Engine) -> None:
    assert ids(
        engine.search(SearchRequest("toy story", k=1, filters=SearchFilters(year_max=2000)))
    ) == ["1"]
    assert ids(
        engine.search(SearchRequest("toy story", k=1, filters=SearchFilters(year_min=2001)))
    ) == ["s6"]


def test_type_and_genre_filters(engine: Engine) -> None:
    shows = engine.search(SearchRequest("blood", k=10, filters=SearchFilters(type="tv_show")))
    assert ids(shows) and all(h.type == "tv_show" for h in shows.items)
    crime = engine.search(SearchRequest("crime", k=10, filters=SearchFilters(genre="crime")))
    assert crime.items and all("Crime" in h.genres for h in crime.items)
    with pytest.raises(InvalidParameterError, match="'genre'.*allowed: .*Crime"):
        engine.search(SearchRequest("crime", k=10, filters=SearchFilters(genre="no such genre")))


def test_typo_still_finds_the_title(engine: Engine) -> None:
    assert ids(engine.search(SearchRequest("twelve monkies", k=1))) == ["32"]


def test_original_title_query_and_localized_display(engine: Engine) -> None:
    assert ids(engine.search(SearchRequest("La Cité des Enfants Perdus", k=1))) == ["29"]
    english = engine.search(SearchRequest("city of lost children", k=1)).items[0]
    french = engine.search(SearchRequest("city of lost children", k=1, lang="fr")).items[0]
    assert english.title == "The City of Lost Children" and english.lang is None
    assert french.item_id == "29" and french.lang == "fr"
    assert french.title != english.title


def test_similar_excludes_the_item_itself(engine: Engine) -> None:
    result = engine.similar(SimilarRequest("1", k=5))
    assert "1" not in ids(result)
    assert len(result.items) == 5
    assert len(set(ids(result))) == 5


def test_unknown_ids_and_empty_query(engine: Engine) -> None:
    with pytest.raises(NotFoundError):
        engine.item("nope")
    with pytest.raises(NotFoundError):
        engine.similar(SimilarRequest("nope"))
    with pytest.raises(InvalidRequestError):
        engine.search(SearchRequest("   "))


def test_item_details_are_json_ready(engine: Engine) -> None:
    details = engine.item("29", lang="fr")
    json.dumps(details)
    assert details["item_id"] == "29" and details["lang"] == "fr"
    hit = engine.search(SearchRequest("city of lost children", k=1, lang="fr")).items[0]
    assert (details["title"], details["description"]) == (hit.title, hit.description)
    assert details["original_title"] == hit.original_title
    english = engine.item("29")
    assert english["lang"] is None and english["title"] == "The City of Lost Children"


def test_stats_describe_the_artifact(engine: Engine) -> None:
    stats = engine.stats()
    assert stats["items"] == 17 and stats["encoder"] == "hashing"
    assert stats["index"] == {"content": "flat", "localized": "flat"}
    assert stats["index_recall_at_10"] == {"content": 1.0, "localized": 1.0}


def test_encoder_that_does_not_match_the_artifact_is_refused(artifact: Path) -> None:
    other = HashingEncoder(EncoderConfig(model="hashing", document_prompt="passage: "))
    with pytest.raises(ArtifactError, match="does not match"):
        Engine.load(artifact, encoder=other)


def test_repeated_queries_reuse_the_cached_embedding(artifact: Path) -> None:
    class CountingHashing(HashingEncoder):
        calls = 0

        def encode_queries(self, texts):  # type: ignore[no-untyped-def]
            CountingHashing.calls += 1
            return super().encode_queries(texts)

    cached = Engine.load(artifact, encoder=CountingHashing())
    first = cached.search(SearchRequest("toy story", k=3))
    again = cached.search(SearchRequest("  toy story ", k=3))
    assert CountingHashing.calls == 1
    assert ids(first) == ids(again)
    uncached = Engine.load(
        artifact, encoder=CountingHashing(), options=SearchOptions(query_cache_size=0)
    )
    uncached.search(SearchRequest("toy story", k=3))
    uncached.search(SearchRequest("toy story", k=3))
    assert CountingHashing.calls == 3


def test_relevance_rules_come_from_the_manifest(engine: Engine, artifact: Path) -> None:
    from recsys.core.artifacts import load_manifest
    from recsys.search.relevance import RelevanceParams
    from recsys.service import relevance_params

    _, manifest = load_manifest(artifact)
    written = manifest.search["relevance_params"]
    assert engine.searcher.relevance == RelevanceParams(**written)
    assert relevance_params({"min_words": 3, "word_share": 0.5}, artifact).min_words == 3
    assert relevance_params({}, artifact) == RelevanceParams()  # an artifact without them
    with pytest.raises(ArtifactError, match="relevance_params"):
        relevance_params({"min_words": 3, "mystery": 1}, artifact)
