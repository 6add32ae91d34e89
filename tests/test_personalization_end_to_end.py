"""Personalization end to end: ``build`` on the fixture data plus structured ratings
(tests/personalization_data.py), then the served engine, the offline/online feature
agreement, personal search, the offline evaluation and its CLI, and a build without ratings.

One artifact is built per module (HashingEncoder, ``small_config()``), in about a second.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.build import BuildOptions, build
from pipelines.cli import app
from pipelines.evaluate import evaluate, run
from pipelines.evaluate_models import load_inputs
from recsys.catalog.items import ItemTable
from recsys.core.artifacts import load_manifest, sha256_file
from recsys.core.errors import InvalidRequestError
from recsys.core.types import RecommendRequest, SearchFilters, SearchRequest
from recsys.history.interactions import InteractionLog, leave_last_n
from recsys.history.item_stats import DAY
from recsys.ranking.features import (
    RECOMMENDATION_FEATURES,
    SEARCH_FEATURES,
    SOURCES,
    ItemSide,
    item_vectors,
)
from recsys.ranking.lists import TrainingLists
from recsys.ranking.rankers import baseline_rankers
from recsys.recommend.cold_start import LANGUAGE_NAMES
from recsys.recommend.config import RecsysConfig
from recsys.recommend.recommender import Recommender, rank_for_user
from recsys.recommend.training import fit_candidate_models, recommendation_lists
from recsys.search.embeddings import as_stored, embed_texts
from recsys.search.encoder import HashingEncoder
from recsys.search.vector_index import IndexParams, build_index
from recsys.service import Engine
from tests.personalization_data import (
    FIXTURE_DATA,
    small_config,
    write_config_toml,
    write_ratings,
)

os.environ["HF_HUB_OFFLINE"] = "1"

PERSONALIZATION_FILES = (
    "interactions.parquet",
    "covis.npz",
    "ease.npz",
    "ranker_recommendations.txt",
)
# the embedding-derived features: the only ones the float16 storage of vectors can move
EMBEDDING_FEATURES = (
    "sim_profile",
    "sim_recent_max",
    "sim_recent_mean",
    "ann_score",
    "content_score",
)


@dataclass(frozen=True)
class Built:
    data_dir: Path
    root: Path
    directory: Path
    facts: dict[str, Any]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    base = tmp_path_factory.mktemp("personalization")
    data_dir = base / "data"
    shutil.copytree(FIXTURE_DATA, data_dir)
    facts = write_ratings(data_dir)
    root = base / "artifacts"
    options = BuildOptions(progress=False, config=small_config())
    directory = build(data_dir, root, options, encoder=HashingEncoder())
    return Built(data_dir, root, directory, facts)


@pytest.fixture(scope="module")
def engine(built: Built) -> Engine:
    return Engine.load(built.directory, encoder=HashingEncoder())


def _ids(result: Any) -> list[str]:
    return [rec.hit.item_id for rec in result.items]


def _history(built: Built, user: str) -> list[str]:
    return [item for item, _ts, _rating in built.facts["ratings"][user]]


def _counts(built: Built, as_of: int, window_days: int | None = None) -> dict[str, int]:
    """Consumptions per item in [as_of - window, as_of), straight from the ratings written."""
    start = -np.inf if window_days is None else as_of - window_days * DAY
    out: dict[str, int] = {}
    for rows in built.facts["ratings"].values():
        for item, ts, _rating in rows:
            if start <= ts < as_of:
                out[item] = out.get(item, 0) + 1
    return out


# ------------------------------------------------------------------------------- manifest


def test_manifest_has_a_personalization_section(built: Built) -> None:
    directory, manifest = load_manifest(built.root)
    assert directory == built.directory
    section = manifest.personalization
    assert section["default_ranker"] == "lightgbm"
    assert section["recommendation_features"] == list(RECOMMENDATION_FEATURES)
    assert section["search_features"] == list(SEARCH_FEATURES)
    assert section["sources"] == list(SOURCES)
    assert RecsysConfig.from_dict(section["config"]) == small_config()
    assert section["as_of"] == built.facts["t_max"] + 1
    assert section["users"] == len(built.facts["ratings"])
    assert section["consumptions"] == sum(len(r) for r in built.facts["ratings"].values())
    report = section["recommendation_ranker"]
    assert "skipped" not in report
    assert report["lists"] >= 10 and report["positives"] > 0
    assert report["best_iteration"] >= 1
    ingest = section["interactions_report"]
    assert ingest["movielens_ratings"]["rows_kept"] == section["consumptions"]
    assert ingest["movielens_tags"]["status"] == "skipped"
    for name in PERSONALIZATION_FILES:
        assert name in manifest.files, name
        assert manifest.files[name]["sha256"] == sha256_file(directory / name)
        assert manifest.files[name]["bytes"] == (directory / name).stat().st_size > 0
    assert "ranker_search.txt" in manifest.files  # enough lists for the search ranker too


def test_interactions_snapshot_matches_the_ratings(built: Built) -> None:
    frame = pl.read_parquet(built.directory / "interactions.parquet")
    written = sorted(
        (user, item, ts) for user, rows in built.facts["ratings"].items() for item, ts, _ in rows
    )
    assert sorted(frame.select("user_id", "item_id", "ts").iter_rows()) == written
    assert set(frame["type"]) == {"rating"}


# ------------------------------------------------------------------------------- known users


def test_known_user_recommendations(built: Built, engine: Engine) -> None:
    user = built.facts["known_user"]
    result = engine.recommend(RecommendRequest(user, k=5))
    assert result.cold_start is False
    assert result.ranker == "lightgbm"
    assert result.user_id == user
    assert result.model_version == engine.model_version == built.directory.name
    ids = _ids(result)
    assert len(ids) == 5 == len(set(ids))
    assert not set(ids) & set(built.facts["known_history"])  # seen items are excluded
    scores = [rec.hit.score for rec in result.items]
    assert scores == sorted(scores, reverse=True)
    for rec in result.items:
        assert rec.reasons and all(isinstance(r, str) and r for r in rec.reasons)
        assert rec.sources and set(rec.sources) <= set(SOURCES)
    assert {"candidates_ms", "features_ms", "rank_ms", "total_ms"} <= set(result.timings_ms)


def test_seen_items_are_excluded_unless_asked(built: Built, engine: Engine) -> None:
    user = built.facts["known_user"]
    seen = set(built.facts["known_history"])
    everything = len(engine.items)
    unseen = _ids(engine.recommend(RecommendRequest(user, k=everything)))
    assert len(unseen) == everything - len(seen)
    assert not seen & set(unseen)

    with_seen = engine.recommend(RecommendRequest(user, k=everything, include_seen=True))
    assert with_seen.cold_start is False
    assert sorted(_ids(with_seen)) == sorted(engine.items.ids)  # seen items may come back

    # the candidate set itself may hold the user's own items when nothing is blocked
    recommender = engine.recommender
    assert recommender is not None
    state = recommender.state(user)
    assert state is not None
    ranked = rank_for_user(
        state, recommender.models, recommender.config.candidates, recommender.rankers["noop"], None
    )
    own = {engine.items.ids[i] for i in ranked.candidates.items.tolist()} & seen
    assert own == seen


def test_taste_is_learned(built: Built, engine: Engine) -> None:
    """An ``a`` user gets their group's remaining movies on top, a ``b`` user theirs,
    although the popularity order (group ``b`` is the bigger group) says otherwise."""
    group_a, group_b = set(built.facts["group_a"]), set(built.facts["group_b"])
    user_a, user_b = built.facts["known_user"], built.facts["known_user_b"]
    top_a = _ids(engine.recommend(RecommendRequest(user_a, k=5)))
    top_b = _ids(engine.recommend(RecommendRequest(user_b, k=5)))
    assert len(set(top_a) & group_a) >= 3, top_a  # all three unseen group-a movies
    assert len(set(top_b) & group_b) >= 3, top_b
    assert top_a[0] in group_a and top_b[0] in group_b
    popular_a = _ids(engine.recommend(RecommendRequest(user_a, k=5, ranker="popularity")))
    assert len(set(popular_a) & group_a) < len(set(top_a) & group_a), popular_a


# ------------------------------------------------------------------------------- cold start


def test_unknown_user_gets_popular_items(built: Built, engine: Engine) -> None:
    result = engine.recommend(RecommendRequest("nobody-knows-me", k=8))
    assert result.cold_start is True
    assert result.ranker == "popularity"
    ids = _ids(result)
    assert len(ids) == 8 == len(set(ids))
    scores = [rec.hit.score for rec in result.items]
    assert scores == sorted(scores, reverse=True)
    as_of = built.facts["t_max"] + 1
    last_year = _counts(built, as_of, 365)
    ordered = [last_year.get(i, 0) for i in ids]
    assert ordered == sorted(ordered, reverse=True), ordered  # most consumed last year first
    assert ordered[0] == max(last_year.values())
    for rec in result.items:
        assert rec.reasons and rec.sources == ["popular"]


def test_unknown_user_with_filters(engine: Engine) -> None:
    filters = SearchFilters(type="movie", genre="Drama")
    result = engine.recommend(
        RecommendRequest("nobody-knows-me", k=len(engine.items), filters=filters)
    )
    assert result.cold_start is True
    frame = engine.items.frame
    matching = {
        row["item_id"]
        for row in frame.iter_rows(named=True)
        if row["type"] == "movie" and "drama" in {g.casefold() for g in row["genres"] or []}
    }
    assert matching and set(_ids(result)) == matching
    for rec in result.items:
        assert rec.hit.type == "movie"
        assert "drama" in {g.casefold() for g in rec.hit.genres}


def test_known_user_with_filters(built: Built, engine: Engine) -> None:
    filters = SearchFilters(type="movie", genre="Drama", year_min=1980)
    result = engine.recommend(RecommendRequest(built.facts["known_user"], k=4, filters=filters))
    assert result.cold_start is False and result.items
    for rec in result.items:
        assert rec.hit.type == "movie" and (rec.hit.year or 0) >= 1980
        assert "drama" in {g.casefold() for g in rec.hit.genres}
    assert not set(_ids(result)) & set(built.facts["known_history"])


def _single_language_items(engine: Engine) -> list[tuple[str, str]]:
    frame = engine.items.frame.filter(
        pl.col("original_language").is_not_null() & (pl.col("original_language") != "en")
    )
    by_lang = frame.group_by("original_language").agg(pl.col("item_id"))
    return sorted((lang, ids[0]) for lang, ids in by_lang.iter_rows() if len(ids) == 1 and lang)


def test_fixture_has_original_language_items(engine: Engine) -> None:
    assert {"fr", "ja"} <= {lang for lang, _ in _single_language_items(engine)}


@pytest.mark.parametrize("lang", ["fr", "ja"])
def test_unknown_user_with_lang(engine: Engine, lang: str) -> None:
    item = dict(_single_language_items(engine))[lang]
    result = engine.recommend(RecommendRequest("nobody-knows-me", k=5, lang=lang))
    assert result.cold_start is True
    first = result.items[0]
    assert first.hit.item_id == item
    assert first.hit.lang == lang
    assert any(LANGUAGE_NAMES[lang] in reason for reason in first.reasons), first.reasons


# ------------------------------------------------------------------------------- rankers


@pytest.mark.parametrize("ranker", ["noop", "popularity", "lightgbm"])
def test_named_rankers(built: Built, engine: Engine, ranker: str) -> None:
    result = engine.recommend(RecommendRequest(built.facts["known_user"], k=5, ranker=ranker))
    assert result.ranker == ranker
    assert result.cold_start is False
    assert len(result.items) == 5
    assert not set(_ids(result)) & set(built.facts["known_history"])


def test_popularity_ranker_orders_by_last_year(built: Built, engine: Engine) -> None:
    result = engine.recommend(
        RecommendRequest(built.facts["known_user_b"], k=6, ranker="popularity")
    )
    last_year = _counts(built, built.facts["t_max"] + 1, 365)
    ordered = [last_year.get(i, 0) for i in _ids(result)]
    assert ordered == sorted(ordered, reverse=True)


@pytest.mark.parametrize("user", ["1", "nobody-knows-me"])
def test_unknown_ranker_is_rejected(engine: Engine, user: str) -> None:
    with pytest.raises(InvalidRequestError, match="nope"):
        engine.recommend(RecommendRequest(user, k=5, ranker="nope"))


# ------------------------------------------------------------------------------- new items


def test_never_watched_item_is_reached_through_content(built: Built, engine: Engine) -> None:
    recommender = engine.recommender
    assert recommender is not None
    user = built.facts["known_user"]
    state = recommender.state(user)
    assert state is not None
    counts = recommender.models.stats.all_counts(recommender.as_of)
    never = np.flatnonzero(counts == 0)
    never_ids = {engine.items.ids[i] for i in never.tolist()}
    assert set(built.facts["unrated"]) <= never_ids  # the movie nobody rated ...
    assert {"s2", "s5", "s6", "s8", "s9"} <= never_ids  # ... and the Netflix-only titles
    vectors = recommender.models.side.vectors
    last = int(state.recent[0])
    nearest = int(never[np.argmax(vectors[never] @ vectors[last])])

    ranked = recommender.candidate_features(user)
    assert ranked is not None
    rows = np.flatnonzero(ranked.candidates.items == nearest)
    assert len(rows) == 1, engine.items.ids[nearest]
    sources = ranked.candidates.source_names(int(rows[0]))
    assert "content" in sources
    assert not {"covis", "ease", "popular", "trending"} & set(sources)  # only content reaches it
    everything = engine.recommend(RecommendRequest(user, k=len(engine.items)))
    reached = {rec.hit.item_id: rec.sources for rec in everything.items}
    assert "content" in reached[engine.items.ids[nearest]]


# ------------------------------------------------------------------------------- agreement


def _offline_lists(
    log: InteractionLog, recommender: Recommender, side: ItemSide, config: RecsysConfig
) -> tuple[TrainingLists, Recommender]:
    """The build's recipe (split, candidate models on the histories, lists) and an online
    recommender over the FULL log that shares those candidate models."""
    split = leave_last_n(log, config.split.holdout, config.split.min_history)
    index = build_index(side.vectors, IndexParams(kind="auto"))
    models = fit_candidate_models(split.history, recommender.models.stats, side, index, config.cf)
    lists = recommendation_lists(split, models, config)
    online = Recommender(
        recommender.items,
        log,
        models,
        dict(baseline_rankers(RECOMMENDATION_FEATURES)),
        "noop",
        config,
    )
    return lists, online


def _list_bounds(lists: TrainingLists) -> list[slice]:
    starts = np.concatenate([[0], np.cumsum(lists.groups)]).tolist()
    return [slice(a, b) for a, b in zip(starts[:-1], starts[1:], strict=True)]


def test_offline_and_online_features_agree(built: Built, engine: Engine) -> None:
    """The training rows of a user (as of their cutoff, history-only models) equal what the
    serving path computes for the same user, items and as-of time over the full log."""
    recommender = engine.recommender
    assert recommender is not None
    config = small_config()
    log = recommender.log
    lists, online = _offline_lists(log, recommender, recommender.models.side, config)
    split = leave_last_n(log, config.split.holdout, config.split.min_history)
    bounds = _list_bounds(lists)
    assert len(bounds) >= 10
    checked = set()
    for rows in bounds:
        user = int(lists.users[rows][0])
        as_of = int(lists.as_of[rows][0])
        assert (lists.users[rows] == user).all() and (lists.as_of[rows] == as_of).all()
        assert as_of == split.cutoffs[user] > 0
        ranked = online.candidate_features(log.users[user], as_of=as_of)
        assert ranked is not None
        np.testing.assert_array_equal(ranked.candidates.items, lists.items[rows])
        assert ranked.features.shape == (len(ranked.candidates), len(RECOMMENDATION_FEATURES))
        # assert_array_equal treats NaNs in the same places as equal
        np.testing.assert_array_equal(ranked.features, lists.features[rows], err_msg=str(user))
        checked.add(user)
    assert len(checked) == len(bounds)  # one list per user


def _build_time_side(built: Built) -> ItemSide:
    """The ItemSide ``build`` trained on: from the float32 document vectors."""
    catalog = pl.read_parquet(built.directory / "catalog.parquet")
    documents = pl.read_parquet(built.directory / "documents.parquet")
    items = ItemTable(catalog)
    vectors, _ = embed_texts(documents["text"].to_list(), HashingEncoder(), None, progress=False)
    vectors = as_stored(vectors)  # what pipelines/build.py trains on
    doc_items = items.positions(documents["item_id"].to_list())
    return ItemSide.from_catalog(
        catalog, item_vectors(doc_items, documents["kind"].to_numpy(), vectors, len(items))
    )


def _build_vs_serving(built: Built, engine: Engine) -> tuple[TrainingLists, list[np.ndarray]]:
    recommender = engine.recommender
    assert recommender is not None
    config = small_config()
    lists, _ = _offline_lists(recommender.log, recommender, _build_time_side(built), config)
    _, online = _offline_lists(recommender.log, recommender, recommender.models.side, config)
    served = []
    for rows in _list_bounds(lists):
        user, as_of = int(lists.users[rows][0]), int(lists.as_of[rows][0])
        ranked = online.candidate_features(recommender.log.users[user], as_of=as_of)
        assert ranked is not None
        np.testing.assert_array_equal(ranked.candidates.items, lists.items[rows])
        served.append(ranked.features)
    return lists, served


def test_build_time_features_match_serving_exactly(built: Built, engine: Engine) -> None:
    """The rankers are trained on features from the build's vectors as stored; the engine
    serves features from the stored vectors: identical, bit for bit."""
    lists, served = _build_vs_serving(built, engine)
    for rows, features in zip(_list_bounds(lists), served, strict=True):
        np.testing.assert_array_equal(features, lists.features[rows])


# ------------------------------------------------------------------------------- search


def _unique_titles(engine: Engine) -> dict[str, str]:
    """Display title -> item id, for titles only one item has."""
    by_title: dict[str, list[str]] = {}
    for position, item_id in enumerate(engine.items.ids):
        by_title.setdefault(engine.items.hit(position, 0.0).title, []).append(item_id)
    return {title: ids[0] for title, ids in by_title.items() if len(ids) == 1}


def test_personal_search_with_a_title_fragment(built: Built, engine: Engine) -> None:
    user = built.facts["known_user"]
    assert engine.recommender is not None and engine.personal_search is not None
    plain = engine.search(SearchRequest("Lost Children", k=5))
    personal = engine.search(SearchRequest("Lost Children", k=5, user_id=user))
    assert len(personal.items) == len(plain.items) == min(5, plain.found)
    assert plain.found >= 2  # the title and another item share its words: something to order
    assert "29" in [hit.item_id for hit in personal.items]
    assert {"encode_ms", "retrieve_ms", "rank_ms"} <= set(personal.timings_ms)
    assert "rerank_ms" not in plain.timings_ms
    unknown = engine.search(SearchRequest("Lost Children", k=5, user_id="nobody-knows-me"))
    assert [h.item_id for h in unknown.items] == [h.item_id for h in plain.items]


@pytest.mark.parametrize(
    "title", ["Fight Club", "The Bear", "Spirited Away", "Twelve Monkeys", "Babylon 5"]
)
def test_exact_title_comes_first_for_the_known_user(
    built: Built, engine: Engine, title: str
) -> None:
    item = _unique_titles(engine)[title]
    assert item not in built.facts["known_history"]
    result = engine.search(SearchRequest(title, k=5, user_id=built.facts["known_user"]))
    assert result.items[0].item_id == item, [h.title for h in result.items]


def test_exact_unwatched_titles_come_first_for_every_user(built: Built, engine: Engine) -> None:
    titles = _unique_titles(engine)
    buried = []
    for user in built.facts["ratings"]:
        seen = set(_history(built, user))
        for title, item in titles.items():
            if item in seen:
                continue
            first = engine.search(SearchRequest(title, k=3, user_id=user)).items[0].item_id
            if first != item:
                buried.append((user, title, first))
    assert buried == []


def test_exact_title_of_a_watched_item_comes_first(built: Built, engine: Engine) -> None:
    user = built.facts["known_user"]
    title = "Goodfellas"
    item = _unique_titles(engine)[title]
    assert item in built.facts["known_history"]
    assert (
        engine.search(SearchRequest(title, k=5)).items[0].item_id == item
    )  # without personalization
    result = engine.search(SearchRequest(title, k=5, user_id=user))
    assert result.items[0].item_id == item, [h.title for h in result.items]


# ------------------------------------------------------------------------------- evaluation


def _check_metrics(entry: dict[str, Any], coverage: bool = True) -> None:
    assert entry["metrics"], entry
    for name, summary in entry["metrics"].items():
        for key in ("mean", "low", "high"):
            assert 0.0 <= summary[key] <= 1.0, (name, summary)
        assert summary["low"] <= summary["mean"] <= summary["high"], (name, summary)
    if coverage:
        assert 0.0 <= entry["coverage@10"] <= 1.0


def test_evaluate(built: Built) -> None:
    results = evaluate(load_inputs(built.directory), small_config(), n_test=2, min_history=3)
    expected = {
        "popularity",
        "popularity_recent",
        "item_knn",
        "ease",
        "embedding",
        "covisitation",
        "candidates",
        "lightgbm",
    }
    assert expected <= set(results["models"])
    generated = len(built.facts["users_a"]) + len(built.facts["users_b"])
    assert results["split"]["users"] == generated  # the two known users are too short
    assert results["split"]["test_interactions"] == 2 * generated
    assert results["split"]["catalog_items"] == 17
    assert results["reference"] == "popularity"
    for name, entry in results["models"].items():
        _check_metrics(entry)
        if name != "popularity":
            assert "vs_reference" in entry
    assert results["ranker_training"]["lists"] >= 2
    # the taste groups make collaborative filtering beat popularity by a wide margin
    ndcg = {name: e["metrics"]["ndcg@10"]["mean"] for name, e in results["models"].items()}
    assert ndcg["ease"] > ndcg["popularity"], ndcg
    # the liked target: held-out ratings >= 4 (the taste groups rate their own group 4-5)
    liked = results["liked"]
    expected_liked = sum(
        1
        for user, rows in built.facts["ratings"].items()
        if user in built.facts["users_a"] + built.facts["users_b"]
        and any(r >= 4.0 for _item, _ts, r in rows[-2:])
    )
    assert liked["liked_rating"] == 4.0 and liked["users"] == expected_liked > 0
    assert set(liked["models"]) == set(results["models"])
    for entry in liked["models"].values():
        _check_metrics(entry, coverage=False)
    assert "lightgbm_minus_ease_ndcg@10" in liked
    assert any(note.startswith("Liked items") for note in results["notes"])


def test_evaluate_reads_interactions_from_a_data_dir(built: Built) -> None:
    inputs = load_inputs(built.root, built.data_dir)
    stored = pl.read_parquet(built.directory / "interactions.parquet")
    assert inputs.interactions.sort("user_id", "ts", "item_id").equals(
        stored.sort("user_id", "ts", "item_id")
    )


def test_run_writes_the_report(built: Built, tmp_path: Path) -> None:
    out = tmp_path / "report"
    results, paths = run(
        built.directory,
        None,
        small_config(),
        out,
        n_test=2,
        models=("popularity", "ease", "lightgbm"),
    )
    assert set(results["models"]) == {"popularity", "ease", "lightgbm"}
    assert "search" in results
    names = {"evaluation.json", "evaluation.md", "metrics_by_model.png", "metric_vs_k.png"}
    assert {p.name for p in out.iterdir()} >= names
    assert {p.name for p in paths.values()} == names
    assert all(p.parent == out for p in paths.values())
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((out / "evaluation.json").read_text())
    assert set(report["models"]) == {"popularity", "ease", "lightgbm"}
    markdown = (out / "evaluation.md").read_text()
    assert "lightgbm" in markdown and "ease" in markdown
    assert "## Liked items (held-out ratings >= 4.0" in markdown


def test_cli_evaluate(built: Built, tmp_path: Path) -> None:
    config = write_config_toml(tmp_path / "small.toml")
    assert RecsysConfig.load(config) == small_config()
    out = tmp_path / "cli-report"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--artifacts",
            str(built.root),
            "--n-test",
            "2",
            "--models",
            "popularity,ease",
            "--out",
            str(out),
            "--config",
            str(config),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("model"))
    assert header.split() == ["model", "NDCG@10", "R@10", "R@50", "MRR", "cov@10"]
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.split()}
    for model in ("popularity", "ease"):
        assert len(rows[model]) == 5
        assert all(0.0 <= float(v) <= 1.0 for v in rows[model])
    assert "lightgbm" not in rows
    assert (out / "evaluation.json").is_file() and (out / "evaluation.md").is_file()
    assert f"json: {out / 'evaluation.json'}" in result.stdout


# ------------------------------------------------------------------------------- no ratings


def test_build_without_ratings_serves_cold_start(tmp_path: Path) -> None:
    assert not (FIXTURE_DATA / "movielens" / "ratings.csv").exists()
    root = tmp_path / "artifacts"
    options = BuildOptions(progress=False, config=small_config())
    directory = build(FIXTURE_DATA, root, options, encoder=HashingEncoder())
    _, manifest = load_manifest(root)
    section = manifest.personalization
    assert section["default_ranker"] == "popularity"
    assert "skipped" in section["recommendation_ranker"]
    assert section["users"] == 0 and section["consumptions"] == 0
    assert {"interactions.parquet", "covis.npz", "ease.npz"} <= set(manifest.files)
    assert "ranker_recommendations.txt" not in manifest.files
    assert "ranker_search.txt" not in manifest.files

    engine = Engine.load(directory, encoder=HashingEncoder())
    assert engine.stats()["default_ranker"] == "popularity"
    assert engine.stats()["users"] == 0
    result = engine.recommend(RecommendRequest("1", k=5))
    assert result.cold_start is True
    assert result.ranker == "popularity"
    assert len(result.items) == 5
    assert all(rec.reasons and rec.sources for rec in result.items)
    with pytest.raises(InvalidRequestError):
        engine.recommend(
            RecommendRequest("1", k=5, ranker="lightgbm")
        )  # no such ranker in this artifact
    assert engine.search(SearchRequest("Fight Club", k=3, user_id="1")).items[0].item_id == "2959"
