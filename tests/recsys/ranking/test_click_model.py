"""The position-bias estimate recovers known propensities; weights follow from it."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.ranking.click_model import estimate_position_bias, prior_position_bias

TRUE_THETA = 1.0 / (np.arange(8) + 1) ** 0.8


def simulate(
    logging_bias: bool, n: int = 60_000, pairs: int = 500, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Clicks from a PBM; with ``logging_bias`` the more relevant pairs are shown higher
    (as a ranker does), which fools the naive click-through rate per position."""
    rng = np.random.default_rng(seed)
    gamma = rng.beta(1, 3, pairs)
    pair = rng.integers(0, pairs, n)
    if logging_bias:
        noisy = 7 * (1 - gamma[pair]) + rng.normal(0, 1.5, n)
        position = np.clip(np.round(noisy), 0, 7).astype(np.int64)
    else:
        position = rng.integers(0, 8, n)
    clicks = rng.random(n) < TRUE_THETA[position] * gamma[pair]
    return pair, position, clicks, gamma


@pytest.mark.parametrize("logging_bias", [False, True])
def test_em_recovers_the_relative_examination(logging_bias: bool) -> None:
    pair, position, clicks, _ = simulate(logging_bias)
    bias = estimate_position_bias(pair, position, clicks)
    assert bias.estimated and bias.pairs == 500
    assert abs(bias.eta - 0.8) < 0.05
    expected = TRUE_THETA / TRUE_THETA[0]
    assert np.abs(np.array(bias.relative) - expected).max() < 0.06


def test_the_naive_click_rate_per_position_is_fooled_by_logging_bias() -> None:
    """The reason for EM: with relevant results shown on top, the raw CTR by position
    overstates how much less the bottom is examined."""
    pair, position, clicks, _ = simulate(logging_bias=True)
    ctr = np.bincount(position, clicks, 8) / np.bincount(position, minlength=8)
    naive = ctr / ctr[0]
    assert naive[7] < 0.5 * (TRUE_THETA[7] / TRUE_THETA[0])


def test_pairs_seen_at_one_position_only_fall_back_to_the_prior() -> None:
    pair = np.arange(100)  # every pair shown once
    position = np.arange(100) % 10
    clicks = np.zeros(100, dtype=bool)
    clicks[::7] = True
    bias = estimate_position_bias(pair, position, clicks)
    assert not bias.estimated
    assert bias.relative == prior_position_bias(10).relative


def test_weights_are_clipped_inverse_propensities() -> None:
    bias = prior_position_bias(5)  # 1, 1/2, ..., 1/5
    np.testing.assert_allclose(bias.weights(np.array([0, 1, 4, 9]), 3.0), [1.0, 2.0, 3.0, 3.0])
    flat = prior_position_bias(1, eta=0.0)
    np.testing.assert_allclose(flat.weights(np.array([0, 7]), 10.0), [1.0, 1.0])


def test_relative_propensities_never_increase_down_the_page() -> None:
    pair, position, clicks, _ = simulate(logging_bias=False, n=3_000, pairs=60, seed=3)
    relative = np.array(estimate_position_bias(pair, position, clicks).relative)
    assert relative[0] == 1.0 and np.all(np.diff(relative) <= 0)
