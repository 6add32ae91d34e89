"""Serving under an experiment: which arm a request gets, and what that arm serves.

The HTTP routes stay thin: they ask :func:`assignment_for` for the arm (the user's hashed
assignment, or the ``variant=`` override) and call :func:`serve_search` or
:func:`serve_recommendations`, which run the engine with the arm's ranker and retrieval
configuration, or, for an interleaving arm, run both rankers and team-draft interleave
their lists (seeded by the request id, so a retried request gets the same page).
What comes back says what to log: the experiment, the variant and, for interleaving, the
team of every position (the exposure log's ``teams``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Generic, TypeVar

from recsys.core.errors import InputDataError
from recsys.core.types import (
    RecommendationResult,
    SearchFilters,
    SearchResult,
    SearchService,
)
from recsys.experiments.config import (
    DEFAULT_EXPERIMENTS,
    Assignment,
    ExperimentConfig,
    load_experiments,
)
from recsys.experiments.interleaving import rng_for, team_draft

R = TypeVar("R", SearchResult, RecommendationResult)
SEARCH_RANKERS = ("lightgbm", "noop")  # search has the personal ranker or none


def check_servable(config: ExperimentConfig) -> None:
    """Refuse at startup an experiment the engine could only fail on at request time."""
    problems = [
        f"{e.key}/{v.name}: ranker {r!r} cannot order search results "
        f"(search rankers: {', '.join(SEARCH_RANKERS)})"
        for e in config.experiments
        if "search" in e.surfaces
        for v in e.variants
        for r in v.rankers
        if r not in SEARCH_RANKERS
    ]
    if problems:
        raise InputDataError("experiments", "; ".join(problems))


@dataclass(frozen=True)
class Served(Generic[R]):
    result: R
    experiment: str | None = None
    variant: str | None = None
    teams: list[str] | None = None  # interleaving: the ranker each position came from
    forced: bool = False  # a ``variant=`` override: not a randomized exposure

    @property
    def logged_experiment(self) -> str | None:
        """The experiment to record in the exposure log: none for forced (QA) requests,
        which would otherwise skew the sample-ratio check and the per-variant metrics."""
        return None if self.forced else self.experiment


def load_served_experiments(path: Path | None) -> ExperimentConfig:
    """The service's experiments: none without a path or when the default file is absent;
    an explicit file must exist and be valid (a clear ``InputDataError`` otherwise)."""
    if path is None or (path == DEFAULT_EXPERIMENTS and not path.is_file()):
        return ExperimentConfig()
    if not path.is_file():
        raise InputDataError(str(path), "experiments config file does not exist")
    config = load_experiments(path)
    check_servable(config)
    return config


def assignment_for(
    config: ExperimentConfig, surface: str, user_id: str | None, variant: str | None
) -> Assignment | None:
    """The arm of this request: ``variant`` forces one (QA); otherwise the user's hashed
    assignment among the experiments running on ``surface`` (None: no experiment)."""
    if variant is not None:
        return config.force_on(surface, variant)
    return config.assign(user_id, surface)


def serve_search(
    engine: SearchService,
    assignment: Assignment | None,
    request_id: str,
    query: str,
    k: int,
    filters: SearchFilters | None,
    lang: str | None,
    user_id: str | None,
) -> Served[SearchResult]:
    def run(ranker: str | None, retrieval: str | None) -> SearchResult:
        return engine.search(
            query, k=k, filters=filters, lang=lang, user_id=user_id, ranker=ranker,
            retrieval=retrieval,
        )  # fmt: skip

    if assignment is None:
        return Served(run(None, None))
    arm = assignment.config
    if arm.interleave is None:
        return _served(run(arm.ranker, arm.retrieval), assignment)
    first, second = (run(ranker, arm.retrieval) for ranker in arm.interleave)
    hits = {hit.item_id: hit for result in (second, first) for hit in result.items}
    items, teams = team_draft(
        [h.item_id for h in first.items],
        [h.item_id for h in second.items],
        k,
        rng_for(request_id),
        labels=arm.interleave,
    )
    merged = replace(first, items=[hits[i] for i in items], timings_ms=_sum(first, second))
    return _served(merged, assignment, teams)


def serve_recommendations(
    engine: SearchService,
    assignment: Assignment | None,
    request_id: str,
    user_id: str,
    k: int,
    filters: SearchFilters | None,
    lang: str | None,
    include_seen: bool,
) -> Served[RecommendationResult]:
    def run(ranker: str | None) -> RecommendationResult:
        return engine.recommend(
            user_id, k=k, filters=filters, lang=lang, include_seen=include_seen, ranker=ranker
        )

    if assignment is None:
        return Served(run(None))
    arm = assignment.config
    if arm.interleave is None:
        return _served(run(arm.ranker), assignment)
    first, second = (run(ranker) for ranker in arm.interleave)
    recs = {rec.hit.item_id: rec for result in (second, first) for rec in result.items}
    items, teams = team_draft(
        [r.hit.item_id for r in first.items],
        [r.hit.item_id for r in second.items],
        k,
        rng_for(request_id),
        labels=arm.interleave,
    )
    merged = replace(
        first,
        items=[recs[i] for i in items],
        ranker="+".join(arm.interleave),
        timings_ms=_sum(first, second),
    )
    return _served(merged, assignment, teams)


def _served(result: R, assignment: Assignment, teams: list[str] | None = None) -> Served[R]:
    return Served(result, assignment.experiment, assignment.variant, teams, assignment.forced)


def _sum(
    a: SearchResult | RecommendationResult, b: SearchResult | RecommendationResult
) -> dict[str, float]:
    """Stage timings of both runs of an interleaved request, added up."""
    return {key: a.timings_ms.get(key, 0.0) + b.timings_ms.get(key, 0.0) for key in a.timings_ms}
