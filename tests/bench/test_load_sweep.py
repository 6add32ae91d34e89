"""The load sweep, against the one-at-a-time stub server (``conftest.py``: 20 ms per search,
the rest shed with 503): below saturation nearly everything offered is answered, above it
the surplus is shed; its arguments are checked; secrets stay out of the recorded settings."""

from __future__ import annotations

import argparse

import pytest

from bench.common import server_settings
from bench.load_sweep import factor_list, sweep_step


def args(seconds: float = 1.0) -> argparse.Namespace:
    return argparse.Namespace(clients=1, seconds=seconds, client_timeout_s=2.0, deadline_s=1.0)


def test_below_saturation_what_is_offered_is_answered_above_it_the_surplus_is_shed(
    base: str,
) -> None:
    below = sweep_step(base, ["a", "b c"], 0.5, args())
    above = sweep_step(base, ["a", "b c"], 6.0, args())
    for step in (below, above):
        assert 10 < step["saturation_rps"] <= 50  # at most one 20 ms search at a time
        assert step["failed"] == 0
        assert step["answered_vs_saturation"] == pytest.approx(
            step["answered_in_deadline_rps"] / step["saturation_rps"], rel=0.01
        )
    assert below["answered_vs_offered"] > 0.8 and below["shed_fraction"] < 0.2
    assert above["offered_rps"] > 5 * above["saturation_rps"]
    assert above["shed"] > 0 and above["answered_vs_offered"] < 0.7


def test_factors_are_positive_numbers() -> None:
    assert factor_list("0.9,1,2") == [0.9, 1.0, 2.0]
    for bad in ("x", "1,,2", "0", "-1"):
        with pytest.raises(argparse.ArgumentTypeError):
            factor_list(bad)


def test_recorded_server_settings_are_recsys_ones_without_secrets() -> None:
    env = {
        "RECSYS_ADMISSION_QUEUE": "0",
        "RECSYS_ADMIN_API_KEY": "s3cret",
        "RECSYS_API_KEYS_FILE": "/k.toml",
        "PATH": "/bin",
    }
    assert server_settings(env) == {"RECSYS_ADMISSION_QUEUE": "0"}
