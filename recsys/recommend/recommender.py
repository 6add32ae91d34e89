"""Stages 5 -> 6 -> 7 at request time: candidates, features, ranker, reasons.

``rank_for_user`` is the one function that turns a ``UserState`` into a ranked list; the
service (``Recommender.recommend``) and the offline evaluation both call it, so what is
evaluated is what is served.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np

from recsys.catalog.items import ItemTable
from recsys.core.errors import InvalidRequestError
from recsys.core.types import Recommendation, RecommendationResult, RecommendRequest
from recsys.history.interactions import InteractionLog
from recsys.ranking.features import (
    UserState,
    recommendation_features,
    user_state,
    user_state_from_log,
)
from recsys.ranking.rankers import PopularityRanker, Ranker
from recsys.recommend.candidates import CandidateConfig, CandidateModels, Candidates, generate
from recsys.recommend.cold_start import LANGUAGE_NAMES, popular_recommendations
from recsys.recommend.config import RecsysConfig
from recsys.recommend.online import History, OnlineHistories

MAX_REASONS = 3


@dataclass(frozen=True)
class RankedList:
    items: np.ndarray  # item positions, best first
    scores: np.ndarray  # ranker scores, same order
    rows: np.ndarray  # row of each item in ``candidates`` / ``features``
    candidates: Candidates
    features: np.ndarray
    timings_ms: dict[str, float]


def rank_for_user(
    state: UserState,
    models: CandidateModels,
    config: CandidateConfig,
    ranker: Ranker,
    blocked: np.ndarray | None,
) -> RankedList:
    t0 = time.perf_counter()
    candidates = generate(state, models, config, blocked)
    t1 = time.perf_counter()
    features = recommendation_features(
        state, candidates.items, candidates.scores, candidates.ranks, models.side, models.stats
    )
    t2 = time.perf_counter()
    scores = ranker.score(features)
    order = np.lexsort((candidates.merged_order().argsort(), -scores))
    t3 = time.perf_counter()
    timings = {
        "candidates_ms": (t1 - t0) * 1000,
        "features_ms": (t2 - t1) * 1000,
        "rank_ms": (t3 - t2) * 1000,
    }
    return RankedList(candidates.items[order], scores[order], order, candidates, features, timings)


class Recommender:
    """Serving state for personalization: the interaction log snapshot, fitted candidate
    models and rankers. ``as_of`` is the snapshot's time (one second after its last event)."""

    def __init__(
        self,
        items: ItemTable,
        log: InteractionLog,
        models: CandidateModels,
        rankers: dict[str, Ranker],
        default_ranker: str,
        config: RecsysConfig,
        as_of: int | None = None,
        state_cache_size: int = 10_000,
    ) -> None:
        if default_ranker not in rankers:
            raise ValueError(f"default ranker {default_ranker!r} is not among {sorted(rankers)}")
        self.items = items
        self.log = log
        self.models = models
        self.rankers = rankers
        self.default_ranker = default_ranker
        self.config = config
        self.as_of = as_of if as_of is not None else log.end_time()
        self._users = log.user_index()
        # states depend only on (user, snapshot): cache the recent ones
        self._state = functools.lru_cache(maxsize=state_cache_size)(self._state_uncached)
        # consumptions that arrived after the snapshot (POST /v1/events, replayed on startup)
        self.online = OnlineHistories(items.frame, items.position_of)

    def warm_up(self) -> None:
        """Compute what the first requests would otherwise pay for - catalog-wide popularity
        counts at the snapshot time (2.5 s at a million items), the ranker's first call - with
        one list for a user of the snapshot and one cold-start list; the state cache is left
        empty."""
        if self._users:
            user_id = next(iter(self._users))
            self.recommend(RecommendRequest(user_id, k=10))
            self._state.cache_clear()
        stranger = "warm-up"
        while stranger in self._users or self.online.history(stranger) is not None:
            stranger += "~"
        self.recommend(RecommendRequest(stranger, k=10))

    def state(self, user_id: str | None, as_of: int | None = None) -> UserState | None:
        """The user now: the snapshot plus their consumptions since (or the snapshot alone as
        of an earlier ``as_of``); None without any history."""
        if user_id is None:
            return None
        user = self._users.get(user_id)
        if as_of is None:
            recent = self.online.history(user_id)
            if recent is not None:
                return self._state_with(user, recent)
        if user is None:
            return None
        return self._state(user) if as_of is None else self._state_uncached(user, as_of)

    def _state_with(self, user: int | None, recent: History) -> UserState | None:
        """The same features the next build would compute from the same events."""
        history = recent
        if user is not None:
            rows = self.log.history(user, self.as_of)
            snapshot = History(self.log.items[rows], self.log.ts[rows], self.log.values[rows])
            history = snapshot.merged(recent)
        if not len(history.items):
            return None
        as_of = max(self.as_of, int(history.ts[-1]) + 1)
        state = user_state(
            history.items,
            history.ts,
            history.values,
            as_of,
            self.models.side,
            self.models.stats,
            self.config.features,
        )
        return None if state.is_cold else state

    def _state_uncached(self, user: int, as_of: int | None = None) -> UserState | None:
        state = user_state_from_log(
            self.log,
            user,
            self.as_of if as_of is None else as_of,
            self.models.side,
            self.models.stats,
            self.config.features,
        )
        return None if state.is_cold else state

    def candidate_features(
        self, user_id: str, as_of: int | None = None, ranker: str | None = None
    ) -> RankedList | None:
        """What ``recommend`` computes for a user (their history blocked), optionally as of
        an earlier time: the online side of the offline/online feature agreement."""
        state = self.state(user_id, as_of)
        if state is None:
            return None
        blocked = np.zeros(len(self.items), dtype=bool)
        blocked[state.items] = True
        return rank_for_user(
            state, self.models, self.config.candidates, self._ranker(ranker), blocked
        )

    def _ranker(self, name: str | None) -> Ranker:
        name = name or self.default_ranker
        if name not in self.rankers:
            raise InvalidRequestError(f"unknown ranker {name!r}; known: {sorted(self.rankers)}")
        return self.rankers[name]

    def recommend(self, request: RecommendRequest, model_version: str = "") -> RecommendationResult:
        start = time.perf_counter()
        user_id, k, lang, ranker = request.user_id, request.k, request.lang, request.ranker
        filters, include_seen = request.filters, request.include_seen
        chosen = self._ranker(ranker)
        state = self.state(user_id)
        allowed = self.items.mask(filters)
        blocked = np.zeros(len(self.items), dtype=bool) if allowed is None else ~allowed
        if state is not None and not include_seen:
            blocked[state.items] = True
        if state is None:
            ranked = popular_recommendations(self.models, self.items, self.as_of, blocked, lang, k)
            timings = {"total_ms": (time.perf_counter() - start) * 1000}
            return RecommendationResult(
                user_id, ranked, model_version, PopularityRanker.name, True, timings
            )
        ranked_list = rank_for_user(state, self.models, self.config.candidates, chosen, blocked)
        top = ranked_list.items[:k].tolist()
        sources = [ranked_list.candidates.source_names(r) for r in ranked_list.rows[:k].tolist()]
        reasons = self.reasons(state, top, sources)
        out = [
            Recommendation(self.items.hit(item, score, lang), item_reasons, item_sources)
            for item, score, item_reasons, item_sources in zip(
                top, ranked_list.scores[:k].tolist(), reasons, sources, strict=True
            )
        ]
        if len(out) < k:
            blocked[ranked_list.items] = True  # top up a list that narrow filters cut short
            out += popular_recommendations(
                self.models, self.items, self.as_of, blocked, lang, k - len(out)
            )
        timings = {**ranked_list.timings_ms, "total_ms": (time.perf_counter() - start) * 1000}
        return RecommendationResult(user_id, out, model_version, chosen.name, False, timings)

    def _title(self, item: int) -> str:
        hit = self.items.hit(item, 0.0)
        return f"{hit.title} ({hit.year})" if hit.year else hit.title

    def reasons(
        self, state: UserState, items: list[int], sources: list[list[str]]
    ) -> list[list[str]]:
        """A few words per reason, strongest first, for each item."""
        models = self.models
        targets = np.array(items, dtype=np.int64)
        recent = state.items[::-1][: self.config.candidates.covis_recent]
        covis = models.covis.top_contributors(recent, None, targets)
        ease = models.ease.top_contributors(state.items, None, targets)
        out = []
        for item, item_sources, by_covis, by_ease in zip(items, sources, covis, ease, strict=True):
            anchor = by_covis if "covis" in item_sources else None
            if anchor is None and "ease" in item_sources:
                anchor = by_ease
            out.append(self._reasons(state, item, item_sources, anchor))
        return out

    def _reasons(
        self, state: UserState, item: int, sources: list[str], anchor: int | None
    ) -> list[str]:
        side = self.models.side
        out: list[str] = []
        if anchor is not None:
            out.append(f"because you watched {self._title(anchor)}")
        elif "content" in sources and len(state.recent):
            sims = side.vectors[state.recent] @ side.vectors[item]
            out.append(f"similar to {self._title(int(state.recent[int(sims.argmax())]))}")
        if "ann" in sources:
            genres = side.genres[item] * state.genre_affinity
            if genres.max(initial=0.0) > 0:
                out.append(f"matches your taste for {side.genre_names[int(genres.argmax())]}")
            else:
                out.append("matches your taste")
        lang = int(side.language[item])
        if lang >= 0 and state.language_affinity[lang] >= 0.2:
            code = side.languages[lang]
            if code != "en":
                out.append(f"in {LANGUAGE_NAMES.get(code, code)}, which you watch often")
        if "trending" in sources:
            out.append("trending now")
        elif "popular" in sources:
            out.append("popular now")
        return out[:MAX_REASONS] or ["recommended for you"]
