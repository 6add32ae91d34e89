"""Stage 5c: logged search pages -> one row per shown result, with what the user did.

The service logs every search page it served (``exposures``, route ``search``: request id,
user, query, items in order) and clients post clicks and plays with the page's
``request_id`` (``events``). Joined here into ``SHOWN_SCHEMA``, the input of click learning
(``recsys.ranking.click_lists``):

* ``position`` is the index on the served page (the page the user looked at, whatever its
  offset);
* ``clicked`` / ``played``: an event of that type names the request and the item (events
  always name their item); a play counts as a click too (nobody plays what they never chose);
* ``query_key`` is the query as the lexical index sees it (case and spacing folded), so
  "Star Wars" and "star  wars" are one query.

Pages without a query or a user are kept (anonymous search learns from them); exposures of
other routes are not search pages and are skipped. Items not in the catalog are dropped.
"""

from __future__ import annotations

import polars as pl

SHOWN_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.Utf8(),
    "ts": pl.Int64(),  # unix seconds of the page
    "user_id": pl.Utf8(),
    "query": pl.Utf8(),
    "query_key": pl.Utf8(),
    "item_id": pl.Utf8(),
    "position": pl.Int64(),
    "clicked": pl.Boolean(),
    "played": pl.Boolean(),
}
SEARCH_ROUTE = "search"


def empty_shown() -> pl.DataFrame:
    return pl.DataFrame(schema=SHOWN_SCHEMA)


def query_key(query: pl.Expr) -> pl.Expr:
    return query.str.strip_chars().str.to_lowercase().str.replace_all(r"\s+", " ")


def shown_results(
    exposures: pl.DataFrame, events: pl.DataFrame, catalog_items: pl.Series
) -> pl.DataFrame:
    """``SHOWN_SCHEMA`` rows of every logged search page with a query, sorted by page ts,
    request and position."""
    pages = exposures.filter(
        (pl.col("route") == SEARCH_ROUTE)
        & pl.col("query").is_not_null()
        & (query_key(pl.col("query")) != "")
    ).unique("request_id", keep="first", maintain_order=True)
    if pages.is_empty():
        return empty_shown()
    shown = (
        pages.select(
            "request_id",
            pl.col("ts").dt.epoch("s").alias("ts"),
            "user_id",
            "query",
            query_key(pl.col("query")).alias("query_key"),
            pl.col("items").alias("item_id"),
        )
        .explode("item_id")
        .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).over("request_id").alias("position"))
        .drop_nulls("item_id")
    )
    acted = _page_actions(events, shown)
    out = (
        shown.join(acted, on=["request_id", "position"], how="left")
        .with_columns(
            pl.col("played").fill_null(False),
            (pl.col("clicked").fill_null(False) | pl.col("played").fill_null(False)),
        )
        .filter(pl.col("item_id").is_in(catalog_items.implode()))
    )
    return out.select(list(SHOWN_SCHEMA)).cast(SHOWN_SCHEMA).sort("ts", "request_id", "position")  # type: ignore[arg-type]


def _page_actions(events: pl.DataFrame, shown: pl.DataFrame) -> pl.DataFrame:
    """(request_id, position, clicked, played) for the shown results someone acted on."""
    acted = events.filter(
        pl.col("type").is_in(["click", "play"]) & pl.col("request_id").is_not_null()
    ).select("request_id", "type", "item_id")
    slots = shown.select("request_id", "item_id", "position")
    return (
        acted.join(slots, on=["request_id", "item_id"])
        .group_by("request_id", "position")
        .agg(
            (pl.col("type") == "click").any().alias("clicked"),
            (pl.col("type") == "play").any().alias("played"),
        )
    )
