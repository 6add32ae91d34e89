"""How search results are ordered: by the learned ranker (personal for a known user with a
history, anonymous otherwise) or, for the ``noop`` arm, by reciprocal-rank fusion.

The whole pool of matches is ordered at once, so pages cut from it never repeat or skip an
item.
"""

from __future__ import annotations

import numpy as np

from recsys.core.errors import InvalidRequestError
from recsys.ranking.anonymous_search import AnonymousSearchRanker
from recsys.ranking.personal_search import PersonalSearchRanker, personal_search_order
from recsys.ranking.rankers import SEARCH_RANKERS, LightGBMRanker, NoOpRanker
from recsys.search.query_features import column

_FUSED = column("query_fused")


class SearchOrdering:
    def __init__(
        self,
        anonymous: AnonymousSearchRanker | None = None,
        personal: PersonalSearchRanker | None = None,
    ) -> None:
        self.anonymous = anonymous
        self.personal = personal

    @property
    def rankers(self) -> tuple[str, ...]:
        """Search ranker names this ordering serves (the learned one only when trained)."""
        learned = self.anonymous is not None or self.personal is not None
        return (LightGBMRanker.name, NoOpRanker.name) if learned else (NoOpRanker.name,)

    def order(
        self,
        items: np.ndarray,
        query_scores: np.ndarray,
        user_id: str | None,
        ranker: str | None,
    ) -> tuple[np.ndarray, np.ndarray, str]:
        """(order of the rows, their scores, the name of the ranker that ordered them)."""
        if ranker is not None and ranker not in SEARCH_RANKERS:
            raise InvalidRequestError(
                f"search ranker must be one of {', '.join(SEARCH_RANKERS)}, got {ranker!r}"
            )
        fused = query_scores[:, _FUSED]
        fused_order = np.arange(len(items))
        if ranker == NoOpRanker.name or not len(items):
            return fused_order, fused, NoOpRanker.name
        if self.personal is not None and user_id is not None:
            personal = self.personal.scores(user_id, items, query_scores)
            if personal is not None:
                return personal_search_order(query_scores, personal), personal, LightGBMRanker.name
        if self.anonymous is not None:
            scores = self.anonymous.scores(items, query_scores)
            # ties (rare: identical features) keep the fused order
            return np.lexsort((fused_order, -scores)), scores, LightGBMRanker.name
        return fused_order, fused, NoOpRanker.name
