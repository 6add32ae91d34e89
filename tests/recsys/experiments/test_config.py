"""Experiment config and assignment: deterministic, proportional, gated, exclusive layers."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from recsys.core.errors import InputDataError, InvalidRequestError, NotFoundError
from recsys.defaults import DEFAULT_EXPERIMENTS
from recsys.experiments.config import BUCKETS, ExperimentConfig, bucket
from recsys.experiments.loading import load_experiments, parse_experiments

RANKER_2026_11 = Path(__file__).resolve().parents[3] / "bench/experiments/ranker-2026-11.toml"

USERS = [f"user-{i}" for i in range(100_000)]


def experiment(key: str = "exp", **overrides: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "key": key,
        "salt": f"salt-{key}",
        "traffic": 1.0,
        "surfaces": ["search", "recommendations"],
        "variants": [
            {"name": "control", "weight": 1, "ranker": "noop"},
            {"name": "treatment", "weight": 1, "ranker": "lightgbm"},
        ],
    }
    table.update(overrides)
    return table


def config(*experiments: dict[str, Any], **top: Any) -> ExperimentConfig:
    return parse_experiments({"experiments": list(experiments), **top}, "test.toml")


def test_bucket_is_a_fixed_function_of_its_inputs() -> None:
    # Known answers computed once with SHA-256: if these change, every user is reshuffled.
    assert bucket("s", "k", "u") == 2449
    assert bucket("8c1f0d2e", "ranker-2026-11", "user-42") == 2944
    digest = hashlib.sha256(b"s:k:u").digest()
    assert bucket("s", "k", "u") == int.from_bytes(digest[:8], "big") % BUCKETS
    assert all(0 <= bucket("s", "k", u) < BUCKETS for u in USERS[:1000])


def test_assignment_is_the_same_in_another_process() -> None:
    cfg = load_experiments()
    here = [cfg.assign(f"user-{i}", "recommendations") for i in range(50)]
    code = (
        "from recsys.experiments.loading import load_experiments\n"
        "c = load_experiments()\n"
        "print(','.join(c.assign(f'user-{i}', 'recommendations').variant for i in range(50)))"
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip().split(",") == [a.variant for a in here if a is not None]
    again = load_experiments()  # a fresh instance gives the same answers
    assert [again.assign(f"user-{i}", "recommendations") for i in range(50)] == here


def test_split_follows_weights() -> None:
    cfg = config(
        experiment(
            variants=[
                {"name": "control", "weight": 0.4, "ranker": "noop"},
                {"name": "treatment", "weight": 0.4, "ranker": "lightgbm"},
                {"name": "mix", "weight": 0.2, "interleave": ["noop", "lightgbm"]},
            ]
        )
    )
    counts = Counter(a.variant for u in USERS if (a := cfg.assign(u, "search")) is not None)
    assert sum(counts.values()) == len(USERS)  # traffic 1.0: everyone is in
    observed = [counts["control"], counts["treatment"], counts["mix"]]
    expected = [0.4 * len(USERS), 0.4 * len(USERS), 0.2 * len(USERS)]
    assert stats.chisquare(observed, expected).pvalue > 0.001


def test_traffic_gate_admits_its_share() -> None:
    cfg = config(experiment(traffic=0.3))
    admitted = sum(cfg.assign(u, "recommendations") is not None for u in USERS)
    assert abs(admitted / len(USERS) - 0.3) < 0.01
    # Gate and variant are independent hashes: the split inside the gate stays 50/50.
    inside = Counter(a.variant for u in USERS[:20_000] if (a := cfg.assign(u, "search")))
    assert stats.chisquare([inside["control"], inside["treatment"]]).pvalue > 0.001


def test_layers_are_mutually_exclusive_and_independent_across() -> None:
    cfg = config(
        experiment("a", traffic=0.5, layer="L1"),
        experiment("b", traffic=0.5, layer="L1", surfaces=["search"]),
        experiment("c", traffic=1.0, layer="L2"),
    )
    in_a = {u for u in USERS[:20_000] if cfg.assign_experiment("a", u)}
    in_b = {u for u in USERS[:20_000] if cfg.assign_experiment("b", u)}
    in_c = {u for u in USERS[:20_000] if cfg.assign_experiment("c", u)}
    assert not in_a & in_b
    assert abs(len(in_a) / 20_000 - 0.5) < 0.02 and abs(len(in_b) / 20_000 - 0.5) < 0.02
    assert len(in_c) == 20_000  # another layer: overlaps both
    # First layer in file order wins on a surface; recommendations skip b to layer L2.
    for u in USERS[:2000]:
        search = cfg.assign(u, "search")
        recs = cfg.assign(u, "recommendations")
        assert search is not None and recs is not None
        assert search.experiment == ("a" if u in in_a else "b")
        assert recs.experiment == ("a" if u in in_a else "c")


def test_stopped_experiment_keeps_its_range() -> None:
    running = config(experiment("a", traffic=0.5), experiment("b", traffic=0.5))
    stopped = config(experiment("a", traffic=0.5, status="stopped"), experiment("b", traffic=0.5))
    for u in USERS[:2000]:
        assert stopped.assign_experiment("a", u) is None
        assert stopped.assign_experiment("b", u) == running.assign_experiment("b", u)


def test_force_and_unknowns() -> None:
    cfg = load_experiments(RANKER_2026_11)
    forced = cfg.force("ranker-2026-11", "treatment")
    assert (forced.experiment, forced.variant, forced.config.ranker) == (
        "ranker-2026-11",
        "treatment",
        "lightgbm",
    )
    assert forced.forced and cfg.force_on("search", "interleaved").config.interleave == (
        "noop",
        "lightgbm",
    )
    with pytest.raises(InvalidRequestError, match="no variant 'nope'.*control, treatment"):
        cfg.force("ranker-2026-11", "nope")
    with pytest.raises(NotFoundError, match="unknown experiment 'nope'"):
        cfg.force("nope", "control")
    with pytest.raises(InvalidRequestError, match="variant 'nope'"):
        cfg.force_on("recommendations", "nope")
    assert cfg.assign(None, "search") is None
    with pytest.raises(ValueError, match="surface"):
        cfg.assign("u", "similar")


def test_demo_config_and_public_shape() -> None:
    """The shipped default: production LightGBM against a challenger that could win, on
    recommendations; no arm is retrieval order (worse than popularity)."""
    assert DEFAULT_EXPERIMENTS.is_file()
    public = load_experiments().to_public()
    (exp,) = public["experiments"]
    assert exp["key"] == "ease-challenger-2026-12" and exp["traffic"] == 1.0
    assert exp["surfaces"] == ["recommendations"]
    assert [(v["name"], v["weight"]) for v in exp["variants"]] == [
        ("control", 0.4),
        ("treatment", 0.4),
        ("interleaved", 0.2),
    ]
    (shipped,) = load_experiments().experiments
    rankers = [v.ranker or v.interleave for v in shipped.variants]
    assert rankers == ["lightgbm", "ease", ("lightgbm", "ease")]
    assert load_experiments().assign("user-42", "search") is None
    previous = load_experiments(RANKER_2026_11).assign_experiment("ranker-2026-11", "user-42")
    assert previous is not None and previous.variant in {"control", "treatment", "interleaved"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"experiments": [experiment(colour="red")]}, "unknown keys in experiments\\[0\\].*colour"),
        ({"experiment": []}, "unknown keys in top level: experiment"),
        ({"experiments": [experiment(), experiment()]}, "duplicate experiment keys: exp"),
        ({"experiments": [experiment(traffic=1.5)]}, "traffic must be in \\(0, 1\\]"),
        ({"experiments": [experiment(traffic=0)]}, "traffic must be in"),
        ({"experiments": [experiment(surfaces=["home"])]}, "surfaces must be"),
        ({"experiments": [experiment(status="paused")]}, "status must be one of"),
        ({"experiments": [experiment(traffic="all")]}, "traffic must be float"),
        (
            {"experiments": [experiment(variants=[{"name": "x", "weight": 0, "ranker": "noop"}])]},
            "weight must be > 0",
        ),
        (
            {
                "experiments": [
                    experiment(
                        variants=[
                            {"name": "x", "weight": 1, "ranker": "noop"},
                            {"name": "x", "weight": 1, "ranker": "lightgbm"},
                        ]
                    )
                ]
            },
            "duplicate variant names: x",
        ),
        (
            {"experiments": [experiment(variants=[{"name": "x", "weight": 1, "ranker": "xgb"}])]},
            "unknown ranker 'xgb'",
        ),
        (
            {"experiments": [experiment(variants=[{"name": "x", "weight": 1, "retrieval": "bm"}])]},
            "unknown retrieval 'bm'",
        ),
        (
            {"experiments": [experiment(variants=[{"name": "x", "weight": 1, "mode": "fast"}])]},
            "unknown keys in .*variants\\[0\\]: mode",
        ),
        (
            {"experiments": [experiment(variants=[{"name": "x", "weight": 1}])]},
            "set a ranker, a retrieval or interleave",
        ),
        (
            {
                "experiments": [
                    experiment(variants=[{"name": "x", "weight": 1, "interleave": ["noop"]}])
                ]
            },
            "interleave needs two different rankers",
        ),
        (
            {"experiments": [experiment("a", traffic=0.6), experiment("b", traffic=0.6)]},
            "layer 'default': traffic sums to 1.2 > 1",
        ),
        ({"experiments": [experiment(salt="")]}, "salt must be a non-empty string"),
        ({"experiments": [experiment(key="has space")]}, "experiment key 'has space'"),
        ({"layers": {"L": {"seed": 1}}}, "unknown keys in \\[layers.L\\]: seed"),
    ],
)
def test_config_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InputDataError, match=message):
        parse_experiments(data, "test.toml")


def test_name_checks_can_be_deferred(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text(
        '[[experiments]]\nkey = "e"\nsalt = "s"\ntraffic = 1\nsurfaces = ["search"]\n'
        '[[experiments.variants]]\nname = "v"\nweight = 1\nranker = "two-tower"\n'
    )
    with pytest.raises(InputDataError, match="x.toml: e/v: unknown ranker 'two-tower'"):
        load_experiments(path)
    cfg = load_experiments(path, rankers=None)
    cfg.check_names({"two-tower"}, None)
    with pytest.raises(InputDataError, match="unknown ranker"):
        cfg.check_names({"noop"}, None)
    with pytest.raises(InputDataError, match="cannot read"):
        load_experiments(tmp_path / "missing.toml")
