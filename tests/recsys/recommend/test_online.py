"""Online user state (recsys.recommend.online): what events change, the bounds, and THE
agreement: the state and candidate features served after replaying a user's events equal
what an offline InteractionLog built from the artifact's interactions plus the same events
gives (same item statistics and candidate models: those refresh at the next build)."""

from __future__ import annotations

import shutil
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipelines.build import BuildOptions, build
from recsys.core.types import RecommendRequest
from recsys.events.schema import validate_events
from recsys.history.interactions import InteractionLog
from recsys.history.logged_events import interactions_from_events
from recsys.ranking.features import user_state_from_log
from recsys.recommend.online import History, OnlineHistories, events_frame
from recsys.recommend.recommender import Recommender
from recsys.search.encoder import HashingEncoder
from recsys.service import Engine
from tests.personalization_data import FIXTURE_DATA, small_config, write_ratings

CATALOG = pl.DataFrame({"item_id": ["a", "b", "c", "d"]})
POSITIONS = {"a": 0, "b": 1, "c": 2, "d": 3}


def ev(event_id: str, user: str, item: str, ts: str, kind: str = "play", **extra: object) -> dict:
    return {"event_id": event_id, "type": kind, "user_id": user, "item_id": item, "ts": ts, **extra}


def frame(*raw: dict) -> pl.DataFrame:
    return events_frame(validate_events(list(raw)))


def histories(**kwargs: object) -> OnlineHistories:
    return OnlineHistories(CATALOG, POSITIONS, **kwargs)  # type: ignore[arg-type]


def test_merged_history_keeps_the_first_consumption_of_each_item_in_time_order() -> None:
    snapshot = History(np.array([2, 0]), np.array([10, 20]), np.array([4.0, np.nan], np.float32))
    recent = History(np.array([0, 3, 1]), np.array([5, 30, 30]), np.full(3, np.nan, np.float32))
    merged = snapshot.merged(recent)
    assert merged.items.tolist() == [0, 2, 1, 3]  # item 0 at 5 (earlier than 20); ties by item
    assert merged.ts.tolist() == [5, 10, 30, 30]
    assert merged.values[1] == 4.0


def test_only_plays_and_ratings_change_a_history() -> None:
    online = histories()
    added = online.observe(
        frame(
            ev("1", "u", "a", "2026-01-01T00:00:00Z"),
            ev("2", "u", "b", "2026-01-01T00:00:01Z", "rating", value=4.5),
            ev("3", "u", "c", "2026-01-01T00:00:02Z", "click"),
            ev("4", "u", "d", "2026-01-01T00:00:03Z", "add_to_list"),
            ev("5", "u", "zzz", "2026-01-01T00:00:04Z"),  # not in the catalog
            ev("6", "v", "a", "2026-01-01T00:00:05Z", "rating", value=9.0),  # off the scale
        )
    )
    assert added == 2
    history = online.history("u")
    assert history is not None and history.items.tolist() == [0, 1]
    assert np.isnan(history.values[0]) and history.values[1] == 4.5
    assert online.history("v") is None and online.history("nobody") is None


def test_replaying_is_idempotent_and_the_earliest_consumption_wins() -> None:
    online = histories()
    batch = frame(ev("1", "u", "a", "2026-01-02T00:00:00Z"))
    assert online.observe(batch) == 1
    assert online.observe(batch) == 0
    assert online.observe(frame(ev("2", "u", "a", "2026-01-03T00:00:00Z"))) == 0
    assert online.observe(frame(ev("3", "u", "a", "2026-01-01T00:00:00Z"))) == 1  # earlier
    history = online.history("u")
    assert history is not None
    assert history.ts.tolist() == [int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())]
    assert online.stats()["consumptions"] == 1


def test_bounded_per_user_and_over_users_and_read_back_after_eviction() -> None:
    stored = frame(*(ev(f"e{i}", f"u{i}", "a", "2026-01-01T00:00:00Z") for i in range(3)))
    reads: list[str] = []

    def loader(user_id: str) -> pl.DataFrame:
        reads.append(user_id)
        return stored.filter(pl.col("user_id") == user_id)

    online = histories(max_users=2, max_per_user=2, loader=loader)
    online.observe(stored)
    assert online.stats() == {"users": 2, "consumptions": 2, "evictions": 1, "approx_bytes": 300}
    assert online.history("u0") is not None and reads == ["u0"]  # the evicted one, read back
    assert online.history("u2") is not None and reads == ["u0"]  # in memory: no read
    capped = histories(max_per_user=2)
    capped.observe(
        frame(*(ev(f"c{i}", "u", "abc"[i], f"2026-01-0{i + 1}T00:00:00Z") for i in range(3)))
    )
    history = capped.history("u")
    assert history is not None and history.items.tolist() == [1, 2]  # the oldest went


