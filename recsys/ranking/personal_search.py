"""Personal search: a known user's search results reordered by the search ranker.

The ranker sees the query features of every result (``QUERY_FEATURES``) beside the same user
and item features as recommendations (``search_features``). Exact title matches stay first:
taste never buries the title the user typed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recsys.history.item_stats import ItemStats
from recsys.ranking.features import QUERY_FEATURES, ItemSide, UserState, search_features
from recsys.ranking.rankers import Ranker
from recsys.search.title_match import EXACT_BONUS

UserStates = Callable[[str | None], UserState | None]


def personal_search_order(query_scores: np.ndarray, personal_scores: np.ndarray) -> np.ndarray:
    """Order of search results under a personal ranker: exact title matches first (taste
    never buries the title the user typed), then the personal score, then the query rank."""
    exact = query_scores[:, QUERY_FEATURES.index("query_title")] >= EXACT_BONUS
    rank = query_scores[:, QUERY_FEATURES.index("query_rank")]
    return np.lexsort((rank, -personal_scores, ~exact))


class PersonalSearchRanker:
    """Scores search results for a user; ``user_state`` looks a user up (None: unknown or
    no history)."""

    def __init__(
        self,
        ranker: Ranker,
        user_state: UserStates,
        side: ItemSide,
        stats: ItemStats,
    ) -> None:
        self.ranker = ranker
        self.user_state = user_state
        self.side = side
        self.stats = stats

    def scores(
        self, user_id: str | None, items: np.ndarray, query_scores: np.ndarray
    ) -> np.ndarray | None:
        """Personal scores for search results (query_scores: QUERY_FEATURES columns), or
        None when the user has no history."""
        state = self.user_state(user_id)
        if state is None:
            return None
        features = search_features(state, items, query_scores, self.side, self.stats)
        return self.ranker.score(features)
