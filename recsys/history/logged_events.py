"""Stage 5b: events logged by the service -> rows of the interactions table.

``recsys build --events var/events.sqlite3`` learns from live traffic: the events the API
stored (:mod:`recsys.events.store`) are converted here to ``INTERACTIONS_SCHEMA`` rows and appended
to the MovieLens ones before personalization is fitted, so a user who only ever used the
service gets a history (and is no longer a cold start) after the next build.

How each event type enters the table:

* ``play`` -> ``play`` (a consumption: histories, labels, popularity), strength 1.0;
* ``rating`` -> ``rating`` with its value (a consumption), strength 1.0. The value must be on
  the MovieLens scale (0.5..5) because features read it as a rating like any other;
* ``add_to_list`` and ``click`` -> kept under their own (non-consumption) types with a weaker
  strength: intent, not consumption, so they neither enter histories nor block an item from
  being recommended;
* ``impression`` -> dropped: an exposure (what was shown), not something the user did.

``value`` is kept for ratings only: ``InteractionLog`` reads ``value`` as the rating, so a
client's value on a play (a watch fraction, say) must not pass for one. ``ts`` becomes unix
seconds (floored), the unit of the MovieLens rows. Everything dropped is counted by reason in
a :class:`SourceReport`, exactly as the MovieLens readers report theirs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from recsys.catalog.ingest.report import SourceReport
from recsys.core.errors import InputDataError
from recsys.events.postgres import redacted
from recsys.events.schema import EVENT_TYPES
from recsys.events.store import (
    EVENTS_DB_ENV,
    EventStoreError,
    is_database_url,
    open_event_store,
)
from recsys.history.interactions import CONSUME_TYPES, INTERACTIONS_SCHEMA
from recsys.history.logged_searches import shown_results

SOURCE_NAME = "logged_events"
# how strong a signal each kept event type is (a rating or a play is the reference, 1.0)
EVENT_STRENGTH: dict[str, float] = {
    "play": 1.0,
    "rating": 1.0,
    "add_to_list": 0.5,  # deliberate intent, but nothing watched yet
    "click": 0.25,  # curiosity: the weakest signal that is still the user's own action
}
RATING_SCALE = (0.5, 5.0)  # MovieLens
REQUIRED_COLUMNS = ("type", "user_id", "item_id", "ts", "value")
DIGEST_COLUMNS = ("event_id", "type", "user_id", "item_id", "ts", "value")


@dataclass(frozen=True)
class LoggedInteractions:
    """What a build takes from the event store: the rows, the drop report, and a summary
    (counts and a digest of the events read) for the manifest."""

    frame: pl.DataFrame  # INTERACTIONS_SCHEMA
    report: SourceReport
    summary: dict[str, Any]
    searches: pl.DataFrame  # SHOWN_SCHEMA: logged search pages, for click learning


def _seconds(ts: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Datetime):
        return ts.dt.epoch("s")
    return ts.cast(pl.Int64, strict=False)  # already unix seconds


def interactions_from_events(
    events: pl.DataFrame, catalog: pl.DataFrame, path: str = "events"
) -> tuple[pl.DataFrame, SourceReport]:
    """Logged events (``EVENT_SCHEMA``; ``ts`` a datetime or unix seconds) -> interactions
    of the items in ``catalog``, sorted by (user_id, ts, item_id), with a report of what was
    dropped and why. Drops are checked in order, each row counted once under its first:
    impression, unknown type, missing field, bad rating value, item not in catalog, duplicate
    (same user, item, type and second: a retried post under a new event id)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in events.columns]
    if missing:
        raise InputDataError(path, f"events missing columns: {', '.join(missing)}")
    rep = SourceReport(name=SOURCE_NAME, path=path, rows_read=events.height)
    frame = events.select(
        pl.col("user_id").cast(pl.Utf8),
        pl.col("item_id").cast(pl.Utf8),
        _seconds(pl.col("ts"), events.schema["ts"]).alias("ts"),
        pl.col("type").cast(pl.Utf8),
        pl.col("value").cast(pl.Float64),
    )

    low, high = RATING_SCALE
    rating_ok = pl.col("value").is_finite() & pl.col("value").is_between(low, high)
    checks = (  # each a null-safe "drop this row" condition
        ("impression_exposure_not_interaction", pl.col("type").eq_missing("impression")),
        ("unknown_event_type", ~pl.col("type").is_in(list(EVENT_STRENGTH)).fill_null(False)),
        (
            "missing_user_item_or_timestamp",
            pl.any_horizontal(pl.col("user_id", "item_id", "ts").is_null()),
        ),
        (
            "rating_missing_or_out_of_range",
            pl.col("type").eq("rating") & ~rating_ok.fill_null(False),
        ),
        ("item_not_in_catalog", ~pl.col("item_id").is_in(catalog["item_id"].implode())),
    )
    for reason, bad in checks:
        mask = frame.select(bad.alias("bad")).to_series()
        rep.drop(reason, int(mask.sum()))
        frame = frame.filter(~mask)
    before = frame.height
    frame = frame.unique(
        subset=["user_id", "item_id", "type", "ts"], keep="first", maintain_order=True
    )
    rep.drop("duplicate_event", before - frame.height)
    rep.rows_kept = frame.height
    out = frame.select(
        pl.col("user_id"),
        pl.col("item_id"),
        pl.col("ts"),
        pl.col("type"),
        pl.col("type").replace_strict(EVENT_STRENGTH, return_dtype=pl.Float32).alias("strength"),
        pl.when(pl.col("type") == "rating").then(pl.col("value")).alias("value"),
    )
    out = out.cast(INTERACTIONS_SCHEMA)  # type: ignore[arg-type]
    return out.sort("user_id", "ts", "item_id"), rep


