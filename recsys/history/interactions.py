"""Stage 5a: who consumed what, when: the interactions table and its point-in-time views.

The table (``INTERACTIONS_SCHEMA``) has one row per event:

    user_id  str    the user's id (MovieLens userId as text; API user ids later)
    item_id  str    a catalog item_id
    ts       i64    unix seconds, UTC
    type     str    rating | tag | play | click | add_to_list | ... (``CONSUME_TYPES`` count
                    as consumption: they enter histories, labels and item popularity)
    strength f32    how strong a signal this event is (1.0 for a rating or a play)
    value    f32    the rating (0.5..5), null for other types

``read_movielens_interactions`` builds it from ratings.csv and tags.csv; logged API events
(the events issue) append rows of the same shape. ``InteractionLog`` is the numpy view the
feature and candidate code reads: one consumption per (user, item) (the first), sorted by
user then time, with ``history(user, as_of)`` returning only what happened strictly before
``as_of``, so every feature is point-in-time correct.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from recsys.catalog.ingest.common import read_raw_csv
from recsys.catalog.ingest.report import SourceReport
from recsys.core.errors import InputDataError

INTERACTIONS_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.Utf8(),
    "item_id": pl.Utf8(),
    "ts": pl.Int64(),
    "type": pl.Utf8(),
    "strength": pl.Float32(),
    "value": pl.Float32(),
}
CONSUME_TYPES = ("rating", "play")
TAG_STRENGTH = 0.5


def empty_interactions() -> pl.DataFrame:
    return pl.DataFrame(schema=INTERACTIONS_SCHEMA)


def _movielens_rows(
    path: Path, value_col: str | None, kind: str, catalog_ids: pl.DataFrame, rep: SourceReport
) -> pl.DataFrame:
    required = ("userId", "movieId", "timestamp") + ((value_col,) if value_col else ())
    raw = read_raw_csv(path, required)
    rep.rows_read = raw.height
    frame = raw.select(
        pl.col("userId").str.strip_chars().cast(pl.Int64, strict=False).alias("user"),
        pl.col("movieId").str.strip_chars().cast(pl.Int64, strict=False).alias("movielens_id"),
        pl.col("timestamp").str.strip_chars().cast(pl.Int64, strict=False).alias("ts"),
        (
            pl.col(value_col).str.strip_chars().cast(pl.Float32, strict=False)
            if value_col
            else pl.lit(None, pl.Float32)
        ).alias("value"),
    )
    bad = frame["user"].is_null() | frame["movielens_id"].is_null() | frame["ts"].is_null()
    rep.drop("unparseable_id_or_timestamp", int(bad.sum()))
    frame = frame.filter(~bad)
    if value_col:
        out_of_range = frame["value"].is_null() | ~frame["value"].is_between(0.5, 5.0)
        rep.drop("rating_missing_or_out_of_range", int(out_of_range.sum()))
        frame = frame.filter(~out_of_range)
    joined = frame.join(catalog_ids, on="movielens_id", how="left")
    unknown = joined["item_id"].is_null()
    rep.drop("item_not_in_catalog", int(unknown.sum()))
    joined = joined.filter(~unknown)
    before = joined.height
    joined = joined.unique(subset=["user", "item_id", "ts"], keep="first", maintain_order=True)
    rep.drop("duplicate_event", before - joined.height)
    rep.rows_kept = joined.height
    return joined.select(
        pl.col("user").cast(pl.Utf8).alias("user_id"),
        pl.col("item_id"),
        pl.col("ts"),
        pl.lit(kind).alias("type"),
        pl.lit(1.0 if kind == "rating" else TAG_STRENGTH, pl.Float32).alias("strength"),
        pl.col("value"),
    )


def read_movielens_interactions(
    data_dir: Path, catalog: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, SourceReport]]:
    """ratings.csv and tags.csv (both optional: without them the build serves cold-start
    answers only) -> interactions, with what was dropped and why."""
    base = Path(data_dir) / "movielens"
    catalog_ids = catalog.select("item_id", "movielens_id").filter(
        pl.col("movielens_id").is_not_null()
    )
    reports: dict[str, SourceReport] = {}
    frames = []
    for name, value_col, kind, required in (
        ("ratings.csv", "rating", "rating", False),
        ("tags.csv", None, "tag", False),
    ):
        path = base / name
        rep = SourceReport(name=f"movielens_{kind}s", path=str(path))
        reports[rep.name] = rep
        if not path.is_file():
            if required:
                raise InputDataError(str(path), "missing file")
            rep.status, rep.note = "skipped", "file not present"
            continue
        frames.append(_movielens_rows(path, value_col, kind, catalog_ids, rep))
    frame = pl.concat(frames) if frames else empty_interactions()
    return frame.sort("user_id", "ts", "item_id"), reports


def conform_interactions(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast an events frame (e.g. logged API events) to the interactions schema."""
    missing = [c for c in ("user_id", "item_id", "ts", "type") if c not in frame.columns]
    if missing:
        raise InputDataError("interactions", f"missing columns: {', '.join(missing)}")
    columns = [
        (pl.col(c) if c in frame.columns else pl.lit(None)).cast(t).alias(c)
        for c, t in INTERACTIONS_SCHEMA.items()
    ]
    return frame.select(columns).with_columns(pl.col("strength").fill_null(1.0))


