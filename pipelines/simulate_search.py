"""``recsys simulate --surface search``: simulated users search for what they are about to
watch, and react to the results page.

Each session of a held-out user picks one of their held-out items as the *target* (a liked
one, rated >= 4, when they have any), fetches it from the service (``GET /v1/items/{id}``)
and types one query for it, derived the way the search ranker's training queries are
(``recsys.ranking.derived_queries``: a title, a fragment, a prefix, a typo, a person, a
keyword or a window of a description; no MovieLens tags, which the service does not serve).
The page of ``GET /v1/search?q=&user_id=`` is judged by the same position-biased click model
as recommendations (``pipelines.simulate.ClickModel``) with these grades: 2 for the target,
1 for the user's other held-out items (things they would also watch), 0 for the rest.

The service assigns the experiment arm from the user id, exactly as for real traffic, and
logs the page as a ``search`` exposure; ``recsys ab-report --surface search`` then compares
the search rankers, and ``recsys build --events`` learns from these clicks.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import httpx
import numpy as np

from pipelines.simulate import (
    RELEVANT_RATING,
    ClickModel,
    PageOutcome,
    SimulationStats,
    drive,
    react,
    sessions_of,
)
from recsys.ranking.derived_queries import derive_query

OTHER_HELD_OUT = 3.0  # grade 1 under ClickModel.grade: relevant, not what they came for


def pick_target(truth: dict[str, float], rng: random.Random) -> str:
    """A held-out item of the user, a liked one when there is one."""
    liked = sorted(item for item, rating in truth.items() if rating >= RELEVANT_RATING)
    return rng.choice(liked or sorted(truth))


def page_truth(target: str, truth: dict[str, float]) -> dict[str, float]:
    """Grades for one search page: the target is what they want (grade 2), their other
    held-out items are relevant (grade 1)."""
    return {**{item: OTHER_HELD_OUT for item in truth}, target: 5.0}


class RowSource(Protocol):
    def get(self, item_id: str) -> dict[str, Any] | None: ...


class ItemRows:
    """Item metadata fetched from the service once per item (thread-safe)."""

    def __init__(self, client: httpx.Client, base: str) -> None:
        self.client, self.base = client, base
        self._rows: dict[str, dict[str, Any] | None] = {}
        self._lock = threading.Lock()

    def get(self, item_id: str) -> dict[str, Any] | None:
        with self._lock:
            if item_id in self._rows:
                return self._rows[item_id]
        response = self.client.get(f"{self.base}/v1/items/{item_id}")
        row = response.json() if response.status_code == 200 else None
        with self._lock:
            self._rows[item_id] = row
        return row


def session_query(
    user: str, session: int, truth: dict[str, float], rows: RowSource, seed: int
) -> tuple[str, str, str] | None:
    """(target, query kind, query) of one session; None when the target has no metadata."""
    rng = random.Random(f"{seed}:search:{user}:{session}")
    target = pick_target(truth, rng)
    row = rows.get(target)
    if row is None:
        return None
    derived = derive_query(row, [], np.random.default_rng(rng.getrandbits(32)))
    return None if derived is None else (target, *derived)


def run_search_simulation(
    url: str,
    truth: dict[str, dict[str, float]],
    users: Sequence[str],
    sessions: int = 3,
    k: int = 10,
    seed: int = 0,
    workers: int = 4,
    model: ClickModel | None = None,
    timeout_s: float = 30.0,
) -> SimulationStats:
    """Every user searches ``sessions`` times and reacts to each results page."""
    model = model or ClickModel()
    base = url.rstrip("/")
    with httpx.Client(timeout=timeout_s, limits=httpx.Limits(max_connections=workers)) as client:
        rows = ItemRows(client, base)

        def one(job: tuple[str, int]) -> PageOutcome:
            user, session = job
            asked = session_query(user, session, truth[user], rows, seed)
            if asked is None:
                return None, 0, 0
            target, _, query = asked
            request_id = f"{seed}-search-{user}-{session}"
            response = client.get(
                f"{base}/v1/search",
                params={"q": query, "user_id": user, "k": k},
                headers={"X-Request-ID": request_id},
            )
            grades = page_truth(target, truth[user])
            rng = random.Random(f"{seed}:search-clicks:{user}:{session}")
            return react(client, base, request_id, user, response, grades, model, rng)

        return drive(sessions_of(users, sessions), one, workers)
