"""Position bias of logged clicks: a position-based click model (PBM) estimated from the logs,
and the inverse-propensity weights that correct training on clicks for it.

Under the PBM a shown result is clicked when the user examines its position *and* finds it
relevant: ``P(click | q, d, k) = theta_k * gamma_qd``. Clicks on the first result are then
not evidence that it is better than the fifth, only that it was seen more often; a learner
that takes clicks at face value learns to reproduce the logging ranker's order.

``theta`` is estimated with expectation-maximization (Chuklin, Markov & de Rijke, *Click
Models for Web Search*, 2015, ch. 4; Wang et al., WSDM 2018) as a power law of the position,
``theta_k = (k + 1) ** -eta`` (one parameter: logs too thin for a free value per position
still give a stable curve; the shape Joachims et al. 2017 simulate with), on the (query,
item) pairs the logs show at two or more different positions (different rankers in an A/B
test, interleaving, personal reordering): only those pairs separate "seen less" from "liked
less" (the idea of intervention harvesting, Agarwal et al., WSDM 2019). A pair shown at one
position only lets ``gamma`` absorb everything and pushes ``theta`` to 1: left out.
The first position is taken as always examined (``theta_0 = 1``), which fixes the scale the
likelihood cannot (it depends on the product ``theta * gamma`` only).

A click at position ``k`` then weighs ``theta_0 / theta_k`` in training (clipped at
``max_weight``, the usual variance control): the propensity-weighted LambdaMART of
Joachims, Swaminathan & Schnabel (WSDM 2017), with LightGBM's per-row weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_PAIRS = 30  # fewer pairs seen at two positions: the estimate is too noisy to use
ETA_BOUNDS = (0.0, 3.0)  # examination (k + 1) ** -eta: flat .. steep


@dataclass(frozen=True)
class PositionBias:
    """Examination propensity per position, relative to the first (``relative[0] == 1``);
    positions past the last estimated one take the last value."""

    relative: tuple[float, ...]
    estimated: bool  # False: ``prior_position_bias`` (too few pairs seen at two positions)
    pairs: int  # (query, item) pairs the estimate used
    observations: int  # shown results of those pairs
    iterations: int
    eta: float = 1.0  # relative[k] == (k + 1) ** -eta

    def propensity(self, positions: np.ndarray) -> np.ndarray:
        table = np.asarray(self.relative, dtype=np.float64)
        return table[np.clip(np.asarray(positions, dtype=np.int64), 0, len(table) - 1)]

    def weights(self, positions: np.ndarray, max_weight: float) -> np.ndarray:
        """Inverse propensity of a click at each position, clipped to ``[1, max_weight]``."""
        return np.clip(1.0 / self.propensity(positions), 1.0, max_weight)

    def to_dict(self) -> dict[str, Any]:
        return {
            "relative_examination": [round(v, 4) for v in self.relative],
            "estimated": self.estimated,
            "eta": round(self.eta, 4),
            "pairs": self.pairs,
            "observations": self.observations,
            "iterations": self.iterations,
        }


def prior_position_bias(positions: int, eta: float = 1.0) -> PositionBias:
    """``(1 / (k + 1)) ** eta``: the common prior when the logs cannot tell."""
    relative = tuple(float(1.0 / (k + 1) ** eta) for k in range(max(positions, 1)))
    return PositionBias(relative, False, pairs=0, observations=0, iterations=0, eta=eta)


def estimate_position_bias(
    pairs: np.ndarray,
    positions: np.ndarray,
    clicks: np.ndarray,
    *,
    max_iterations: int = 1000,
    tolerance: float = 1e-6,
    min_pairs: int = MIN_PAIRS,
) -> PositionBias:
    """EM for the PBM with ``theta_k = (k + 1) ** -eta`` over shown results: ``pairs`` (int
    id of the (query, item) pair), ``positions`` (0-based) and ``clicks`` (bool), one entry
    per shown result. Uses the pairs shown at two or more positions; falls back to the prior
    (eta 1) when fewer than ``min_pairs``."""
    pairs = np.asarray(pairs, dtype=np.int64)
    positions = np.asarray(positions, dtype=np.int64)
    clicks = np.asarray(clicks, dtype=bool)
    n_positions = int(positions.max()) + 1 if len(positions) else 1
    keep = _pairs_at_two_positions(pairs, positions)
    pair_ids, pair_of = np.unique(pairs[keep], return_inverse=True)
    if len(pair_ids) < min_pairs:
        return prior_position_bias(n_positions)
    k, c = positions[keep], clicks[keep].astype(np.float64)
    shown_at = np.bincount(k, minlength=n_positions).astype(np.float64)
    shown_pair = np.bincount(pair_of, minlength=len(pair_ids)).astype(np.float64)
    eta = 1.0
    gamma = np.full(len(pair_ids), 0.5)
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 (reported)
        theta = _power_law(eta, n_positions)
        t, g = theta[k], gamma[pair_of]
        unclicked = np.maximum(1.0 - t * g, 1e-12)
        seen = c + (1 - c) * t * (1 - g) / unclicked  # P(examined | observation)
        liked = c + (1 - c) * (1 - t) * g / unclicked  # P(relevant | observation)
        new_eta = _fit_eta(np.bincount(k, seen, n_positions), shown_at)
        new_gamma = np.bincount(pair_of, liked, len(pair_ids)) / shown_pair
        change = max(abs(new_eta - eta), float(np.abs(new_gamma - gamma).max()))
        eta, gamma = new_eta, new_gamma
        if change < tolerance:
            break
    relative = tuple(float(v) for v in _power_law(eta, n_positions))
    return PositionBias(relative, True, len(pair_ids), int(keep.sum()), iterations, eta)


def _power_law(eta: float, n_positions: int) -> np.ndarray:
    return np.power(np.arange(1, n_positions + 1, dtype=np.float64), -eta)


def _fit_eta(seen: np.ndarray, shown: np.ndarray) -> float:
    """M-step: the eta in ``ETA_BOUNDS`` that maximizes the expected log-likelihood of the
    examinations (``seen`` expected examinations of the ``shown`` results per position).
    Position 0 is always examined (theta_0 = 1), which fixes the scale. Continuous, not on
    a grid: EM moves eta by small steps that a grid would round back to where it was."""
    from scipy.optimize import minimize_scalar

    logs = np.log(np.arange(2, len(seen) + 1, dtype=np.float64))  # positions 1..n-1
    s, n = seen[1:], shown[1:]

    def negative_loglik(eta: float) -> float:
        theta = np.exp(-eta * logs).clip(1e-12, 1 - 1e-12)
        return float(-(s * np.log(theta) + (n - s) * np.log1p(-theta)).sum())

    found = minimize_scalar(negative_loglik, bounds=ETA_BOUNDS, method="bounded")
    return float(found.x)


def _pairs_at_two_positions(pairs: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Mask of the entries whose pair is shown at two or more distinct positions."""
    if not len(pairs):
        return np.zeros(0, dtype=bool)
    distinct = np.unique(np.column_stack([pairs, positions]), axis=0)
    ids, counts = np.unique(distinct[:, 0], return_counts=True)
    return np.isin(pairs, ids[counts >= 2])
