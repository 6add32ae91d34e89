"""Team-draft interleaving (Radlinski, Kurup & Joachims, CIKM 2008).

Why interleave: both rankers are judged by the same user on the same page at the same
moment, so the user-to-user variance that dominates an A/B test cancels out and far fewer
users are needed to tell which ranker is preferred (see ``recsys.experiments.power``).

The page is built like picking sports teams: each round the team with fewer picks (a coin
flip on ties) adds its highest-ranked item not on the page yet. Each shown position records
the team that placed it; a click credits that team, and the team with more credited clicks
wins the impression (equal credit, no clicks included, is a tie).

The coin flips come from a ``random.Random`` seeded from the request id (``rng_for``), so a
logged page can be rebuilt exactly and tests have known answers.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T", bound=Hashable)
TEAMS: tuple[str, str] = ("a", "b")
TIE = "tie"


def rng_for(request_id: str, salt: str = "team-draft") -> random.Random:
    """A generator seeded by SHA-256 of the request id: same request -> same coin flips,
    on any machine and in any process (unlike ``hash()``)."""
    digest = hashlib.sha256(f"{salt}:{request_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def team_draft(
    list_a: Sequence[T],
    list_b: Sequence[T],
    k: int,
    rng: random.Random,
    labels: tuple[str, str] = TEAMS,
) -> tuple[list[T], list[str]]:
    """Interleave two rankings into at most ``k`` items; returns (items, team of each item).

    Each round the team with fewer picks picks next; on a tie ``rng`` flips a coin. A team
    picks its highest-ranked item not already on the page (duplicates across or within the
    lists are skipped). When one list runs out, the other keeps picking until ``k`` items or
    both lists are exhausted, so teams stay within one pick of each other only while both
    lists have unseen items. ``labels`` names the teams in the output (e.g. ranker names).
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if len(labels) != 2 or labels[0] == labels[1]:
        raise ValueError(f"labels must be two different names, got {labels!r}")
    lists = (list_a, list_b)
    cursor = [0, 0]
    picks = [0, 0]
    chosen: set[T] = set()
    items: list[T] = []
    teams: list[str] = []

    def has_next(side: int) -> bool:
        ranking = lists[side]
        while cursor[side] < len(ranking) and ranking[cursor[side]] in chosen:
            cursor[side] += 1
        return cursor[side] < len(ranking)

    while len(items) < k:
        available = [has_next(0), has_next(1)]
        if not any(available):
            break
        if not all(available):
            side = 0 if available[0] else 1
        elif picks[0] != picks[1]:
            side = 0 if picks[0] < picks[1] else 1
        else:
            side = 0 if rng.random() < 0.5 else 1
        item = lists[side][cursor[side]]
        chosen.add(item)
        items.append(item)
        teams.append(labels[side])
        picks[side] += 1
    return items, teams


def credit(teams: Sequence[str], clicked_positions: Iterable[int]) -> dict[str, int]:
    """Clicks credited to each team that placed items on the page (0-based positions).

    Each position counts once however often it was clicked (a repeated click is not a
    stronger preference); positions outside the page are ignored. Every team present in
    ``teams`` appears in the result, with 0 when none of its items were clicked.
    """
    counts = dict.fromkeys(teams, 0)
    for position in set(clicked_positions):
        if 0 <= position < len(teams):
            counts[teams[position]] += 1
    return counts


def outcome(credits: dict[str, int], labels: tuple[str, str] = TEAMS) -> str:
    """The impression's winner: the label with more credited clicks, or ``TIE``."""
    a, b = credits.get(labels[0], 0), credits.get(labels[1], 0)
    if a == b:
        return TIE
    return labels[0] if a > b else labels[1]


def winner(
    teams: Sequence[str], clicked_positions: Iterable[int], labels: tuple[str, str] = TEAMS
) -> str:
    """``outcome(credit(teams, clicked_positions), labels)`` in one call."""
    return outcome(credit(teams, clicked_positions), labels)
