"""How many users does a test method need for a verdict? Resampling-based power analysis.

Used by ``recsys simulate`` to compare A/B testing with interleaving on the same simulated
population. Every estimate resamples users (the randomization unit) with replacement and
counts how often the test reaches the verdict (p < alpha, in the expected direction); the
answer is the smallest n on a grid whose share of hits reaches the target power (80%).

Honest reading: resampling observed users treats the observed effect as the true one, so on
real logs this is post-hoc power and optimistic when the observed effect is inflated. Its
proper use is a simulator that knows the truth and asks every method the same question on
the same population; the answer is only as fine as the grid, and n beyond the observed
users extrapolates by resampling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
_BOOT_CELLS = 5_000_000  # resamples x users drawn per chunk (bounds memory)


@dataclass(frozen=True)
class UsersNeeded:
    """Smallest n on ``grid`` whose estimated power reached ``target``, None if none did."""

    users: int | None
    power: dict[int, float]
    target: float
    alpha: float


@dataclass(frozen=True)
class PowerSearch:
    """How to search for the users needed: 80% power at alpha 0.05 by default, ``n_resamples``
    resamples per grid point, the grid (default: 16 points from 20 to the observed users)."""

    target: float = 0.8
    alpha: float = ALPHA
    grid: tuple[int, ...] | None = None
    n_resamples: int = 200
    seed: int = 0


def _grid(max_users: int, points: int = 16, start: int = 20) -> list[int]:
    if max_users < start:
        return [max_users]
    return sorted({int(x) for x in np.geomspace(start, max_users, points)})


def _power_search(
    verdict: Callable[[np.random.Generator, int, int], np.ndarray],
    observed_users: int,
    search: PowerSearch,
) -> UsersNeeded:
    rng = np.random.default_rng(search.seed)
    grid = list(search.grid) if search.grid else _grid(observed_users)
    power: dict[int, float] = {}
    for n in grid:
        chunk = max(1, _BOOT_CELLS // max(n, 1))
        hits = np.concatenate(
            [verdict(rng, n, size) for size in _chunks(search.n_resamples, chunk)]
        )
        power[n] = float(hits.mean())
    found = next((n for n in grid if power[n] >= search.target), None)
    return UsersNeeded(found, power, search.target, search.alpha)


def _chunks(total: int, chunk: int) -> list[int]:
    return [min(chunk, total - start) for start in range(0, total, chunk)]


def users_needed_ab(
    control: np.ndarray,
    treatment: np.ndarray,
    *,
    direction: int | None = None,
    search: PowerSearch | None = None,
) -> UsersNeeded:
    """Users an A/B test needs to reach the verdict: resampling-based power analysis.

    ``control`` and ``treatment`` hold one value per user (e.g. each user's clicks per
    impression). For each total n on the grid (n // 2 users per arm: the equal split is the
    most efficient A/B design, and n counts every user the test exposes), ``search.n_resamples``
    times: draw n // 2 users with replacement from each arm, run Welch's t-test, and count a
    hit when p < ``alpha`` with the difference in ``direction`` (+1: treatment higher;
    default the sign of the full-data difference). Power(n) = share of hits; the answer is
    the smallest grid n with power >= ``target`` (default 80%).

    Honest reading: resampling the observed users treats the observed effect as the true
    one, so on real logs this is post-hoc power and optimistic when the observed effect is
    inflated. Its proper use is a simulator that knows the truth and asks both methods the
    same question on the same population; the answer is only as fine as the grid.
    """
    control = np.asarray(control, dtype=np.float64)
    treatment = np.asarray(treatment, dtype=np.float64)
    if control.size < 2 or treatment.size < 2:
        raise ValueError("users_needed_ab needs at least two users per arm")
    sign = direction or (1 if treatment.mean() >= control.mean() else -1)
    search = search or PowerSearch()
    alpha = search.alpha

    def verdict(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
        half = max(n // 2, 2)
        a = control[rng.integers(0, control.size, (size, half))]
        b = treatment[rng.integers(0, treatment.size, (size, half))]
        va, vb = a.var(axis=1, ddof=1) / half, b.var(axis=1, ddof=1) / half
        diff = b.mean(axis=1) - a.mean(axis=1)
        se = np.sqrt(va + vb)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(se > 0, diff / se, np.where(diff != 0, np.inf * np.sign(diff), 0.0))
            df = np.where(se > 0, (va + vb) ** 2 / (va**2 + vb**2) * (half - 1), half - 1)
        p = 2 * stats.t.sf(np.abs(t), np.nan_to_num(df, nan=half - 1))
        return (p < alpha) & (np.sign(diff) == sign)

    return _power_search(verdict, control.size + treatment.size, search)


def users_needed_interleaving(
    votes: np.ndarray,
    *,
    direction: int | None = None,
    search: PowerSearch | None = None,
) -> UsersNeeded:
    """Users interleaving needs for the verdict; the same procedure as ``users_needed_ab``.

    ``votes`` holds one value per user of the interleaving variant (``user_votes``'s
    ``vote``: +1 challenger, -1 baseline, 0 abstain). Each resample draws n users with
    replacement (abstaining users are drawn too: they cost exposure without deciding) and
    runs the report's two-sided binomial test on the decided votes (at p0 = 0.5 the exact
    test's p-value is twice the smaller tail, computed here for all resamples at once).
    """
    votes = np.sign(np.asarray(votes, dtype=np.float64))
    if votes.size == 0:
        raise ValueError("users_needed_interleaving needs at least one user")
    sign = direction or (1 if votes.sum() >= 0 else -1)
    search = search or PowerSearch()
    alpha = search.alpha

    def verdict(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
        drawn = votes[rng.integers(0, votes.size, (size, n))]
        wins, losses = (drawn > 0).sum(axis=1), (drawn < 0).sum(axis=1)
        p = np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(wins, losses), wins + losses, 0.5))
        return (p < alpha) & (np.sign(wins - losses) == sign)

    return _power_search(verdict, votes.size, search)


def users_needed_paired(
    differences: np.ndarray,
    *,
    direction: int | None = None,
    search: PowerSearch | None = None,
) -> UsersNeeded:
    """Users interleaving needs when each user contributes the SIZE of their preference:
    ``differences`` holds one value per user (e.g. clicks credited to the challenger minus
    clicks credited to the baseline over all their interleaved pages), tested with a
    one-sample t-test against 0. Unlike the majority vote, a user with nine wins counts more
    than one whose single (possibly random) click tipped the vote; users stay the unit, so
    the test is as valid as the A/B one."""
    values = np.asarray(differences, dtype=np.float64)
    if values.size < 2:
        raise ValueError("users_needed_paired needs at least two users")
    sign = direction or (1 if values.mean() >= 0 else -1)
    search = search or PowerSearch()
    alpha = search.alpha

    def verdict(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
        drawn = values[rng.integers(0, values.size, (size, max(n, 2)))]
        mean, sd = drawn.mean(axis=1), drawn.std(axis=1, ddof=1)
        se = sd / np.sqrt(drawn.shape[1])
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(se > 0, mean / se, np.where(mean != 0, np.inf * np.sign(mean), 0.0))
        p = 2 * stats.t.sf(np.abs(t), drawn.shape[1] - 1)
        return (p < alpha) & (np.sign(mean) == sign)

    return _power_search(verdict, values.size, search)