@dataclass(frozen=True)
class InteractionLog:
    """Consumptions as arrays: rows sorted by (user, ts, item), one row per (user, item).

    ``users[u]`` is the id of user index ``u``; user ``u`` owns rows
    ``ptr[u]:ptr[u + 1]``. Items are catalog positions (ItemTable order).
    """

    users: list[str]
    ptr: np.ndarray  # int64 (n_users + 1,)
    items: np.ndarray  # int64 (n,)
    ts: np.ndarray  # int64 (n,)
    values: np.ndarray  # float32 (n,), NaN when the event has no rating

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, item_positions: Mapping[str, int]) -> InteractionLog:
        consumed = frame.filter(pl.col("type").is_in(CONSUME_TYPES)).filter(
            pl.col("item_id").is_in(list(item_positions))
        )
        first = (
            consumed.select("user_id", "item_id", "ts", "value")
            .sort("ts", "item_id")
            .group_by("user_id", "item_id", maintain_order=True)
            .agg(pl.col("ts").first(), pl.col("value").first())  # as known at that time
            .sort("user_id", "ts", "item_id")  # user ids in code point order, as np.unique
        )
        # in Polars, never as Python objects (20M rows: gigabytes of str and int objects)
        items = first["item_id"].replace_strict(
            list(item_positions), list(item_positions.values()), return_dtype=pl.Int64
        )
        runs = first.group_by("user_id", maintain_order=True).len()
        ptr = np.concatenate([[0], np.cumsum(runs["len"].to_numpy())]).astype(np.int64)
        values = first["value"].cast(pl.Float32).fill_null(float("nan")).to_numpy()
        return cls(
            users=runs["user_id"].to_list(),
            ptr=ptr,
            items=items.to_numpy().astype(np.int64),
            ts=first["ts"].to_numpy().astype(np.int64),
            values=np.asarray(values, dtype=np.float32),
        )

    def __len__(self) -> int:
        return len(self.items)

    @property
    def n_users(self) -> int:
        return len(self.users)

    def user_index(self) -> dict[str, int]:
        return {u: i for i, u in enumerate(self.users)}

    def user_of_rows(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_users), np.diff(self.ptr))

    def history(self, user: int, as_of: int | None = None) -> slice:
        """The rows of ``user`` with ts < as_of (all rows when as_of is None)."""
        lo, hi = int(self.ptr[user]), int(self.ptr[user + 1])
        if as_of is not None:
            hi = lo + int(np.searchsorted(self.ts[lo:hi], as_of, side="left"))
        return slice(lo, hi)

    def end_time(self) -> int:
        """One second after the last event: the 'now' of a snapshot of this log."""
        return int(self.ts.max()) + 1 if len(self.ts) else 0

    def subset(self, rows: np.ndarray) -> InteractionLog:
        """The log restricted to a boolean row mask (users keep their indices)."""
        user_rows = self.user_of_rows()[rows]
        counts = np.bincount(user_rows, minlength=self.n_users)
        ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return InteractionLog(self.users, ptr, self.items[rows], self.ts[rows], self.values[rows])


