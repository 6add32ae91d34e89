"""The overload bench's paired rounds, against a tiny threaded server that answers one
search at a time (20 ms each) and sheds the rest with 503 (``conftest.py``): alternating
order, each pair's ratio from its own halves, and a bootstrap interval around the mean."""

from __future__ import annotations

import argparse

import pytest

from bench.overload import paired_rounds


def test_paired_rounds(base: str) -> None:
    args = argparse.Namespace(
        rounds=3,
        round_seconds=0.5,
        factor=4.0,
        client="lean",
        client_timeout_s=2.0,
        deadline_s=1.0,
    )
    paired = paired_rounds(base, ["a", "b c"], 1, args)
    rounds = paired["rounds"]
    assert [r["order"] for r in rounds] == ["closed first", "overload first", "closed first"]
    for r in rounds:
        assert r["saturation_rps"] > 10 and r["failed"] == 0
        assert r["offered_rps"] > r["answered_in_deadline_rps"] > 0  # the surplus was shed
        assert r["ratio"] == round(r["answered_in_deadline_rps"] / r["saturation_rps"], 3)
    low, high = paired["mean_ratio_95ci"]
    assert low <= paired["mean_ratio"] <= high
    assert paired["mean_ratio"] == round(sum(r["ratio"] for r in rounds) / 3, 3)


def test_server_cpus_are_checked_and_the_generator_gets_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bench.overload import cpu_list, split_cpus

    pinned: list[set[int]] = []
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1, 2})
    monkeypatch.setattr("os.sched_setaffinity", lambda _pid, cpus: pinned.append(set(cpus)))
    assert cpu_list("0") == {0} and cpu_list("0,2") == {0, 2}
    for bad in ("x", "0,7"):
        with pytest.raises(argparse.ArgumentTypeError):
            cpu_list(bad)
    assert split_cpus({0}) == {1, 2} and pinned == [{1, 2}]
    with pytest.raises(SystemExit, match="no CPU"):
        split_cpus({0, 1, 2})
