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
    Capabilities,
    RecommendationResult,
    RecommendRequest,
    SearchRequest,
    SearchResult,
    SearchService,
)
from recsys.defaults import DEFAULT_EXPERIMENTS
from recsys.experiments.config import Assignment, ExperimentConfig
from recsys.experiments.interleaving import rng_for, team_draft
from recsys.experiments.loading import DECLARED, load_experiments

R = TypeVar("R", SearchResult, RecommendationResult)


def check_servable(config: ExperimentConfig, capabilities: Capabilities) -> None:
    """Refuse an experiment the engine could only fail on at request time: a ranker its
    surface cannot serve, or a retrieval mode it does not have."""
    problems = []
    for e in config.experiments:
        for v in e.variants:
            for surface, rankers in (
                ("search", capabilities.search_rankers),
                ("recommendations", capabilities.recommendation_rankers),
            ):
                if surface not in e.surfaces:
                    continue
                problems += [
                    f"{e.key}/{v.name}: ranker {r!r} cannot order {surface} results "
                    f"({surface} rankers: {', '.join(rankers)})"
                    for r in v.rankers
                    if r not in rankers
                ]
            if v.retrieval is not None and v.retrieval not in capabilities.retrieval_modes:
                problems.append(f"{e.key}/{v.name}: no retrieval mode {v.retrieval!r}")
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
    check_servable(config, DECLARED)
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
    engine: SearchService, assignment: Assignment | None, request_id: str, request: SearchRequest
) -> Served[SearchResult]:
    """Search under the request's arm (``request`` as the client asked, without an arm's
    ranker or retrieval)."""

    def run(ranker: str | None, retrieval: str | None) -> SearchResult:
        return engine.search(replace(request, ranker=ranker, retrieval=retrieval))

    if assignment is None:
        return Served(engine.search(request))
    arm = assignment.config
    if arm.interleave is None:
        return _served(run(arm.ranker, arm.retrieval), assignment)
    first, second = (run(ranker, arm.retrieval) for ranker in arm.interleave)
    hits = {hit.item_id: hit for result in (second, first) for hit in result.items}
    items, teams = team_draft(
        [h.item_id for h in first.items],
        [h.item_id for h in second.items],
        request.k,
        rng_for(request_id),
        labels=arm.interleave,
    )
    merged = replace(
        first,
        items=[hits[i] for i in items],
        timings_ms=_sum(first, second),
        ranker="+".join(arm.interleave),  # both arms share the matches, found and facets
    )
    return _served(merged, assignment, teams)


def serve_recommendations(
    engine: SearchService,
    assignment: Assignment | None,
    request_id: str,
    request: RecommendRequest,
) -> Served[RecommendationResult]:
    """Recommendations under the request's arm."""

    def run(ranker: str | None) -> RecommendationResult:
        return engine.recommend(replace(request, ranker=ranker))

    if assignment is None:
        return Served(engine.recommend(request))
    arm = assignment.config
    if arm.interleave is None:
        return _served(run(arm.ranker), assignment)
    first, second = (run(ranker) for ranker in arm.interleave)
    recs = {rec.hit.item_id: rec for result in (second, first) for rec in result.items}
    items, teams = team_draft(
        [r.hit.item_id for r in first.items],
        [r.hit.item_id for r in second.items],
        request.k,
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
