"""Point-in-time item statistics: popularity over windows and rating aggregates as of any t.

Built once from every consumption in a log; every query takes an ``as_of`` time and sees
only events strictly before it. Offline (one as-of per training user) and online (as-of =
the snapshot time) read the same structure, so the numbers cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recsys.history.interactions import InteractionLog

DAY = 86_400
WINDOWS_DAYS = (30, 365)
_SHIFT = np.int64(1) << np.int64(34)  # ts < 2^34 s (year 2514); items < 2^29


@dataclass
class ItemStats:
    n_items: int
    keys: np.ndarray  # int64 sorted: item * 2^34 + ts
    rating_cum: np.ndarray  # float64 (n + 1,): cumulative rating sum over keys
    rated_cum: np.ndarray  # int64 (n + 1,): cumulative count of rated events
    _cache: dict[tuple[int, int | None], np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def from_log(cls, log: InteractionLog, n_items: int) -> ItemStats:
        keys = log.items.astype(np.int64) * _SHIFT + log.ts.astype(np.int64)
        order = np.argsort(keys, kind="stable")
        values = log.values[order].astype(np.float64)
        rated = ~np.isnan(values)
        rating_cum = np.concatenate([[0.0], np.cumsum(np.where(rated, values, 0.0))])
        rated_cum = np.concatenate([[0], np.cumsum(rated)]).astype(np.int64)
        return cls(n_items, keys[order], rating_cum, rated_cum)

    def _position(self, items: np.ndarray, t: int | np.ndarray) -> np.ndarray:
        return np.searchsorted(self.keys, items.astype(np.int64) * _SHIFT + t, side="left")

    def count(self, items: np.ndarray, as_of: int, window_days: int | None = None) -> np.ndarray:
        """Consumptions of each item in [as_of - window, as_of) (all before as_of if None)."""
        end = self._position(items, as_of)
        if window_days is None:
            start = self._position(items, 0)
        else:
            start = self._position(items, max(0, as_of - window_days * DAY))
        return (end - start).astype(np.float64)

    def all_counts(self, as_of: int, window_days: int | None = None) -> np.ndarray:
        """``count`` for every item; cached, since serving asks for the same as-of often."""
        key = (as_of, window_days)
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            counts = self.count(np.arange(self.n_items), as_of, window_days)
            counts.setflags(write=False)
            self._cache[key] = counts
        return self._cache[key]

    def by_time(self) -> tuple[np.ndarray, np.ndarray]:
        """(ts, item) of every consumption, sorted by time (a new pair of arrays)."""
        ts = self.keys % _SHIFT
        order = np.argsort(ts, kind="stable")
        return ts[order], self.keys[order] // _SHIFT

    def ratings(self, items: np.ndarray, as_of: int) -> tuple[np.ndarray, np.ndarray]:
        """(number of ratings, sum of ratings) of each item before as_of."""
        start = self._position(items, 0)
        end = self._position(items, as_of)
        n = self.rated_cum[end] - self.rated_cum[start]
        total = self.rating_cum[end] - self.rating_cum[start]
        return n.astype(np.float64), total

    def last_seen(self, items: np.ndarray, as_of: int) -> np.ndarray:
        """Time of each item's latest consumption before as_of (NaN if none)."""
        start = self._position(items, 0)
        end = self._position(items, as_of)
        out = np.full(len(items), np.nan)
        has = end > start
        out[has] = (self.keys[end[has] - 1] % _SHIFT).astype(np.float64)
        return out
