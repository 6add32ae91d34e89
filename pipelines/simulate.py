"""``recsys simulate``: drive a running service with simulated users, then judge the experiment.

Ground truth comes from held-out MovieLens ratings (``recsys holdout-data`` writes
``holdout.csv``; the service must serve an artifact built WITHOUT them, or it would know
the answers and exclude them as already seen). Each simulated user asks for
recommendations (the service assigns the arm by hashing the user id, exactly as for real
traffic), looks at the page under a position-biased click model, and the simulator posts
what happened to ``POST /v1/events``: an impression per examined position, clicks, plays.

Click model (cascade-free examination model, Craswell et al. 2008 style):
- position p (0-based) is examined with probability ``1 / (p + 1) ** eta``;
- an examined item is clicked with ``p_click[grade]``: grade 2 = held out and rated
  >= 4 (the user loved it), 1 = held out with a lower rating, 0 = anything else (noise);
- a click becomes a play with ``p_play[grade]``.

Afterwards it reads the service's event store and runs the same analysis as
``recsys ab-report``, plus the sample-size comparison: how many users the A/B comparison
(control vs treatment, per-user clicks per impression) and interleaving (per-user votes)
need to reach the same verdict with 80% power (``recsys.experiments.power``).
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl

from recsys.core.errors import InputDataError
from recsys.experiments.analysis import user_votes
from recsys.experiments.config import Experiment
from recsys.experiments.outcomes import exposure_outcomes, user_table
from recsys.experiments.power import (
    PowerSearch,
    users_needed_ab,
    users_needed_interleaving,
    users_needed_paired,
)

RELEVANT_RATING = 4.0
SAMPLE_GRID = (10, 20, 30, 50, 75, 100, 150, 200, 300, 400, 600, 800, 1200, 1600, 2400, 3200)


@dataclass(frozen=True)
class ClickModel:
    eta: float = 1.0
    p_click: tuple[float, float, float] = (0.02, 0.35, 0.9)  # by grade 0, 1, 2
    p_play: tuple[float, float, float] = (0.2, 0.5, 0.8)

    def grade(self, item_id: str, truth: dict[str, float]) -> int:
        if item_id not in truth:
            return 0
        return 2 if truth[item_id] >= RELEVANT_RATING else 1


@dataclass
class SimulationStats:
    requests: int = 0
    failed_requests: int = 0
    events_posted: int = 0
    events_accepted: int = 0
    by_variant: dict[str, int] = field(default_factory=dict)


def read_holdout(path: Path) -> dict[str, dict[str, float]]:
    """holdout.csv (userId,movieId,rating,timestamp) -> user -> item -> rating."""
    if not path.is_file():
        raise InputDataError(str(path), "holdout file does not exist (recsys holdout-data)")
    truth: dict[str, dict[str, float]] = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            truth.setdefault(row["userId"], {})[row["movieId"]] = float(row["rating"])
    if not truth:
        raise InputDataError(str(path), "holdout file has no ratings")
    return truth


def simulate_page(
    request_id: str,
    user_id: str,
    items: Sequence[str],
    truth: dict[str, float],
    model: ClickModel,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """The events one user generates on one page (pure given ``rng``)."""
    events: list[dict[str, Any]] = []

    def add(kind: str, position: int, item: str) -> None:
        events.append(
            {
                "event_id": f"sim-{request_id}-{position}-{kind}",
                "type": kind,
                "user_id": user_id,
                "item_id": item,
                "request_id": request_id,
                "position": position,
            }
        )

    for position, item in enumerate(items):
        if rng.random() >= 1.0 / (position + 1) ** model.eta:
            continue
        add("impression", position, item)
        grade = model.grade(item, truth)
        if rng.random() < model.p_click[grade]:
            add("click", position, item)
            if rng.random() < model.p_play[grade]:
                add("play", position, item)
    return events


def sessions_of(users: Sequence[str], sessions: int) -> Iterator[tuple[str, int]]:
    """(user, session) jobs: every user once per session, session by session."""
    for session in range(sessions):
        for user in users:
            yield user, session


# what one simulated page came to: (variant, or None when the request failed; events posted;
# events accepted)
PageOutcome = tuple[str | None, int, int]


def react(
    client: httpx.Client,
    base: str,
    request_id: str,
    user: str,
    response: httpx.Response,
    truth: dict[str, float],
    model: ClickModel,
    rng: random.Random,
) -> PageOutcome:
    """The user looks at the served page under the click model; their events are posted."""
    if response.status_code != 200:
        return None, 0, 0
    body = response.json()
    items = [item["item_id"] for item in body["items"]]
    events = simulate_page(request_id, user, items, truth, model, rng)
    accepted = 0
    if events:
        posted = client.post(f"{base}/v1/events", json={"events": events})
        posted.raise_for_status()
        accepted = int(posted.json()["accepted"])
    return body.get("variant") or "(none)", len(events), accepted


def drive(
    jobs: Iterable[tuple[str, int]],
    one: Callable[[tuple[str, int]], PageOutcome],
    workers: int,
) -> SimulationStats:
    """Run ``one`` over the jobs on ``workers`` threads and add up what the pages came to."""
    stats = SimulationStats()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for variant, posted_n, accepted_n in pool.map(one, jobs):
            stats.requests += 1
            if variant is None:
                stats.failed_requests += 1
                continue
            stats.by_variant[variant] = stats.by_variant.get(variant, 0) + 1
            stats.events_posted += posted_n
            stats.events_accepted += accepted_n
    return stats


def run_simulation(
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
    """Every user asks for recommendations ``sessions`` times and reacts to each page."""
    model = model or ClickModel()
    base = url.rstrip("/")
    with httpx.Client(timeout=timeout_s, limits=httpx.Limits(max_connections=workers)) as client:

        def one(job: tuple[str, int]) -> PageOutcome:
            user, session = job
            request_id = f"{seed}-{user}-{session}"
            rng = random.Random(f"{seed}:{user}:{session}")
            response = client.get(
                f"{base}/v1/recommendations",
                params={"user_id": user, "k": k},
                headers={"X-Request-ID": request_id},
            )
            return react(client, base, request_id, user, response, truth.get(user, {}), model, rng)

        return drive(sessions_of(users, sessions), one, workers)


def wait_for_exposures(read: Any, expected: int, timeout_s: float = 20.0) -> pl.DataFrame:
    """The service writes exposures on a background thread: poll until they are all there."""
    deadline = time.monotonic() + timeout_s
    while True:
        exposures: pl.DataFrame = read()
        if exposures.height >= expected or time.monotonic() > deadline:
            return exposures
        time.sleep(0.2)


def sample_sizes(
    exposures: pl.DataFrame, events: pl.DataFrame, experiment: Experiment, seed: int = 0
) -> dict[str, Any]:
    """Users needed for an 80%-power verdict: A/B (control vs treatment, per-user clicks per
    impression) against interleaving (per-user majority votes), same population."""
    search = PowerSearch(grid=SAMPLE_GRID, seed=seed)
    outcomes = exposure_outcomes(exposures, events, experiment.key)
    users = user_table(outcomes).with_columns(
        (pl.col("clicks") / pl.col("impression_events").clip(1, None)).alias("ctr")
    )
    names = [v.name for v in experiment.variants]
    interleaved = next((v for v in experiment.variants if v.interleave), None)
    plain = [v for v in experiment.variants if not v.interleave]
    out: dict[str, Any] = {"grid": SAMPLE_GRID, "target_power": 0.8}
    if len(plain) >= 2:
        control = next((v for v in plain if v.name == "control"), plain[0])
        treatment = next(v for v in plain if v is not control)
        a = users.filter(pl.col("variant") == control.name)["ctr"].to_numpy()
        b = users.filter(pl.col("variant") == treatment.name)["ctr"].to_numpy()
        if a.size >= 2 and b.size >= 2:
            needed = users_needed_ab(a, b, search=search)
            out["ab"] = {
                "control": control.name,
                "treatment": treatment.name,
                "metric": "per-user clicks per impression, Welch t-test",
                "users_observed": int(a.size + b.size),
                "mean_control": float(np.mean(a)),
                "mean_treatment": float(np.mean(b)),
                **asdict(needed),
            }
    if interleaved is not None and interleaved.interleave is not None:
        per_user = user_votes(
            outcomes.filter(pl.col("variant") == interleaved.name), interleaved.interleave
        )
        votes = per_user["vote"].to_numpy()
        margins = (per_user["wins_b"] - per_user["wins_a"]).to_numpy().astype(np.float64)
        if votes.size >= 2:
            common = {
                "variant": interleaved.name,
                "challenger": interleaved.interleave[1],
                "users_observed": int(votes.size),
            }
            needed = users_needed_interleaving(votes, search=search)
            out["interleaving_vote"] = {
                **common,
                "metric": "per-user majority vote, binomial test",
                "challenger_vote_share": float((votes > 0).sum() / max((votes != 0).sum(), 1)),
                **asdict(needed),
            }
            needed = users_needed_paired(margins, search=search)
            out["interleaving"] = {
                **common,
                "metric": "per-user page wins (challenger - baseline), t-test",
                "mean_margin": float(margins.mean()),
                **asdict(needed),
            }
    ab, il = out.get("ab", {}).get("users"), out.get("interleaving", {}).get("users")
    out["ratio_ab_to_interleaving"] = (ab / il) if ab and il else None
    out["variants"] = names
    return out
