"""Team-draft interleaving: known answers, invariants and click credit."""

from __future__ import annotations

import random

import pytest

from recsys.experiments.interleaving import TIE, credit, outcome, rng_for, team_draft, winner


class Coins:
    """A stand-in rng whose coin flips are scripted (< 0.5 means team A picks)."""

    def __init__(self, values: list[float]) -> None:
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


def test_known_answer_with_scripted_coins() -> None:
    a, b = ["a1", "x", "a2", "a3"], ["x", "b1", "a1", "b2"]
    # Round 1 tie -> coin 0.9 -> B picks x; A is behind -> A picks a1; tie -> coin 0.1 ->
    # A picks a2 (x taken); B behind -> B picks b1 (x taken); tie -> coin 0.7 -> B picks b2
    # (a1 taken); A behind -> a3.
    items, teams = team_draft(a, b, 10, Coins([0.9, 0.1, 0.7]))  # type: ignore[arg-type]
    assert items == ["x", "a1", "a2", "b1", "b2", "a3"]
    assert teams == ["b", "a", "a", "b", "b", "a"]


def test_known_answer_with_seed() -> None:
    items, teams = team_draft(["a", "b", "c", "d"], ["b", "e", "a", "f"], 6, random.Random(7))
    assert items == ["a", "b", "c", "e", "f", "d"]
    assert teams == ["a", "b", "a", "b", "b", "a"]
    again = team_draft(["a", "b", "c", "d"], ["b", "e", "a", "f"], 6, rng_for("req-1"))
    assert again == team_draft(["a", "b", "c", "d"], ["b", "e", "a", "f"], 6, rng_for("req-1"))
    assert again == (["b", "a", "c", "e", "f", "d"], ["b", "a", "a", "b", "b", "a"])


@pytest.mark.parametrize("seed", range(200))
def test_invariants(seed: int) -> None:
    gen = random.Random(seed)
    pool = [f"i{j}" for j in range(30)]
    list_a = gen.sample(pool, 15)
    list_b = gen.sample(pool, 15)
    k = gen.randint(0, 20)
    items, teams = team_draft(list_a, list_b, k, rng_for(f"r{seed}"), labels=("noop", "lgbm"))
    assert len(items) == len(teams) == min(k, len(set(list_a) | set(list_b)))
    assert len(set(items)) == len(items)  # no duplicates
    for item, team in zip(items, teams, strict=True):
        assert item in (list_a if team == "noop" else list_b)
    # Balanced within one pick at every prefix while both lists still have unseen items.
    exhausted = next(
        (
            i
            for i in range(len(items) + 1)
            if set(list_a) <= set(items[:i]) or set(list_b) <= set(items[:i])
        ),
        len(items),
    )
    for i in range(exhausted + 1):
        prefix = teams[:i]
        assert abs(prefix.count("noop") - prefix.count("lgbm")) <= 1
    # Each team's picks appear in its own ranking order.
    for label, ranking in (("noop", list_a), ("lgbm", list_b)):
        picked = [it for it, t in zip(items, teams, strict=True) if t == label]
        assert picked == sorted(picked, key=ranking.index)


def test_one_list_exhausted_the_other_fills() -> None:
    items, teams = team_draft(["a"], ["b", "c", "d"], 10, random.Random(0))
    assert sorted(items) == ["a", "b", "c", "d"]
    assert teams.count("a") == 1 and teams.count("b") == 3
    assert team_draft([], [], 5, random.Random(0)) == ([], [])
    assert team_draft(["a"], ["b"], 0, random.Random(0)) == ([], [])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="k must be"):
        team_draft(["a"], ["b"], -1, random.Random(0))
    with pytest.raises(ValueError, match="labels"):
        team_draft(["a"], ["b"], 1, random.Random(0), labels=("x", "x"))


def test_credit_and_winner() -> None:
    teams = ["a", "b", "a", "b", "a"]
    assert credit(teams, [0, 2, 3]) == {"a": 2, "b": 1}
    assert credit(teams, [1, 1, 1]) == {"a": 0, "b": 1}  # one position counts once
    assert credit(teams, [9, -1]) == {"a": 0, "b": 0}  # off the page: ignored
    assert winner(teams, [0, 2, 3]) == "a"
    assert winner(teams, [1]) == "b"
    assert winner(teams, [0, 1]) == TIE
    assert winner(teams, []) == TIE
    assert outcome({"noop": 0, "lgbm": 2}, ("noop", "lgbm")) == "lgbm"
