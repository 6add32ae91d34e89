"""Event and exposure records, their frame schemas, and the validation of posted events.

Validation (:func:`validate_events`) is strict, so that bad data is refused at the door with a
message naming the event and field rather than discovered by a training job:

* ``type``: one of ``EVENT_TYPES``; ``event_id`` and ``user_id``: 1..128 characters, no
  control characters; ``item_id``: 1..64 of letters, digits, ``_``, ``-`` (the catalog ids);
  ``request_id``: optional, 1..128 characters; ``position``: optional int, 0-based rank.
* ``ts``: optional ISO 8601 string *with* a timezone (``Z`` or an offset); a naive timestamp
  is rejected rather than guessed to be UTC, since a client's local time read as UTC would
  silently shift every event. Normalized to UTC, years 1970..2100.
* ``value``: optional finite number, *required* for ``rating`` (a rating without its value
  carries no signal). Unknown fields are rejected, so a typo (``positon``) cannot drop data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import polars as pl

from recsys.core.errors import RecsysError

EVENT_TYPES = ("impression", "click", "play", "rating", "add_to_list")
EXPOSURE_ROUTES = ("search", "recommendations", "similar")
# event times: none before the oldest interaction data (MovieLens starts in 1996), none in
# the future beyond a little clock skew
EARLIEST_TS = datetime(1995, 1, 1, tzinfo=UTC)
FUTURE_ALLOWANCE = timedelta(minutes=5)
MAX_POSITION = 1_000_000  # a sanity bound; also keeps it far inside SQLite's 64-bit INTEGER

_TS = pl.Datetime("us", "UTC")
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.Utf8(),
    "type": pl.Utf8(),
    "user_id": pl.Utf8(),
    "item_id": pl.Utf8(),
    "request_id": pl.Utf8(),
    "position": pl.Int64(),
    "ts": _TS,
    "value": pl.Float64(),
    "received_at": _TS,
}
EXPOSURE_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.Utf8(),
    "ts": _TS,
    "route": pl.Utf8(),
    "user_id": pl.Utf8(),
    "experiment": pl.Utf8(),
    "variant": pl.Utf8(),
    "model_version": pl.Utf8(),
    "query": pl.Utf8(),
    "items": pl.List(pl.Utf8()),
    "teams": pl.List(pl.Utf8()),
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # exactly Unicode category Cc
_ITEM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FIELDS = frozenset(
    ("event_id", "type", "user_id", "item_id", "request_id", "position", "ts", "value")
)


class InvalidEventError(RecsysError):
    """An event failed validation; the message names it and the field (``events[3].type``)."""


@dataclass(frozen=True, slots=True)
class Event:
    """A validated feedback event; build it with :func:`validate_event`."""

    event_id: str
    type: str
    user_id: str
    item_id: str
    request_id: str | None = None
    position: int | None = None
    ts: datetime | None = None  # aware, UTC; None: stamped with the arrival time
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Exposure:
    """One served list. ``teams`` (same length as ``items``) names the interleaving team of
    each position, or is None outside interleaving experiments."""

    request_id: str
    route: str
    model_version: str
    items: tuple[str, ...]
    user_id: str | None = None
    experiment: str | None = None
    variant: str | None = None
    query: str | None = None
    teams: tuple[str, ...] | None = None
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.route not in EXPOSURE_ROUTES:
            raise ValueError(f"route must be one of {EXPOSURE_ROUTES}, not {self.route!r}")
        if self.teams is not None and len(self.teams) != len(self.items):
            raise ValueError(f"{len(self.teams)} teams for {len(self.items)} items")


class _FieldError(ValueError):
    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")


def _text(raw: Mapping[str, object], name: str, max_len: int, required: bool) -> str | None:
    value = raw.get(name)
    if value is None:
        if required:
            raise _FieldError(name, "field required")
        return None
    if not isinstance(value, str):
        raise _FieldError(name, "must be a string")
    if not 1 <= len(value) <= max_len:
        raise _FieldError(name, f"must be 1..{max_len} characters (got {len(value)})")
    if _CONTROL.search(value):
        raise _FieldError(name, "must not contain control characters")
    return value


def _parse_ts(value: object) -> datetime | None:
    if value is None:
        return None
    example = "e.g. 2026-11-20T12:00:00Z"
    if not isinstance(value, str):
        raise _FieldError("ts", f"must be an ISO 8601 string, {example}")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise _FieldError("ts", f"not an ISO 8601 timestamp, {example}") from None
    if ts.utcoffset() is None:
        raise _FieldError("ts", f"must include a timezone (Z or an offset), {example}")
    ts = ts.astimezone(UTC)
    latest = datetime.now(UTC) + FUTURE_ALLOWANCE
    if not EARLIEST_TS <= ts <= latest:
        raise _FieldError(
            "ts",
            f"must be between {EARLIEST_TS:%Y-%m-%d} and the time of arrival (plus "
            f"{int(FUTURE_ALLOWANCE.total_seconds())} s of clock skew); a future time would "
            "become the recommender's 'now' at the next build",
        )
    return ts


def validate_event(raw: object) -> Event:
    """One event from decoded JSON; raises ``ValueError("field: problem")``."""
    if not isinstance(raw, Mapping):
        raise ValueError("must be a JSON object")
    unknown = sorted(str(key) for key in raw if key not in _FIELDS)
    if unknown:
        raise _FieldError(unknown[0], f"unknown field (allowed: {', '.join(sorted(_FIELDS))})")
    event_id = str(_text(raw, "event_id", 128, required=True))
    kind = raw.get("type")
    if kind is None:
        raise _FieldError("type", "field required")
    if kind not in EVENT_TYPES:
        raise _FieldError("type", f"must be one of {', '.join(EVENT_TYPES)}")
    user_id = str(_text(raw, "user_id", 128, required=True))
    item_id = raw.get("item_id")
    if item_id is None:
        raise _FieldError("item_id", "field required")
    if not isinstance(item_id, str) or not _ITEM_ID.fullmatch(item_id):
        raise _FieldError("item_id", "must be 1..64 letters, digits, '_' or '-'")
    position, value = raw.get("position"), raw.get("value")
    if type(position) is float and position.is_integer():  # JSON 3.0 is the integer 3
        position = int(position)
    if position is not None and (type(position) is not int or not 0 <= position <= MAX_POSITION):
        raise _FieldError("position", f"must be an integer in 0..{MAX_POSITION}")
    if value is None and kind == "rating":
        raise _FieldError("value", "required for a rating")
    if value is not None and (type(value) not in (int, float) or not math.isfinite(value)):
        raise _FieldError("value", "must be a finite number")
    return Event(
        event_id=event_id,
        type=str(kind),
        user_id=user_id,
        item_id=item_id,
        request_id=_text(raw, "request_id", 128, required=False),
        position=position,
        ts=_parse_ts(raw.get("ts")),
        value=None if value is None else float(value),
    )


def validate_events(raw: Sequence[object], where: str = "events") -> list[Event]:
    """Validate a whole batch: every event, or :class:`InvalidEventError` listing (up to 5)
    problems as ``events[3].type: must be one of ...``."""
    events: list[Event] = []
    problems: list[str] = []
    for index, item in enumerate(raw):
        try:
            events.append(validate_event(item))
        except _FieldError as exc:
            problems.append(f"{where}[{index}].{exc}")
        except ValueError as exc:
            problems.append(f"{where}[{index}]: {exc}")
    if problems:
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise InvalidEventError("; ".join(problems[:5]) + more)
    return events
