"""A/B analysis: known answers on tiny frames, CIs on a synthetic experiment, SRM, interleaving."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
import pytest
from scipy import stats

from recsys.core.errors import InputDataError
from recsys.evaluation.metrics import ndcg_at_k
from recsys.experiments.analysis import analyze_experiment, srm_check, user_votes
from recsys.experiments.config import Variant
from recsys.experiments.interleaving import rng_for, team_draft
from recsys.experiments.loading import parse_experiments
from recsys.experiments.outcomes import exposure_outcomes, user_table
from recsys.experiments.power import (
    PowerSearch,
    users_needed_ab,
    users_needed_interleaving,
    users_needed_paired,
)

TS = datetime(2026, 11, 20, 12, tzinfo=UTC)
EXPOSURE_SCHEMA: dict[str, Any] = {
    "request_id": pl.Utf8,
    "ts": pl.Datetime("us", "UTC"),
    "route": pl.Utf8,
    "user_id": pl.Utf8,
    "experiment": pl.Utf8,
    "variant": pl.Utf8,
    "model_version": pl.Utf8,
    "query": pl.Utf8,
    "items": pl.List(pl.Utf8),
    "teams": pl.List(pl.Utf8),
}
EVENT_SCHEMA: dict[str, Any] = {
    "event_id": pl.Utf8,
    "type": pl.Utf8,
    "user_id": pl.Utf8,
    "item_id": pl.Utf8,
    "request_id": pl.Utf8,
    "position": pl.Int64,
    "ts": pl.Datetime("us", "UTC"),
    "value": pl.Float64,
    "received_at": pl.Datetime("us", "UTC"),
}


def exposure(
    request_id: str,
    user: str | None,
    variant: str,
    items: list[str],
    teams: list[str] | None = None,
    key: str = "exp",
) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "ts": TS,
        "route": "search",
        "user_id": user,
        "experiment": key,
        "variant": variant,
        "model_version": "v1",
        "query": "q",
        "items": items,
        "teams": teams,
    }


def event(kind: str, request_id: str | None, item: str, position: int | None = None) -> dict:
    return {
        "event_id": f"{kind}-{request_id}-{item}-{position}",
        "type": kind,
        "user_id": "u",
        "item_id": item,
        "request_id": request_id,
        "position": position,
        "ts": TS,
        "value": None,
        "received_at": TS,
    }


def frames(exposures: list[dict], events: list[dict]) -> tuple[pl.DataFrame, pl.DataFrame]:
    return (
        pl.DataFrame(exposures, schema=EXPOSURE_SCHEMA),
        pl.DataFrame(events, schema=EVENT_SCHEMA),
    )


def make_experiment(
    variants: tuple[Variant, ...] = (
        Variant("control", 1, ranker="noop"),
        Variant("treatment", 1, ranker="lightgbm"),
    ),
) -> Any:
    return parse_experiments(
        {
            "experiments": [
                {
                    "key": "exp",
                    "salt": "s",
                    "traffic": 1.0,
                    "surfaces": ["search"],
                    "variants": [
                        {
                            k: list(v) if isinstance(v, tuple) else v
                            for k, v in vars(var).items()
                            if v is not None and k != "description"
                        }
                        for var in variants
                    ],
                }
            ]
        }
    ).get("exp")


ITEMS = [f"i{j}" for j in range(5)]


def tiny() -> tuple[pl.DataFrame, pl.DataFrame]:
    return frames(
        [
            exposure("r1", "u1", "control", ITEMS),
            exposure("r2", "u1", "control", ITEMS),
            exposure("r3", "u2", "treatment", ITEMS),
            exposure("r4", None, "control", ITEMS),  # anonymous: not analysed
            exposure("r5", "u3", "control", ITEMS, key="other"),  # another experiment
        ],
        [
            event("click", "r1", "i0", 0),
            event("click", "r1", "i0", 0),  # double click: counted once
            event("click", "r1", "i2", 7),  # wrong position: placed by item_id
            event("click", "r3", "i1", 1),
            event("play", "r3", "i1", 1),
            event("click", "r3", "zz", 3),  # not on the page: ignored
            event("click", "nope", "i0", 0),  # unknown request: ignored
            event("click", None, "i0", 0),  # no request: ignored
            event("rating", "r3", "i4", 4),  # not a page event
        ],
    )


def test_known_answer_ctr_play_rate_ndcg() -> None:
    exposures, events = tiny()
    outcomes = exposure_outcomes(exposures, events, "exp")
    assert outcomes["request_id"].to_list() == ["r1", "r2", "r3"]
    assert outcomes["clicks"].to_list() == [2, 0, 1]
    assert outcomes["plays"].to_list() == [0, 0, 1]
    assert outcomes["ndcg"][0] == pytest.approx(ndcg_at_k(ITEMS, {"i0", "i2"}, 10))
    assert outcomes["ndcg"][0] == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert outcomes["ndcg"][1] is None and outcomes["ndcg"][2] == pytest.approx(1 / math.log2(3))

    users = user_table(outcomes)
    assert users.select("variant", "user_id", "exposures", "served", "clicks").rows() == [
        ("control", "u1", 2, 10, 2),
        ("treatment", "u2", 1, 5, 1),
    ]
    report = analyze_experiment(exposures, events, make_experiment(), n_boot=200)
    control, treatment = report["variants"]["control"], report["variants"]["treatment"]
    assert report["impressions_from"] == "served positions"
    assert (control["users"], control["exposures"], control["impressions"]) == (1, 2, 10)
    assert control["metrics"]["ctr"]["mean"] == pytest.approx(0.2)
    assert control["metrics"]["ndcg@10"]["mean"] == pytest.approx(outcomes["ndcg"][0])
    assert treatment["metrics"]["ctr"]["mean"] == pytest.approx(0.2)
    assert treatment["metrics"]["play_rate"]["mean"] == pytest.approx(0.2)
    assert control["metrics"]["play_rate"]["mean"] == 0.0
    diff = treatment["vs_control"]["ndcg@10"]
    assert diff["mean"] == pytest.approx(1 / math.log2(3) - outcomes["ndcg"][0])


def test_impression_events_define_impressions_when_logged() -> None:
    exposures, events = tiny()
    extra = [event("impression", "r3", "i0", 0), event("impression", "r3", "i1", 1)]
    events = pl.concat([events, frames([], extra)[1]])
    report = analyze_experiment(exposures, events, make_experiment(), n_boot=50)
    assert report["impressions_from"] == "impression events"
    # r3: impressions at 0 and 1 (the click and play are at 1); r1: the two clicked positions.
    assert report["variants"]["treatment"]["impressions"] == 2
    assert report["variants"]["treatment"]["metrics"]["ctr"]["mean"] == pytest.approx(0.5)
    assert report["variants"]["control"]["impressions"] == 2


def test_missing_columns_are_named() -> None:
    exposures, events = tiny()
    with pytest.raises(InputDataError, match="events: missing columns: request_id"):
        exposure_outcomes(exposures, events.drop("request_id"))


def synthetic(p_control: float, p_treatment: float, users: int, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    exposures, events = [], []
    for u in range(users):
        variant = "control" if u % 2 else "treatment"
        p = p_control if variant == "control" else p_treatment
        for r in range(4):
            rid = f"u{u}-r{r}"
            exposures.append(exposure(rid, f"u{u}", variant, [f"i{j}" for j in range(10)]))
            for pos in np.flatnonzero(rng.random(10) < p * (1 - 0.05 * np.arange(10))):
                events.append(event("click", rid, f"i{pos}", int(pos)))
    return frames(exposures, events)


def test_clearly_better_treatment_has_ci_above_zero() -> None:
    exposures, events = synthetic(0.05, 0.10, 600)
    report = analyze_experiment(exposures, events, make_experiment(), n_boot=500, seed=1)
    diff = report["variants"]["treatment"]["vs_control"]["ctr"]
    assert diff["low"] > 0 and diff["low"] < diff["mean"] < diff["high"]
    assert diff["mean"] == pytest.approx(0.05, abs=0.015)
    ctr = report["variants"]["control"]["metrics"]["ctr"]
    assert ctr["low"] < ctr["mean"] < ctr["high"]
    assert not report["srm"]["mismatch"]  # 300 / 300 against 50/50
    # Same seed, same intervals.
    again = analyze_experiment(exposures, events, make_experiment(), n_boot=500, seed=1)
    assert again["variants"]["treatment"]["vs_control"]["ctr"] == diff


def test_no_difference_ci_covers_zero() -> None:
    exposures, events = synthetic(0.08, 0.08, 400, seed=3)
    report = analyze_experiment(exposures, events, make_experiment(), n_boot=500)
    diff = report["variants"]["treatment"]["vs_control"]["ctr"]
    assert diff["low"] < 0 < diff["high"]


def test_srm() -> None:
    flagged = srm_check({"control": 600, "treatment": 400}, {"control": 0.5, "treatment": 0.5})
    assert flagged["mismatch"] and flagged["p_value"] < 0.001
    assert flagged["expected"] == {"control": 500.0, "treatment": 500.0}
    fair = srm_check({"control": 507, "treatment": 493}, {"control": 1, "treatment": 1})
    assert not fair["mismatch"] and fair["p_value"] > 0.5
    weighted = srm_check({"a": 400, "b": 400, "c": 200}, {"a": 0.4, "b": 0.4, "c": 0.2})
    assert weighted["p_value"] == pytest.approx(1.0)
    assert srm_check({"a": 10}, {"a": 1})["p_value"] is None


def test_users_in_several_variants_are_excluded() -> None:
    exposures, events = tiny()
    exposures = pl.concat([exposures, frames([exposure("r9", "u2", "control", ITEMS)], [])[0]])
    report = analyze_experiment(exposures, events, make_experiment(), n_boot=50)
    assert report["excluded"]["users_in_several_variants"] == 1
    assert report["variants"]["treatment"]["users"] == 0


def interleaved(votes: dict[str, int], team_names: tuple[str, str]) -> tuple:
    """Users whose impressions are won by the challenger (+1), the baseline (-1) or tied."""
    exposures, events = [], []
    for u, (name, vote) in enumerate(votes.items()):
        for r in range(3):
            rid = f"{name}-{r}"
            items, teams = team_draft(ITEMS, ITEMS[::-1], 5, rng_for(rid), team_names)
            exposures.append(exposure(rid, name, "mix", items, teams))
            want = {1: team_names[1], -1: team_names[0]}.get(vote)
            if want is not None and (r < 2 or u % 2):
                pos = teams.index(want)
                events.append(event("click", rid, items[pos], pos))
    return frames(exposures, events)


@pytest.mark.parametrize("teams", [("noop", "lightgbm"), ("a", "b"), ("control", "treatment")])
def test_interleaving_win_rate_and_binomial_test(teams: tuple[str, str]) -> None:
    votes = {f"u{i}": 1 for i in range(20)} | {f"v{i}": -1 for i in range(8)}
    votes |= {f"t{i}": 0 for i in range(5)}
    exposures, events = interleaved(votes, teams)
    exp = make_experiment(
        (
            Variant("control", 1, ranker="noop"),
            Variant("treatment", 1, ranker="lightgbm"),
            Variant("mix", 1, interleave=("noop", "lightgbm")),
        )
    )
    result = analyze_experiment(exposures, events, exp, n_boot=50)["interleaving"]["mix"]
    assert result["user_votes"] == {"noop": 8, "lightgbm": 20, "tie": 5}
    assert result["users"] == 33 and result["impressions"] == 99
    assert result["win_rate"]["mean"] == pytest.approx(20 / 28)
    expected = stats.binomtest(20, 28, 0.5)
    assert result["p_value"] == pytest.approx(expected.pvalue)
    ci = expected.proportion_ci(0.95, method="exact")
    assert (result["win_rate"]["low"], result["win_rate"]["high"]) == pytest.approx(
        (ci.low, ci.high)
    )
    assert result["significant"] == (expected.pvalue < 0.05)


def test_user_votes_counts_impressions() -> None:
    exposures, events = interleaved({"u0": 1, "u1": -1}, ("a", "b"))
    votes = user_votes(exposure_outcomes(exposures, events), ("noop", "lightgbm"))
    assert votes.rows(named=True)[0] == {
        "user_id": "u0",
        "impressions": 3,
        "wins_a": 0,
        "wins_b": 2,
        "ties": 1,
        "vote": 1,
    }
    assert votes["vote"].to_list() == [1, -1]


def test_users_needed() -> None:
    rng = np.random.default_rng(0)
    votes = rng.choice([1, -1, 0], size=400, p=[0.45, 0.25, 0.30])
    found = users_needed_interleaving(votes, search=PowerSearch(n_resamples=300))
    assert found.users is not None and found.power[found.users] >= 0.8
    assert all(p < 0.8 for n, p in found.power.items() if n < found.users)
    # No effect: the verdict is (almost) never reached, so no n qualifies.
    same = rng.binomial(10, 0.1, size=(2, 400)) / 10
    assert users_needed_ab(same[0], same[1]).users is None
    # A large effect is found with far fewer users than a small one.
    grid = PowerSearch(grid=(20, 40, 80, 160, 320))
    big = users_needed_ab(same[0], same[1] + 0.1, search=grid)
    small = users_needed_ab(same[0], same[1] + 0.02, search=grid)
    assert big.users is not None and (small.users is None or small.users > big.users)


def test_frames_built_from_python_rows_with_all_null_columns() -> None:
    # pl.DataFrame(rows) gives dtype Null to a column that is None everywhere (teams here).
    exposures = pl.DataFrame([exposure("r1", "u1", "control", ITEMS)])
    events = pl.DataFrame([event("click", "r1", "i1", None)])
    assert exposures.schema["teams"] == pl.Null and events.schema["position"] == pl.Null
    outcomes = exposure_outcomes(exposures, events)
    assert outcomes["clicks"].to_list() == [1]
    assert srm_check({"a": 1, "b": 0}, {"a": 1, "b": 1})["small_sample"]


def test_users_needed_paired_counts_the_size_of_preferences() -> None:
    rng = np.random.default_rng(3)
    # most users indifferent (0), a third prefer the challenger by several clicks
    diffs = np.where(rng.random(300) < 0.33, rng.integers(1, 6, 300), 0).astype(float)
    diffs -= rng.integers(0, 2, 300)  # noise clicks for the baseline
    found = users_needed_paired(diffs, search=PowerSearch(grid=(10, 20, 40, 80, 160, 320)))
    # mean ~0.49, sd ~1.7: the normal approximation says ~95 users for 80% power
    assert found.users in (80, 160)
    assert found.power[20] < 0.8 <= found.power[160]
    assert (
        users_needed_paired(rng.normal(0, 1, 300), search=PowerSearch(grid=(20, 40))).users is None
    )


def test_interleaving_margin_counts_strong_preferences() -> None:
    from recsys.experiments.analysis import _margin_test

    margins = np.array([9.0, 8.0, 7.0, 6.0, 5.0, 1.0, -1.0, 1.0, 0.0, 2.0])
    result = _margin_test(margins, 0.05)
    assert result["mean"] == pytest.approx(3.8)
    assert result["low"] < 3.8 < result["high"]
    assert result["significant"] and result["p_value"] < 0.05
    assert _margin_test(np.array([1.0]), 0.05)["mean"] is None
