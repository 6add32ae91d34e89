"""Popular and trending lists as of any time: exact, without a pass over the catalog per call.

The two candidate sources are the top items by a score of each item's consumption counts in
the last 30 and 365 days before ``as_of``. Computed naively, every call counts every item,
which made training lists cost users x items (77% of a 100k-item build). Here:

* an **anchor** per UTC day holds the top ``depth`` items by score at that day's midnight,
  every item tied at the cut included, and the lowest score it holds (its ``floor``): any
  item outside has a strictly lower score there. Anchors for many days are computed in one
  sweep over the time-sorted events (counts updated by each day's arrivals and expiries);
* a call at ``as_of`` rescores, exactly, the anchor's items plus the items *touched* since
  midnight (events in ``[midnight, as_of)`` and the ones leaving either window). An item
  outside both keeps its midnight score, below the floor, so when the n-th chosen item
  scores at least the floor the answer equals the catalog-wide one; otherwise (a user who
  blocks most of the anchor) the call falls back to counting every item.

Results are identical to ``top_n(score(all_counts(as_of)))`` (tested), offline and online.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from recsys.history.item_stats import DAY, ItemStats

MAX_ANCHORS = 20_000
TIE_SLACK = 4  # an anchor keeps the items tied at its cut unless they exceed depth x this


def popular_score(c_30: np.ndarray, c_365: np.ndarray, min_count: int) -> np.ndarray:
    """Consumptions in the last year."""
    return c_365


def trending_score(c_30: np.ndarray, c_365: np.ndarray, min_count: int) -> np.ndarray:
    """Last 30 days against a twelfth of the last year, once an item has min_count in 30 days."""
    return np.where(c_30 >= min_count, (c_30 + 1) / (c_365 / 12 + 1), 0.0)


Score = Callable[[np.ndarray, np.ndarray, int], np.ndarray]
SCORES: dict[str, Score] = {"popular": popular_score, "trending": trending_score}


@dataclass(frozen=True)
class Anchor:
    items: np.ndarray  # int64 ascending, every item scoring >= floor at the anchor time
    c_30: np.ndarray  # their counts at the anchor time (float64)
    c_365: np.ndarray
    floor: float  # items outside score strictly less (or 0 when complete)
    complete: bool  # items holds every item with a positive score


def best_first(items: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The n best (score desc, item asc) of items with a positive score."""
    keep = scores > 0
    items, scores = items[keep], scores[keep]
    order = np.lexsort((items, -scores))[:n]
    return items[order].astype(np.int64), scores[order]


