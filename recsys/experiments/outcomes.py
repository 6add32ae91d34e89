"""Logged exposures and events -> what happened on each served page, and per user.

* An event belongs to an exposure through ``request_id`` and is placed on the page by its
  ``item_id`` (``position`` is used only when ``item_id`` is null); events for items that
  were not on the page, or for unknown requests, are ignored. Each (exposure, position,
  type) counts once, so a double click is one click.
* **impressions**: positions seen. If the experiment's events contain any ``impression``
  events, an exposure's impressions are the positions with an impression, click or play
  event; otherwise (clients that do not log impressions) every served position counts.
* **NDCG@10 from clicks**, per exposure with at least one click: DCG of the clicked
  positions (gain 1 / log2(position + 2), positions < 10) over the ideal DCG of the same
  number of clicks at the top.

The analysis (``recsys.experiments.analysis``) and the simulator read these tables.
"""

from __future__ import annotations

import math

import polars as pl

from recsys.core.errors import InputDataError

NDCG_K = 10
EXPOSURE_COLUMNS = ("request_id", "user_id", "experiment", "variant", "items", "teams")
EVENT_COLUMNS = ("type", "item_id", "request_id", "position")
PAGE_EVENTS = ("impression", "click", "play")
_IDEAL = [sum(1.0 / math.log2(r + 2) for r in range(m)) for m in range(NDCG_K + 1)]

_TEXT, _LIST = pl.String(), pl.List(pl.String())
_TYPES: dict[str, pl.DataType] = {"items": _LIST, "teams": _LIST, "position": pl.Int64()}


def _require(frame: pl.DataFrame, columns: tuple[str, ...], name: str) -> pl.DataFrame:
    """The frame with ``columns`` cast to their types (an all-null column built from Python
    rows has dtype Null); InputDataError naming any missing column."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputDataError(name, f"missing columns: {', '.join(missing)}")
    return frame.with_columns(pl.col(c).cast(_TYPES.get(c, _TEXT)) for c in columns)


def locate_events(exposures: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """(request_id, type, pos): distinct page events placed on their exposure's page."""
    exposures = _require(exposures, EXPOSURE_COLUMNS, "exposures")
    events = _require(events, EVENT_COLUMNS, "events")
    pages = exposures.select("request_id", "items").unique("request_id", keep="first")
    sizes = pages.select("request_id", pl.col("items").list.len().cast(pl.Int64).alias("n"))
    slots = (
        pages.explode("items")
        .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).over("request_id").alias("slot"))
        .filter(pl.col("items").is_not_null())
        .rename({"items": "item_id"})
    )
    pos = pl.col("position")
    return (
        events.filter(pl.col("type").is_in(PAGE_EVENTS) & pl.col("request_id").is_not_null())
        .select("request_id", "type", "item_id", pos)
        .join(sizes, on="request_id", how="inner")
        .join(slots, on=["request_id", "item_id"], how="left")
        .select(
            "request_id",
            "type",
            pl.coalesce(
                "slot",
                pl.when(pl.col("item_id").is_null() & (pos >= 0) & (pos < pl.col("n"))).then(pos),
            ).alias("pos"),
        )
        .drop_nulls("pos")
        .unique()
    )


def exposure_outcomes(
    exposures: pl.DataFrame, events: pl.DataFrame, experiment: str | None = None
) -> pl.DataFrame:
    """One row per exposure (of ``experiment`` if given) with a user and a variant: served,
    seen, impression_events, clicks, plays, ndcg (null without clicks), clicked_teams."""
    exposures = _require(exposures, EXPOSURE_COLUMNS, "exposures")
    chosen = exposures.filter(pl.col("variant").is_not_null() & pl.col("user_id").is_not_null())
    if experiment is not None:
        chosen = chosen.filter(pl.col("experiment") == experiment)
    chosen = chosen.unique("request_id", keep="first", maintain_order=True)
    is_click = pl.col("type") == "click"
    per_request = (
        locate_events(chosen, events)
        .group_by("request_id")
        .agg(
            clicks=is_click.sum().cast(pl.Int64),
            plays=(pl.col("type") == "play").sum().cast(pl.Int64),
            impression_events=(pl.col("type") == "impression").sum().cast(pl.Int64),
            seen=pl.col("pos").n_unique().cast(pl.Int64),
            dcg=pl.when(is_click & (pl.col("pos") < NDCG_K))
            .then(1.0 / (pl.col("pos") + 2).cast(pl.Float64).log(2))
            .otherwise(0.0)
            .sum(),
            clicked=pl.col("pos").filter(is_click).sort(),
        )
    )
    counts = ["clicks", "plays", "impression_events", "seen"]
    ideal = (
        pl.col("clicks")
        .clip(0, NDCG_K)
        .replace_strict(pl.Series(range(NDCG_K + 1)), pl.Series(_IDEAL, dtype=pl.Float64))
    )
    return (
        chosen.select("request_id", "user_id", "variant", "items", "teams")
        .join(per_request, on="request_id", how="left")
        .with_columns(
            pl.col(counts).fill_null(0),
            pl.col("clicked").fill_null([]),
            pl.col("items").list.len().cast(pl.Int64).alias("served"),
        )
        .with_columns(
            pl.when(pl.col("clicks") > 0).then(pl.col("dcg") / ideal).alias("ndcg"),
            pl.col("teams").list.gather(pl.col("clicked"), null_on_oob=True).alias("clicked_teams"),
        )
        .drop("items", "dcg")
    )


def user_table(outcomes: pl.DataFrame) -> pl.DataFrame:
    """Per (variant, user) sums of the exposure outcomes; ``ndcg`` is the user's mean over
    exposures with clicks (null when they never clicked)."""
    return (
        outcomes.group_by("variant", "user_id", maintain_order=True)
        .agg(
            pl.len().alias("exposures"),
            pl.col("served", "seen", "impression_events", "clicks", "plays").sum(),
            pl.col("ndcg").mean(),
        )
        .sort("variant", "user_id")
    )