def check_events_db(path: Path | str) -> Path | str:
    """``path`` if a file is there (or a ``postgresql://`` URL), else
    :class:`InputDataError`: a build checks this before its slow stages, so a mistyped
    ``--events`` fails in a second, not after the embeddings."""
    if is_database_url(path):
        return path
    path = Path(path)
    if not path.is_file():
        raise InputDataError(
            str(path), f"no event store there (the server writes it; see ${EVENTS_DB_ENV})"
        )
    return path


def read_events_db(path: Path | str) -> pl.DataFrame:
    """Every event of the store at ``path`` (a SQLite file or a ``postgresql://`` URL); a
    missing or unusable store is an :class:`InputDataError`, never silently an empty one."""
    return read_store(path)[0]


def read_store(path: Path | str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(events, exposures) of the store at ``path``; errors as ``read_events_db``."""
    target = check_events_db(path)
    where = redacted(str(target))
    try:
        store = open_event_store(target, create=False)
    except EventStoreError as exc:
        raise InputDataError(where, f"cannot read the event store: {exc}") from exc
    try:
        return store.read_events(), store.read_exposures()
    except EventStoreError as exc:
        raise InputDataError(where, f"cannot read the event store: {exc}") from exc
    finally:
        store.close()


def events_digest(events: pl.DataFrame) -> str:
    """sha256 of the events' content (not of the SQLite file, whose bytes change with WAL
    checkpoints): the build's content hash changes exactly when the events do."""
    columns = [c for c in DIGEST_COLUMNS if c in events.columns]
    text = events.select(columns).sort(columns).write_csv()
    return hashlib.sha256(text.encode()).hexdigest()


def load_logged_interactions(
    path: Path | str, catalog: pl.DataFrame, known_users: Collection[str] = ()
) -> LoggedInteractions:
    """Read the store at ``path`` and convert it; ``known_users`` (the MovieLens users) lets
    the summary say how many users the live traffic adds."""
    events, exposures = read_store(path)
    where = redacted(str(path))  # a URL's password never reaches the manifest
    frame, report = interactions_from_events(events, catalog, where)
    searches = shown_results(exposures, events, catalog["item_id"])
    known = set(known_users)
    users = set(frame["user_id"].to_list())
    by_type = dict(frame.group_by("type").len().sort("type").iter_rows())
    read_by_type = dict(events.group_by("type").len().sort("type").iter_rows())

    def when(seconds: int | None) -> str | None:
        if seconds is None:
            return None
        return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")

    summary: dict[str, Any] = {
        "path": where,
        "events_read": events.height,
        "events_read_by_type": {t: int(read_by_type.get(t, 0)) for t in EVENT_TYPES},
        "interactions_used": frame.height,
        "interactions_by_type": {t: int(n) for t, n in by_type.items()},
        "consumptions_used": int(frame["type"].is_in(CONSUME_TYPES).sum()),
        "users": len(users),
        "new_users": len(users - known),
        "first_ts": when(frame["ts"].min()),  # type: ignore[arg-type]
        "last_ts": when(frame["ts"].max()),  # type: ignore[arg-type]
        "search_pages": int(searches["request_id"].n_unique()),
        "sha256": events_digest(events),
        "search_pages_sha256": search_pages_digest(searches),
    }
    return LoggedInteractions(frame, report, summary, searches)


def search_pages_digest(searches: pl.DataFrame) -> str:
    """sha256 of the logged search pages the build learns from (with their clicks)."""
    text = searches.sort("request_id", "position").write_csv()
    return hashlib.sha256(text.encode()).hexdigest()