class PopularityLists:
    """``top(kind, as_of, n, blocked)`` for kind in SCORES; anchors cached per day."""

    def __init__(self, stats: ItemStats, depth: int = 1024) -> None:
        self.stats = stats
        self.depth = depth
        self._anchors: dict[tuple[str, int, int], Anchor] = {}
        self._ts: np.ndarray | None = None
        self._items_by_ts: np.ndarray | None = None

    def top(
        self, kind: str, as_of: int, n: int, blocked: np.ndarray | None, min_count: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        if n <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        day = as_of // DAY * DAY
        anchor = self._anchor(kind, day, min_count)
        candidates, c_30, c_365 = self._counts_now(anchor, day, as_of)
        scores = SCORES[kind](c_30, c_365, min_count)
        if blocked is not None:
            scores = np.where(blocked[candidates], 0.0, scores)
        items, chosen = best_first(candidates, scores, n)
        if anchor.complete or (len(items) == n and chosen[-1] >= anchor.floor):
            return items, chosen
        everything = np.arange(self.stats.n_items)
        scores = self._scores(kind, everything, as_of, min_count)
        if blocked is not None:
            scores = np.where(blocked, 0.0, scores)
        return best_first(everything, scores, n)

    def prefetch(self, times: Iterable[int], min_count: int) -> None:
        """Compute the anchors of these times' days in one sweep (training asks for many)."""
        days = sorted({int(t) // DAY * DAY for t in times})
        missing = [d for d in days if ("popular", d, min_count) not in self._anchors]
        if missing:
            self._sweep(missing, min_count)

    def _scores(self, kind: str, items: np.ndarray, as_of: int, min_count: int) -> np.ndarray:
        c_30 = self.stats.count(items, as_of, 30)
        c_365 = self.stats.count(items, as_of, 365)
        return SCORES[kind](c_30, c_365, min_count)

    def _counts_now(
        self, anchor: Anchor, day: int, as_of: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(items, 30-day and 365-day counts at as_of) for the anchor's items (their midnight
        counts moved by the events since) and every other touched item (counted anew)."""
        touched, d_30, d_365 = self._changes(day, as_of)
        c_30, c_365 = anchor.c_30.copy(), anchor.c_365.copy()
        at = np.minimum(np.searchsorted(touched, anchor.items), max(len(touched) - 1, 0))
        hit = touched[at] == anchor.items if len(touched) else np.zeros(len(at), dtype=bool)
        c_30[hit] += d_30[at[hit]]
        c_365[hit] += d_365[at[hit]]
        others = touched[~np.isin(touched, anchor.items, assume_unique=True)]
        return (
            np.concatenate([anchor.items, others]),
            np.concatenate([c_30, self.stats.count(others, as_of, 30)]),
            np.concatenate([c_365, self.stats.count(others, as_of, 365)]),
        )

    def _anchor(self, kind: str, day: int, min_count: int) -> Anchor:
        key = (kind, day, min_count)
        if key not in self._anchors:
            self._sweep([day], min_count)
        return self._anchors[key]

    def _events(self) -> tuple[np.ndarray, np.ndarray]:
        if self._ts is None or self._items_by_ts is None:
            self._ts, self._items_by_ts = self.stats.by_time()
        return self._ts, self._items_by_ts

    def _changes(self, day: int, as_of: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(items whose counts moved between midnight and as_of, ascending; the change of
        their 30-day and of their 365-day count)."""
        ts, items = self._events()

        def between(lo: int, hi: int) -> np.ndarray:
            return items[slice(*np.searchsorted(ts, [lo, hi]))] if hi > lo else items[:0]

        arrived = between(day, as_of)
        left_30 = between(day - 30 * DAY, as_of - 30 * DAY)
        left_365 = between(day - 365 * DAY, as_of - 365 * DAY)
        moved = np.concatenate([arrived, left_30, left_365])
        touched, where = np.unique(moved, return_inverse=True)
        sizes = (len(arrived), len(left_30), len(left_365))
        w_30 = np.repeat([1.0, -1.0, 0.0], sizes)
        w_365 = np.repeat([1.0, 0.0, -1.0], sizes)
        return (
            touched,
            np.bincount(where, w_30, len(touched)),
            np.bincount(where, w_365, len(touched)),
        )

    def _sweep(self, days: list[int], min_count: int) -> None:
        """Counts at the first day by search, then moved day to day by arrivals and expiries."""
        ts, items = self._events()
        everything = np.arange(self.stats.n_items)
        c_30 = self.stats.count(everything, days[0], 30)
        c_365 = self.stats.count(everything, days[0], 365)
        previous = days[0]
        for day in days:
            for counts, window in ((c_30, 30), (c_365, 365)):
                _move(counts, ts, items, previous, day, window * DAY)
            previous = day
            if len(self._anchors) >= MAX_ANCHORS:
                self._anchors.clear()
            for kind, score in SCORES.items():
                ranked = self._rank(score(c_30, c_365, min_count), c_30, c_365)
                self._anchors[(kind, day, min_count)] = ranked

    def _rank(self, scores: np.ndarray, c_30: np.ndarray, c_365: np.ndarray) -> Anchor:
        positive = np.flatnonzero(scores > 0)
        floor, complete = 0.0, True
        if len(positive) > self.depth:
            values = scores[positive]
            nth = -np.partition(-values, self.depth - 1)[self.depth - 1]
            keep = values >= nth
            if keep.sum() > self.depth * TIE_SLACK:
                keep = values > nth
            positive, complete = positive[keep], False
            floor = float(values[keep].min()) if keep.any() else float("inf")
        return Anchor(positive, c_30[positive], c_365[positive], floor, complete)


def _move(
    counts: np.ndarray, ts: np.ndarray, items: np.ndarray, start: int, end: int, window: int
) -> None:
    """counts as of ``start`` -> as of ``end``: add arrivals, remove what left the window."""
    if end <= start:
        return
    lo, hi = np.searchsorted(ts, [start, end])
    np.add.at(counts, items[lo:hi], 1.0)
    lo, hi = np.searchsorted(ts, [start - window, end - window])
    np.subtract.at(counts, items[lo:hi], 1.0)