@dataclass(frozen=True)
class Split:
    """A per-user temporal split: history strictly before each user's cutoff, labels after."""

    history: InteractionLog
    cutoffs: np.ndarray  # int64 (n_users,): the as-of time of each user; 0 = not evaluated
    labels: list[np.ndarray]  # item positions consumed at or after the cutoff, per user
    # the rating of each label (NaN: consumed without one), same shapes as ``labels``
    label_values: list[np.ndarray] = field(default_factory=list)

    def evaluated_users(self) -> np.ndarray:
        return np.flatnonzero(self.cutoffs > 0)

    def sample(self, max_users: int, seed: int = 0) -> Split:
        """At most ``max_users`` evaluated users, a seeded uniform sample (the others keep
        their history and are no longer evaluated); itself when there are no more."""
        users = self.evaluated_users()
        if len(users) <= max_users:
            return self
        kept = np.random.default_rng(seed).choice(users, max_users, replace=False)
        cutoffs = np.zeros_like(self.cutoffs)
        cutoffs[kept] = self.cutoffs[kept]
        return Split(self.history, cutoffs, self.labels, self.label_values)

    def grades(self, user: int, items: np.ndarray, liked_rating: float | None) -> np.ndarray:
        """Relevance of ``items`` for ``user``: 0 not consumed after the cutoff, 1 consumed,
        2 rated ``liked_rating`` or more (``None``: every consumption is 1)."""
        labels, values = self.labels[user], self.label_values[user]
        grade = np.zeros(len(items), dtype=np.float64)
        where = {int(item): i for i, item in enumerate(labels.tolist())}
        for row, item in enumerate(np.asarray(items).tolist()):
            i = where.get(int(item))
            if i is not None:
                liked = liked_rating is not None and values[i] >= liked_rating  # NaN: False
                grade[row] = 2.0 if liked else 1.0
        return grade


def leave_last_n(log: InteractionLog, n: int, min_history: int = 5) -> Split:
    """Hold out each user's last ``n`` consumptions (ties at the cutoff time go with them).

    The cutoff of a user is the time of their n-th last consumption; everything at or after
    it is held out, so a history never shares a timestamp with its labels. Users left with
    fewer than ``min_history`` earlier consumptions keep all their rows as history and are
    not evaluated (cutoff 0).
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    keep = np.ones(len(log), dtype=bool)
    cutoffs = np.zeros(log.n_users, dtype=np.int64)
    labels: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for u in range(log.n_users):
        lo, hi = int(log.ptr[u]), int(log.ptr[u + 1])
        if hi - lo < n + min_history:
            labels.append(np.zeros(0, dtype=np.int64))
            values.append(np.zeros(0, dtype=np.float32))
            continue
        cutoff = int(log.ts[hi - n])
        start = lo + int(np.searchsorted(log.ts[lo:hi], cutoff, side="left"))
        if start - lo < min_history:
            labels.append(np.zeros(0, dtype=np.int64))
            values.append(np.zeros(0, dtype=np.float32))
            continue
        cutoffs[u] = cutoff
        keep[start:hi] = False
        labels.append(log.items[start:hi].copy())
        values.append(log.values[start:hi].copy())
    return Split(log.subset(keep), cutoffs, labels, values)


def truncate_before(frame: pl.DataFrame, when: int) -> pl.DataFrame:
    """Events strictly before ``when`` (unix seconds): the data a backtest may see."""
    return frame.filter(pl.col("ts") < when)


def user_positions(log: InteractionLog, user_ids: Sequence[str]) -> np.ndarray:
    index = log.user_index()
    return np.array([index.get(u, -1) for u in user_ids], dtype=np.int64)
