"""Online user state: consumptions that arrived after the artifact's snapshot, per user.

``POST /v1/events`` stores an event, then hands it to the engine, which hands it here; the
next recommendation (or personal search) for that user builds its ``UserState`` from the
snapshot history plus these rows, through the one feature module
(``recsys.ranking.features.user_state``), exactly as the next build would from the same
events: events enter through ``interactions_from_events`` (the build's own conversion: plays
and ratings are consumptions; clicks and list adds are intent and change no history), and
the merged history keeps one consumption per item, the earliest, as ``InteractionLog`` does.

Bounded: at most ``max_users`` users (least recently used first out) and
``max_per_user`` consumptions each (the oldest go first). A user pushed out is read back
from the event store (``loader``) the next time they are asked for, so eviction costs a
query, never an answer. On startup, and after a model swap, the engine replays the store
(``Engine.catch_up``): replaying is idempotent, so a restart or a second replica converges on
the same state.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from recsys.events.schema import EVENT_SCHEMA, Event
from recsys.events.store import EventStore
from recsys.history.interactions import CONSUME_TYPES
from recsys.history.logged_events import interactions_from_events

# user_id -> that user's stored events (EVENT_SCHEMA frame), for users evicted from memory
EventLoader = Callable[[str], pl.DataFrame]
# bytes per stored consumption, measured with tracemalloc (bench/online_state.py)
BYTES_PER_CONSUMPTION = 150


@dataclass(frozen=True)
class History:
    """A user's consumptions in time order (one per item): what ``user_state`` reads."""

    items: np.ndarray  # int64 item positions
    ts: np.ndarray  # int64 unix seconds
    values: np.ndarray  # float32 rating, NaN for plays

    @classmethod
    def empty(cls) -> History:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))

    def merged(self, other: History) -> History:
        """Both histories as one: time order (ties by item), the earliest row of each item."""
        items = np.concatenate([self.items, other.items])
        ts = np.concatenate([self.ts, other.ts])
        values = np.concatenate([self.values, other.values])
        order = np.lexsort((items, ts))
        items, ts, values = items[order], ts[order], values[order]
        _, first = np.unique(items, return_index=True)
        keep = np.sort(first)
        return History(items[keep], ts[keep], values[keep])


class OnlineHistories:
    """Per-user consumptions after the snapshot, in memory, thread-safe, bounded."""

    def __init__(
        self,
        catalog: pl.DataFrame,
        positions: Mapping[str, int],
        max_users: int = 100_000,
        max_per_user: int = 500,
        loader: EventLoader | None = None,
    ) -> None:
        self._catalog = catalog.select("item_id")
        self._positions = positions
        self.max_users = max_users
        self.max_per_user = max_per_user
        self.loader = loader
        self._users: OrderedDict[str, dict[int, tuple[int, float]]] = OrderedDict()
        self._lock = threading.Lock()
        self.evictions = 0
        self.consumptions = 0

    def observe(self, events: pl.DataFrame) -> int:
        """Take logged events (``EVENT_SCHEMA``); returns how many consumptions were new."""
        rows = self._consumptions(events)
        added = 0
        with self._lock:
            for user_id, item, ts, value in rows:
                added += self._add(user_id, item, ts, value)
            self._evict()
        return added

    def _consumptions(self, events: pl.DataFrame) -> list[tuple[str, int, int, float]]:
        if events.is_empty():
            return []
        frame, _ = interactions_from_events(events, self._catalog, "online events")
        frame = frame.filter(pl.col("type").is_in(CONSUME_TYPES))
        return [
            (user, self._positions[item], int(ts), float("nan") if value is None else value)
            for user, item, ts, value in frame.select("user_id", "item_id", "ts", "value").rows()
        ]

    def _add(self, user_id: str, item: int, ts: int, value: float) -> int:
        rows = self._users.get(user_id)
        if rows is None:
            rows = self._users[user_id] = {}
        self._users.move_to_end(user_id)
        known = rows.get(item)
        if known is not None and known[0] <= ts:
            return 0  # the first consumption of an item is the one that counts
        rows[item] = (ts, value)
        if known is None:
            self.consumptions += 1
        if len(rows) > self.max_per_user:
            oldest = min(rows, key=lambda i: rows[i][0])
            del rows[oldest]
            self.consumptions -= 1
        return 1

    def _evict(self) -> None:
        while len(self._users) > self.max_users:
            _, rows = self._users.popitem(last=False)
            self.consumptions -= len(rows)
            self.evictions += 1

    def history(self, user_id: str) -> History | None:
        """The user's consumptions after the snapshot (None: none known)."""
        with self._lock:
            rows = self._users.get(user_id)
            if rows is not None:
                self._users.move_to_end(user_id)
                return _as_history(rows)
            if not self.evictions or self.loader is None:
                return None
        self.observe(self.loader(user_id))  # pushed out earlier: read back from the store
        with self._lock:
            rows = self._users.get(user_id)
            return _as_history(rows) if rows else None

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "users": len(self._users),
                "consumptions": self.consumptions,
                "evictions": self.evictions,
                "approx_bytes": self.consumptions * BYTES_PER_CONSUMPTION,
            }


def _as_history(rows: dict[int, tuple[int, float]]) -> History:
    entries = sorted(rows.items(), key=lambda kv: (kv[1][0], kv[0]))
    return History(
        np.array([item for item, _ in entries], dtype=np.int64),
        np.array([ts for _, (ts, _v) in entries], dtype=np.int64),
        np.array([v for _, (_ts, v) in entries], dtype=np.float32),
    )


def events_frame(events: Sequence[Event]) -> pl.DataFrame:
    """Validated events as an ``EVENT_SCHEMA`` frame (what the store gives back)."""
    rows = [
        (e.event_id, e.type, e.user_id, e.item_id, e.request_id, e.position, e.ts, e.value, None)
        for e in events
    ]
    return pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row")


def replay(
    histories: OnlineHistories, store: EventStore, received_since: datetime | None = None
) -> datetime:
    """Feed the store's consumptions (all, or those received since a time) to ``histories``;
    returns when the read started, for the next call's ``received_since``."""
    started = datetime.now(UTC)
    histories.observe(store.read_events(CONSUME_TYPES, received_since=received_since))
    return started
