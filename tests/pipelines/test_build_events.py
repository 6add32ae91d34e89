"""``build(events_db=...)`` / ``recsys build --events``: live traffic enters the artifact.

A user who exists only in the event store (never in ratings.csv) plays a few movies; after a
build with the store they are a known user whose plays are excluded from their
recommendations, while a click (intent, not consumption) is not.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipelines.build import BuildOptions, build
from pipelines.cli import app
from recsys.core.artifacts import load_manifest
from recsys.core.errors import InputDataError
from recsys.core.types import RecommendRequest
from recsys.events.schema import Exposure, validate_events
from recsys.events.store import SqliteEventStore
from recsys.search.encoder import HashingEncoder
from recsys.service import Engine
from tests.personalization_data import (
    FIXTURE_DATA,
    small_config,
    write_config_toml,
    write_ratings,
)

os.environ["HF_HUB_OFFLINE"] = "1"

LIVE_USER = "live-7f3a"  # not a MovieLens userId
DAY = 86_400


@dataclass(frozen=True)
class Built:
    data_dir: Path
    db: Path
    plain: Path  # artifact built without the events
    live: Path  # artifact built with them
    facts: dict[str, Any]
    played: list[str]
    clicked: str


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def write_events(db: Path, facts: dict[str, Any]) -> tuple[list[str], str]:
    """The live user plays three movies of group a (rates one), clicks a group b movie;
    plus an impression and an unknown item, which must be dropped."""
    played = facts["group_a"][:3]
    clicked = facts["group_b"][0]
    t = facts["t_max"] + DAY
    raw: list[dict[str, object]] = [
        {"event_id": f"p{i}", "type": "play", "user_id": LIVE_USER, "item_id": item,
         "ts": _iso(t + i * DAY)}
        for i, item in enumerate(played)
    ]  # fmt: skip
    raw += [
        {"event_id": "r0", "type": "rating", "user_id": LIVE_USER, "item_id": played[0],
         "ts": _iso(t + 5 * DAY), "value": 5},
        {"event_id": "c0", "type": "click", "user_id": LIVE_USER, "item_id": clicked,
         "ts": _iso(t + 6 * DAY), "request_id": "req-1", "position": 2},
        {"event_id": "i0", "type": "impression", "user_id": LIVE_USER, "item_id": clicked,
         "ts": _iso(t + 6 * DAY), "request_id": "req-1", "position": 2},
        {"event_id": "x0", "type": "play", "user_id": LIVE_USER, "item_id": "no-such-item",
         "ts": _iso(t + 7 * DAY)},
    ]  # fmt: skip
    shown = [*facts["group_b"][:3], *facts["group_a"][3:5]]
    pages = [
        Exposure(f"s{n}", "search", "v0", tuple(shown[n % 3 :] + shown[: n % 3]), user, query=q)
        for n, (user, q) in enumerate([(LIVE_USER, "Movie"), ("1", "movie"), (None, "MOVIE")] * 4)
    ]
    for n, page in enumerate(pages):  # someone clicks the first group-b movie on each page
        raw.append(
            {"event_id": f"sc{n}", "type": "click", "user_id": page.user_id or "anon",
             "item_id": clicked, "ts": _iso(t + 8 * DAY), "request_id": page.request_id}
        )  # fmt: skip
    store = SqliteEventStore(db)
    try:
        assert store.append_events(validate_events(raw)) == (len(raw), 0)
        assert store.append_exposures(pages) == len(pages)
    finally:
        store.close()
    return played, clicked


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    base = tmp_path_factory.mktemp("build-events")
    data_dir = base / "data"
    shutil.copytree(FIXTURE_DATA, data_dir)
    facts = write_ratings(data_dir)
    assert LIVE_USER not in facts["ratings"]
    db = base / "var" / "events.sqlite3"
    played, clicked = write_events(db, facts)
    plain = build(
        data_dir,
        base / "plain",
        BuildOptions(progress=False, config=small_config()),
        encoder=HashingEncoder(),
    )
    live = build(
        data_dir,
        base / "live",
        BuildOptions(progress=False, config=small_config(), events_db=db),
        encoder=HashingEncoder(),
    )
    return Built(data_dir, db, plain, live, facts, played, clicked)


def _ids(result: Any) -> list[str]:
    return [rec.hit.item_id for rec in result.items]


def test_manifest_records_the_logged_events(built: Built) -> None:
    _, manifest = load_manifest(built.live)
    section = manifest.personalization
    report = section["interactions_report"]
    assert report["movielens_ratings"]["rows_kept"] == sum(
        len(rows) for rows in built.facts["ratings"].values()
    )
    assert report["logged_events"]["rows_read"] == 7 + 12
    assert report["logged_events"]["dropped"] == {
        "impression_exposure_not_interaction": 1,
        "item_not_in_catalog": 1,
        "duplicate_event": 9,  # the same user clicks the same item in the same second
    }
    assert report["logged_events"]["rows_kept"] == 5 + 3
    logged = section["logged_events"]
    assert logged["path"] == str(built.db)
    assert logged["events_read"] == 7 + 12
    assert logged["interactions_by_type"] == {"click": 1 + 3, "play": 3, "rating": 1}
    assert (logged["users"], logged["new_users"]) == (3, 2)  # live, anon and MovieLens 1
    assert logged["search_pages"] == 12
    # the live user adds a user and their 3 items (the rating repeats a played item)
    n_ratings = sum(len(rows) for rows in built.facts["ratings"].values())
    assert section["users"] == len(built.facts["ratings"]) + 1  # "anon" only clicked
    assert section["consumptions"] == n_ratings + 3
    assert section["events"] == n_ratings + 5 + 3
    assert "logged_events" not in load_manifest(built.plain)[1].personalization
    assert "click_learning" not in load_manifest(built.plain)[1].search
    # the events are an input: same data dir and encoder, another content hash
    assert built.live.name.split("-")[-1] != built.plain.name.split("-")[-1]


def test_clicked_search_pages_train_both_search_rankers(built: Built) -> None:
    _, manifest = load_manifest(built.live)
    clicks = manifest.search["click_learning"]
    assert (clicks["pages"], clicks["shown_results"]) == (12, 12 * 5)
    assert (clicks["clicks"], clicks["plays"], clicks["pages_with_clicks"]) == (12, 0, 12)
    # the clicked movie was shown at positions 0, 2 and 1 (pages rotate), but each
    # (query, movie) pair needs 30 such pairs for an estimate: the prior is used
    assert clicks["position_bias"]["estimated"] is False
    anonymous = manifest.search["anonymous_search_ranker"]["query_kinds"]
    assert anonymous["logged_click"] == 12  # every page, whoever searched
    personal = manifest.personalization["search_ranker"]["query_kinds"]
    assert personal["logged_click"] == 8  # the pages of users the log knows (live and 1)


def test_new_user_is_known_and_their_plays_are_excluded(built: Built) -> None:
    plain = Engine.load(built.plain, encoder=HashingEncoder())
    cold = plain.recommend(RecommendRequest(LIVE_USER, k=5))
    assert cold.cold_start is True

    engine = Engine.load(built.live, encoder=HashingEncoder())
    everything = len(engine.items)
    result = engine.recommend(RecommendRequest(LIVE_USER, k=everything))
    assert result.cold_start is False
    assert result.ranker == "lightgbm"
    ids = _ids(result)
    assert not set(ids) & set(built.played)  # seen, as with a MovieLens history
    assert len(ids) == everything - len(built.played)
    assert built.clicked in ids  # a click is not a consumption: still recommendable
    with_seen = engine.recommend(RecommendRequest(LIVE_USER, k=everything, include_seen=True))
    assert set(built.played) <= set(_ids(with_seen))


def test_missing_events_db_fails_before_publishing(built: Built, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    options = BuildOptions(
        progress=False, config=small_config(), events_db=tmp_path / "missing.sqlite3"
    )
    with pytest.raises(InputDataError, match="no event store there") as err:
        build(built.data_dir, root, options, encoder=HashingEncoder())
    assert err.value.path == str(tmp_path / "missing.sqlite3")
    assert not root.exists()
    assert not (tmp_path / "missing.sqlite3").exists()


runner = CliRunner()


def test_cli_build_with_events(built: Built, tmp_path: Path) -> None:
    config = write_config_toml(tmp_path / "small.toml")
    out = tmp_path / "artifacts"
    args = ["build", "--encoder", "hashing", "--data", str(built.data_dir), "--out", str(out)]
    args += ["--config", str(config), "--no-search-ranker"]
    result = runner.invoke(app, [*args, "--events", str(built.db)])
    assert result.exit_code == 0, result.output
    _, manifest = load_manifest(out)
    assert manifest.personalization["logged_events"]["new_users"] == 2  # the live user and "anon"

    result = runner.invoke(app, [*args, "--events", str(tmp_path / "nope.sqlite3")])
    assert result.exit_code == 2
    assert "no event store there" in result.stderr
    assert "Traceback" not in result.output
