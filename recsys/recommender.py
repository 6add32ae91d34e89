"""Stages 5 -> 6 -> 7 at request time: candidates, features, ranker, reasons.

``rank_for_user`` is the one function that turns a ``UserState`` into a ranked list; the
service (``Recommender.recommend``) and the offline evaluation both call it, so what is
evaluated is what is served.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from recsys.candidates import CandidateConfig, CandidateModels, Candidates, generate
from recsys.cold_start import LANGUAGE_NAMES, popular_recommendations
from recsys.config import RecsysConfig
from recsys.errors import InvalidRequestError
from recsys.features import (
    SEARCH_FEATURES,
    UserState,
    recommendation_features,
    search_features,
    user_state_from_log,
)
from recsys.interactions import InteractionLog
from recsys.item_table import ItemTable
from recsys.ranking import Ranker
from recsys.service_types import Recommendation, RecommendationResult, SearchFilters

MAX_REASONS = 3


@dataclass(frozen=True)
class RankedList:
    items: np.ndarray  # item positions, best first
    scores: np.ndarray  # ranker scores, same order
    rows: np.ndarray  # row of each item in ``candidates`` / ``features``
    candidates: Candidates
    features: np.ndarray


def rank_for_user(
    state: UserState,
    models: CandidateModels,
    config: CandidateConfig,
    ranker: Ranker,
    blocked: np.ndarray | None,
) -> RankedList:
    candidates = generate(state, models, config, blocked)
    features = recommendation_features(
        state, candidates.items, candidates.scores, candidates.ranks, models.side, models.stats
    )
    scores = ranker.score(features)
    order = np.lexsort((candidates.merged_order().argsort(), -scores))
    return RankedList(candidates.items[order], scores[order], order, candidates, features)


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
        search_ranker: Ranker | None = None,
        as_of: int | None = None,
    ) -> None:
        if default_ranker not in rankers:
            raise ValueError(f"default ranker {default_ranker!r} is not among {sorted(rankers)}")
        self.items = items
        self.log = log
        self.models = models
        self.rankers = rankers
        self.default_ranker = default_ranker
        self.config = config
        self.search_ranker = search_ranker
        self.as_of = as_of if as_of is not None else log.end_time()
        self._users = log.user_index()

    def state(self, user_id: str | None) -> UserState | None:
        """The user as of the snapshot, or None for a user with no history."""
        user = self._users.get(user_id) if user_id is not None else None
        if user is None:
            return None
        state = user_state_from_log(
            self.log, user, self.as_of, self.models.side, self.models.stats, self.config.features
        )
        return None if state.is_cold else state

    def _ranker(self, name: str | None) -> Ranker:
        name = name or self.default_ranker
        if name not in self.rankers:
            raise InvalidRequestError(f"unknown ranker {name!r}; known: {sorted(self.rankers)}")
        return self.rankers[name]

    def recommend(
        self,
        user_id: str,
        k: int = 10,
        filters: SearchFilters | None = None,
        lang: str | None = None,
        include_seen: bool = False,
        ranker: str | None = None,
        model_version: str = "",
    ) -> RecommendationResult:
        start = time.perf_counter()
        chosen = self._ranker(ranker)
        state = self.state(user_id)
        allowed = self.items.mask(filters)
        blocked = np.zeros(len(self.items), dtype=bool) if allowed is None else ~allowed
        if state is not None and not include_seen:
            blocked[state.items] = True
        if state is None:
            ranked = popular_recommendations(self.models, self.items, self.as_of, blocked, lang, k)
            timings = {"total_ms": (time.perf_counter() - start) * 1000}
            return RecommendationResult(user_id, ranked, model_version, "popularity", True, timings)
        ranked_list = rank_for_user(state, self.models, self.config.candidates, chosen, blocked)
        rank_ms = (time.perf_counter() - start) * 1000
        out = []
        for item, score, row in zip(
            ranked_list.items[:k].tolist(),
            ranked_list.scores[:k].tolist(),
            ranked_list.rows[:k].tolist(),
            strict=True,
        ):
            sources = ranked_list.candidates.source_names(row)
            hit = self.items.hit(item, score, lang)
            out.append(Recommendation(hit, self.reasons(state, item, sources), sources))
        if len(out) < k:
            blocked[ranked_list.items] = True  # top up a list that narrow filters cut short
            out += popular_recommendations(
                self.models, self.items, self.as_of, blocked, lang, k - len(out)
            )
        timings = {"rank_ms": rank_ms, "total_ms": (time.perf_counter() - start) * 1000}
        return RecommendationResult(user_id, out, model_version, chosen.name, False, timings)

    def _title(self, item: int) -> str:
        hit = self.items.hit(item, 0.0)
        return f"{hit.title} ({hit.year})" if hit.year else hit.title

    def reasons(self, state: UserState, item: int, sources: list[str]) -> list[str]:
        """A few words per reason, strongest first."""
        models = self.models
        out: list[str] = []
        anchor = None
        if "covis" in sources:
            recent = state.items[::-1][: self.config.candidates.covis_recent]
            anchor = models.covis.top_contributor(recent, None, item)
        if anchor is None and "ease" in sources:
            anchor = models.ease.top_contributor(state.items, None, item)
        if anchor is not None:
            out.append(f"because you watched {self._title(int(anchor))}")
        elif "content" in sources and len(state.recent):
            sims = models.side.vectors[state.recent] @ models.side.vectors[item]
            out.append(f"similar to {self._title(int(state.recent[int(sims.argmax())]))}")
        if "ann" in sources:
            genres = models.side.genres[item] * state.genre_affinity
            if genres.max() > 0:
                genre = models.side.genre_names[int(genres.argmax())]
                out.append(f"matches your taste for {genre}")
            else:
                out.append("matches your taste")
        lang = int(models.side.language[item])
        if lang >= 0 and state.language_affinity[lang] >= 0.2:
            code = models.side.languages[lang]
            if code != "en":
                out.append(f"in {LANGUAGE_NAMES.get(code, code)}, which you watch often")
        if "trending" in sources:
            out.append("trending now")
        elif "popular" in sources:
            out.append("popular now")
        return out[:MAX_REASONS] or ["recommended for you"]

    def rerank_search(
        self, user_id: str | None, items: np.ndarray, query_scores: np.ndarray
    ) -> np.ndarray | None:
        """Personal scores for search results (query_scores: dense, lexical, rank columns),
        or None when there is no search ranker or the user has no history."""
        if self.search_ranker is None:
            return None
        state = self.state(user_id)
        if state is None:
            return None
        features = search_features(state, items, query_scores, self.models.side, self.models.stats)
        assert features.shape[1] == len(SEARCH_FEATURES)
        return self.search_ranker.score(features)