# ----------------------------------------------------------- against the fixture artifact


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    base = tmp_path_factory.mktemp("online")
    data_dir = base / "data"
    shutil.copytree(FIXTURE_DATA, data_dir)
    write_ratings(data_dir)
    options = BuildOptions(progress=False, config=small_config())
    directory = build(data_dir, base / "artifacts", options, encoder=HashingEncoder())
    return Engine.load(directory, encoder=HashingEncoder())


def _offline(recommender: Recommender, events: pl.DataFrame) -> Recommender:
    """What the next build's log would hold, served with the same models."""
    logged, _ = interactions_from_events(events, recommender.items.frame)
    interactions = pl.concat([_artifact_interactions(recommender), logged], how="vertical")
    positions = {item: i for i, item in enumerate(recommender.items.ids)}
    log = InteractionLog.from_frame(interactions, positions)
    return Recommender(
        recommender.items,
        log,
        recommender.models,
        recommender.rankers,
        recommender.default_ranker,
        recommender.config,
        as_of=recommender.as_of,
    )


def _artifact_interactions(recommender: Recommender) -> pl.DataFrame:
    log = recommender.log
    users = np.repeat(np.array(log.users), np.diff(log.ptr))
    return pl.DataFrame(
        {
            "user_id": users.tolist(),
            "item_id": [recommender.items.ids[i] for i in log.items.tolist()],
            "ts": log.ts,
            "type": "rating",
            "strength": np.ones(len(log), np.float32),
            "value": log.values,
        }
    ).with_columns(pl.col("value").fill_nan(None))


@pytest.mark.parametrize("user", ["1", "brand-new"])
def test_online_state_equals_the_offline_state_from_the_same_events(
    engine: Engine, user: str
) -> None:
    recommender = engine.recommender
    assert recommender is not None
    ids = recommender.items.ids
    events = frame(
        ev(f"{user}-1", user, ids[5], "2026-03-01T10:00:00Z"),
        ev(f"{user}-2", user, ids[7], "2026-03-01T11:00:00Z", "rating", value=4.5),
        ev(f"{user}-3", user, ids[9], "2026-03-01T12:00:00Z", "click"),
    )
    recommender.online.observe(events)
    online = recommender.state(user)
    offline_recommender = _offline(recommender, events)
    assert online is not None
    position = offline_recommender.log.user_index()[user]
    offline = user_state_from_log(
        offline_recommender.log,
        position,
        online.as_of,
        recommender.models.side,
        recommender.models.stats,
        recommender.config.features,
    )
    for field in fields(online):
        np.testing.assert_array_equal(getattr(online, field.name), getattr(offline, field.name))
    served = recommender.candidate_features(user)
    expected = offline_recommender.candidate_features(user, as_of=online.as_of)
    assert served is not None and expected is not None
    np.testing.assert_array_equal(served.candidates.items, expected.candidates.items)
    np.testing.assert_array_equal(served.features, expected.features)


def test_a_new_user_is_personalized_after_the_first_play(engine: Engine) -> None:
    recommender = engine.recommender
    assert recommender is not None
    request = RecommendRequest(user_id="fresh", k=5)
    assert engine.recommend(request).cold_start
    played = recommender.items.ids[3]
    engine.observe(validate_events([ev("f1", "fresh", played, "2026-03-02T00:00:00Z")]))
    result = engine.recommend(request)
    assert not result.cold_start and result.ranker == recommender.default_ranker
    assert played not in [r.hit.item_id for r in result.items]  # seen: excluded
    assert engine.online_stats()["users"] >= 1


def test_catch_up_replays_the_store_once(engine: Engine, tmp_path: Path) -> None:
    from recsys.events.store import SqliteEventStore

    store = SqliteEventStore(tmp_path / "events.sqlite3")
    store.append_events(
        validate_events([ev("s1", "stored", engine.items.ids[2], "2026-03-03T00:00:00Z")])
    )
    engine.catch_up(store)
    assert engine.recommender is not None and engine.recommender.state("stored") is not None
    before = engine.online_stats()
    engine.catch_up(store)  # nothing new arrived
    assert engine.online_stats() == before
    store.close()
