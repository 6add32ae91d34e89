"""Stage 6: THE feature definitions, used by ranker training and by serving alike.

Every feature of a (user, item) pair is a function of three things only:
the user's history strictly before ``as_of`` (``UserState``), the item's catalog-side data
(``ItemSide``) and the point-in-time item statistics (``ItemStats``) as of the same time.
Training builds a ``UserState`` at each user's cutoff; serving builds it at the snapshot
time (plus live events later). Both then call ``recommendation_features`` or
``search_features`` below, the only code that turns those into numbers.

Missing values are NaN (LightGBM treats them as missing), never a made-up 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from pydantic.dataclasses import dataclass as pydantic_dataclass

from recsys.catalog.documents import CONTENT
from recsys.core.config import SECTION
from recsys.history.interactions import InteractionLog
from recsys.history.item_stats import DAY, ItemStats
from recsys.search.query_features import QUERY_FEATURES

ITEM_FEATURES = (
    "item_pop_all",  # log1p consumptions before as_of
    "item_pop_30d",
    "item_pop_365d",
    "item_trend",  # log((30d + 1) / (365d / 12 + 1)): rising (>0) or fading (<0)
    "item_rating_mean",  # Bayesian mean (prior 3.5, weight 5)
    "item_rating_count",  # log1p
    "item_days_since_last",  # days since the item was last consumed (NaN: never)
    "item_age_years",  # as_of year - release year
    "item_year",
    "item_is_movie",
    "item_meta_popularity",  # log1p TMDB popularity (known even for never-watched items)
    "item_vote_average",
    "item_vote_count",  # log1p TMDB vote count (NaN unknown)
)
USER_FEATURES = (
    "user_n_history",  # log1p
    "user_days_since_last",
    "user_mean_rating",
    "user_mean_item_pop",  # mean item_pop_all of the history: how mainstream the user is
)
PAIR_FEATURES = (
    "sim_profile",  # cosine(user profile embedding, item embedding)
    "sim_recent_max",  # max cosine to the last RECENT items consumed
    "sim_recent_mean",
    "genre_match",  # user's genre distribution . item's genres (normalized)
    "language_match",  # user's share of the item's original language (NaN: unknown language)
    "decade_match",  # user's share of the item's decade
    "year_diff",  # item year - mean year of the history
    "pop_diff",  # item_pop_all - user_mean_item_pop
)
BASE_FEATURES = ITEM_FEATURES + USER_FEATURES + PAIR_FEATURES
SOURCES = ("ann", "covis", "ease", "content", "popular", "trending")
SOURCE_FEATURES = tuple(f"{s}_{kind}" for s in SOURCES for kind in ("score", "rank")) + (
    "n_sources",
)
RECOMMENDATION_FEATURES = BASE_FEATURES + SOURCE_FEATURES
SEARCH_FEATURES = BASE_FEATURES + QUERY_FEATURES
# anonymous search: what the query says about the item, and what everyone's behaviour says
# about it (so that among plausible matches the one people watch wins)
ANONYMOUS_SEARCH_FEATURES = ITEM_FEATURES + QUERY_FEATURES
N_DECADES = 13  # 1900s .. 2020s (earlier and later clipped)


@pydantic_dataclass(frozen=True, config=SECTION)
class FeatureConfig:
    profile_half_life_days: float = 365.0  # recency weighting of the profile embedding
    recent: int = 5  # "last items consumed" for the recent-similarity features


def _decade(year: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(np.nan_to_num(year, nan=1900) / 10) - 190, 0, N_DECADES - 1).astype(
        np.int64
    )


@dataclass(frozen=True)
class ItemSide:
    """Catalog-side arrays, one row per catalog position."""

    vectors: np.ndarray  # (n, d) float32, L2-normalized
    genres: np.ndarray  # (n, G) float32 multi-hot rows normalized to sum 1 (0 if none)
    genre_names: list[str]
    language: np.ndarray  # int64 code into ``languages``; -1 unknown
    languages: list[str]
    year: np.ndarray  # float64, NaN unknown
    is_movie: np.ndarray  # float64
    meta_popularity: np.ndarray  # float64, NaN unknown
    vote_average: np.ndarray  # float64, NaN unknown
    vote_count: np.ndarray  # float64 log1p, NaN unknown

    @classmethod
    def from_catalog(cls, catalog: pl.DataFrame, vectors: np.ndarray) -> ItemSide:
        genre_lists = catalog["genres"].to_list()
        names = sorted({g for gs in genre_lists for g in (gs or [])})
        column = {g: i for i, g in enumerate(names)}
        genres = np.zeros((catalog.height, len(names)), dtype=np.float32)
        for row, gs in enumerate(genre_lists):
            for g in gs or []:
                genres[row, column[g]] = 1.0
        genres /= np.maximum(genres.sum(axis=1, keepdims=True), 1.0)
        langs = catalog["original_language"].to_list()
        languages = sorted({lang for lang in langs if lang})
        code = {lang: i for i, lang in enumerate(languages)}
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)

        def floats(col: str) -> np.ndarray:
            """A numeric column as float64 with NaN for missing (all NaN when absent)."""
            if col not in catalog.columns:
                return np.full(catalog.height, np.nan)
            return catalog[col].cast(pl.Float64).fill_null(float("nan")).to_numpy().copy()

        return cls(
            vectors=(vectors / np.maximum(norms, 1e-12)).astype(np.float32),
            genres=genres,
            genre_names=names,
            language=np.array([code.get(lang, -1) if lang else -1 for lang in langs]),
            languages=languages,
            year=floats("year"),
            is_movie=(catalog["type"] == "movie").cast(pl.Float64).to_numpy(),
            meta_popularity=np.log1p(floats("popularity")),
            vote_average=floats("vote_average"),
            vote_count=np.log1p(floats("vote_count")),
        )

    def __len__(self) -> int:
        return len(self.year)


@dataclass(frozen=True)
class UserState:
    """A user as of a time: their history before it and what the features derive from it."""

    as_of: int
    items: np.ndarray  # history item positions, oldest first
    ts: np.ndarray
    profile: np.ndarray  # (d,) unit vector, zeros when the history is empty
    recent: np.ndarray  # the last ``recent`` items, most recent first
    genre_affinity: np.ndarray  # (G,) sums to 1 (zeros when empty)
    language_affinity: np.ndarray  # (L,) share of history per original language
    decade_affinity: np.ndarray  # (N_DECADES,)
    summary: np.ndarray  # values of USER_FEATURES

    @property
    def is_cold(self) -> bool:
        return len(self.items) == 0

    def recency_weights(self, half_life_days: float = 365.0) -> np.ndarray:
        if not len(self.ts):
            return np.zeros(0)
        return np.power(0.5, (self.ts[-1] - self.ts) / (half_life_days * DAY))


def user_state(
    items: np.ndarray,
    ts: np.ndarray,
    values: np.ndarray,
    as_of: int,
    side: ItemSide,
    stats: ItemStats,
    config: FeatureConfig | None = None,
) -> UserState:
    """Build the state from a history (arrays in time order, all strictly before as_of)."""
    config = config or FeatureConfig()
    n = len(items)
    dim = side.vectors.shape[1]
    if n == 0:
        nan = float("nan")
        return UserState(
            as_of,
            items,
            ts,
            np.zeros(dim, dtype=np.float32),
            items,
            np.zeros(side.genres.shape[1], dtype=np.float32),
            np.zeros(len(side.languages)),
            np.zeros(N_DECADES),
            np.array([0.0, nan, nan, nan]),
        )
    rating_weight = np.where(np.isnan(values), 1.0, np.maximum(values, 0.5) / 5.0)
    weights = np.power(0.5, (ts[-1] - ts) / (config.profile_half_life_days * DAY)) * rating_weight
    profile = (weights[:, None] * side.vectors[items]).sum(axis=0)
    profile /= max(float(np.linalg.norm(profile)), 1e-12)
    genre = side.genres[items].sum(axis=0)
    genre /= max(float(genre.sum()), 1e-12)
    lang = side.language[items]
    known = lang >= 0
    language = np.bincount(lang[known], minlength=len(side.languages)) / max(int(known.sum()), 1)
    years = side.year[items]
    has_year = ~np.isnan(years)
    decade = np.bincount(_decade(years[has_year]), minlength=N_DECADES) / max(
        int(has_year.sum()), 1
    )
    pops = np.log1p(stats.count(items, as_of))
    rated = values[~np.isnan(values)]
    summary = np.array(
        [
            np.log1p(n),
            (as_of - ts[-1]) / DAY,
            float(rated.mean()) if len(rated) else np.nan,
            float(pops.mean()),
        ]
    )
    return UserState(
        as_of,
        items,
        ts,
        profile.astype(np.float32),
        items[::-1][: config.recent].copy(),
        genre.astype(np.float32),
        language,
        decade,
        summary,
    )


def user_state_from_log(
    log: InteractionLog,
    user: int,
    as_of: int,
    side: ItemSide,
    stats: ItemStats,
    config: FeatureConfig | None = None,
) -> UserState:
    rows = log.history(user, as_of)
    return user_state(log.items[rows], log.ts[rows], log.values[rows], as_of, side, stats, config)


def item_features(items: np.ndarray, as_of: int, side: ItemSide, stats: ItemStats) -> np.ndarray:
    """(len(items), len(ITEM_FEATURES)) float64: the item priors as of ``as_of``."""
    t = as_of
    c_all = stats.count(items, t)
    c_30 = stats.count(items, t, 30)
    c_365 = stats.count(items, t, 365)
    n_rated, rating_sum = stats.ratings(items, t)
    last = stats.last_seen(items, t)
    year = side.year[items]
    as_of_year = 1970 + t / (365.2425 * DAY)
    return np.column_stack(
        [
            np.log1p(c_all),
            np.log1p(c_30),
            np.log1p(c_365),
            np.log((c_30 + 1) / (c_365 / 12 + 1)),
            (rating_sum + 3.5 * 5) / (n_rated + 5),
            np.log1p(n_rated),
            (t - last) / DAY,
            as_of_year - year,
            year,
            side.is_movie[items],
            side.meta_popularity[items],
            side.vote_average[items],
            side.vote_count[items],
        ]
    ).reshape(len(items), len(ITEM_FEATURES))


def base_features(
    user: UserState, items: np.ndarray, side: ItemSide, stats: ItemStats
) -> np.ndarray:
    """(len(items), len(BASE_FEATURES)) float64: item, user and user x item features."""
    n = len(items)
    item = item_features(items, user.as_of, side, stats)
    pop_all = item[:, 0]
    year = side.year[items]
    vectors = side.vectors[items]
    if user.is_cold:
        pair = np.full((n, len(PAIR_FEATURES)), np.nan)
    else:
        # einsum, not BLAS: a row's value must not depend on which other rows are scored
        # with it (BLAS kernels block by matrix size), so a candidate's features are the same
        # in any list
        recent_sims = np.einsum("id,rd->ir", vectors, side.vectors[user.recent])
        lang = side.language[items]
        has_year = ~np.isnan(year)
        hist_years = side.year[user.items]
        mean_year = float(np.nanmean(hist_years)) if (~np.isnan(hist_years)).any() else np.nan
        pair = np.column_stack(
            [
                np.einsum("id,d->i", vectors, user.profile),
                recent_sims.max(axis=1),
                recent_sims.mean(axis=1),
                side.genres[items] @ user.genre_affinity,
                np.where(lang >= 0, user.language_affinity[np.maximum(lang, 0)], np.nan),
                np.where(has_year, user.decade_affinity[_decade(year)], np.nan),
                year - mean_year,
                pop_all - user.summary[3],
            ]
        )
    users = np.broadcast_to(user.summary, (n, len(USER_FEATURES)))
    return np.hstack([item, users, pair]).astype(np.float64)


def recommendation_features(
    user: UserState,
    items: np.ndarray,
    source_scores: np.ndarray,
    source_ranks: np.ndarray,
    side: ItemSide,
    stats: ItemStats,
) -> np.ndarray:
    """RECOMMENDATION_FEATURES for candidates; source arrays are (n, len(SOURCES)), NaN when
    the source did not propose the item."""
    interleaved = np.empty((len(items), 2 * len(SOURCES)))
    interleaved[:, 0::2] = source_scores
    interleaved[:, 1::2] = source_ranks
    n_sources = (~np.isnan(source_ranks)).sum(axis=1, keepdims=True)
    return np.hstack([base_features(user, items, side, stats), interleaved, n_sources])


def search_features(
    user: UserState,
    items: np.ndarray,
    query_scores: np.ndarray,
    side: ItemSide,
    stats: ItemStats,
) -> np.ndarray:
    """SEARCH_FEATURES; ``query_scores`` is (n, len(QUERY_FEATURES))."""
    return np.hstack([base_features(user, items, side, stats), query_scores])


def anonymous_search_features(
    items: np.ndarray, as_of: int, query_scores: np.ndarray, side: ItemSide, stats: ItemStats
) -> np.ndarray:
    """ANONYMOUS_SEARCH_FEATURES; ``query_scores`` is (n, len(QUERY_FEATURES))."""
    return np.hstack([item_features(items, as_of, side, stats), query_scores])


def item_vectors(
    doc_items: np.ndarray, doc_kinds: np.ndarray, vectors: np.ndarray, n_items: int
) -> np.ndarray:
    """One vector per item: its content document's (every item has one)."""
    out = np.zeros((n_items, vectors.shape[1]), dtype=np.float32)
    rows = np.flatnonzero(doc_kinds == CONTENT)
    out[doc_items[rows]] = vectors[rows]
    return out
