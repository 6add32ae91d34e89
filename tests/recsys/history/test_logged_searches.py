"""Known answers for logged search pages -> shown results with clicks and plays."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from recsys.events.schema import EVENT_SCHEMA, EXPOSURE_SCHEMA
from recsys.history.logged_searches import SHOWN_SCHEMA, shown_results

T = datetime(2026, 1, 1, tzinfo=UTC)
CATALOG = pl.Series(["a", "b", "c", "d"])


def exposures(*rows: tuple[str, str, str | None, str | None, list[str]]) -> pl.DataFrame:
    """(request_id, route, user, query, items) -> an EXPOSURE_SCHEMA frame."""
    return pl.DataFrame(
        [
            (rid, T, route, user, None, None, "v1", q, items, None)
            for rid, route, user, q, items in rows
        ],
        schema=EXPOSURE_SCHEMA,
        orient="row",
    )


def events(*rows: tuple[str, str, str, str | None]) -> pl.DataFrame:
    """(event_id, type, item, request_id) -> an EVENT_SCHEMA frame."""
    return pl.DataFrame(
        [(eid, kind, "u1", item, rid, None, T, None, T) for eid, kind, item, rid in rows],
        schema=EVENT_SCHEMA,
        orient="row",
    )


def test_pages_become_shown_rows_with_clicks_and_plays() -> None:
    shown = shown_results(
        exposures(
            ("r1", "search", "u1", "  Star   WARS ", ["a", "b", "c"]),
            ("r2", "recommendations", "u1", None, ["a", "b"]),  # not a search page
            ("r3", "search", None, "", ["a"]),  # no query
            ("r4", "search", None, "alien", ["zz", "d"]),  # zz left the catalog
        ),
        events(
            ("e1", "click", "b", "r1"),
            ("e2", "click", "b", "r1"),  # a double click is one click
            ("e3", "play", "c", "r1"),  # a play is a click too
            ("e4", "click", "a", "r2"),  # a recommendations page
            ("e5", "click", "d", None),  # no request: not placed on any page
            ("e6", "impression", "a", "r1"),
            ("e7", "click", "c", "r9"),  # unknown request
        ),
        CATALOG,
    )
    assert shown.schema == pl.Schema(SHOWN_SCHEMA)
    rows = shown.select("request_id", "query_key", "item_id", "position", "clicked", "played")
    assert rows.rows() == [
        ("r1", "star wars", "a", 0, False, False),
        ("r1", "star wars", "b", 1, True, False),
        ("r1", "star wars", "c", 2, True, True),
        ("r4", "alien", "d", 1, False, False),
    ]


def test_no_search_pages_give_an_empty_frame() -> None:
    shown = shown_results(
        exposures(("r2", "recommendations", "u1", None, ["a"])), events(), CATALOG
    )
    assert shown.is_empty() and shown.schema == pl.Schema(SHOWN_SCHEMA)
