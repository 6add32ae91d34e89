"""Near-duplicate matching of Netflix movies to catalog movies: known answers from the
hand-checked sample (bench/catalog/duplicate_pairs.jsonl)."""

from __future__ import annotations

from typing import Any

import pytest

from recsys.catalog.ingest.dedupe import candidate_kind, compatible, find_duplicates, numbers


def nf(
    title: str, year: int, runtime: int | None = None, text: str | None = None
) -> dict[str, Any]:
    return {
        "netflix_id": f"s-{title}",
        "title": title,
        "year": year,
        "runtime_min": runtime,
        "description": text,
    }


def ml(
    item_id: str, title: str, year: int, runtime: int | None = None, text: str | None = None
) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "title": title,
        "original_title": None,
        "alt_titles": [],
        "year": year,
        "runtime_min": runtime,
        "description": text,
    }


@pytest.mark.parametrize(
    ("netflix", "item", "kind"),
    [
        (nf("Grandmaster", 2012), ml("1", "The Grandmaster", 2013), "article"),
        (nf("Lagaan", 2001), ml("1", "Lagaan: Once Upon a Time in India", 2001), "subtitle"),
        (nf("Blade Runner: The Final Cut", 1982), ml("1", "Blade Runner", 1982), "subtitle"),
        (
            nf("Star Wars: Episode VIII: The Last Jedi", 2017),
            ml("1", "Star Wars: The Last Jedi", 2017),
            "both_subtitled",
        ),
        (
            nf("Kevin Hart: Seriously Funny", 2010),
            ml("1", "Kevin Hart: Laugh at My Pain", 2011),
            None,
        ),
        (nf("Up", 2009), ml("1", "Up: The Movie", 2009), None),  # main title too short
    ],
)
def test_candidate_kinds(netflix: dict[str, Any], item: dict[str, Any], kind: str | None) -> None:
    assert candidate_kind(netflix, item) == kind


def test_numbers_read_roman_numerals() -> None:
    assert numbers("Atlas Shrugged: Part II") == {2}
    assert numbers("Nymphomaniac: Volume 1") == numbers("Nymphomaniac: Volume I") == {1}
    assert numbers("13 Sins 2014") == {13}  # years are not sequel numbers


@pytest.mark.parametrize(
    ("netflix", "item", "ok"),
    [
        # conflicting numbers
        (nf("Atlas Shrugged: Part II", 2012), ml("1", "Atlas Shrugged: Part 1", 2011), False),
        # runtimes far apart: a spin-off
        (nf("Thor: Tales of Asgard", 2011, 77), ml("1", "Thor", 2011, 115), False),
        # a short special, with nothing else to go on
        (nf("Frozen Planet: On Thin Ice", 2011, 47), ml("1", "Frozen Planet", 2011), False),
        # close runtimes in the same year settle it
        (nf("Bean: The Ultimate Disaster Movie", 1997, 89), ml("1", "Bean", 1997, 85), True),
        # descriptions that share words beyond the title
        (
            nf(
                "Lagaan",
                2001,
                224,
                "Villagers stake their future on a cricket match against British officers.",
            ),
            ml(
                "1",
                "Lagaan: Once Upon a Time in India",
                2001,
                None,
                "In Champaner, the British rulers offer a cricket wager.",
            ),
            True,
        ),
        # descriptions that share nothing
        (
            nf(
                "Grandmaster",
                2012,
                133,
                "A police officer investigates a series of murders in Kochi.",
            ),
            ml("1", "The Grandmaster", 2013, 130, "The story of martial-arts master Ip Man."),
            False,
        ),
        # no evidence at all: only the same year will do
        (nf("Company", 2002), ml("1", "The Company", 2003), False),
        (nf("Golmaal: Fun Unlimited", 2006), ml("1", "Golmaal", 2006), True),
    ],
)
def test_evidence_checks(netflix: dict[str, Any], item: dict[str, Any], ok: bool) -> None:
    assert compatible(netflix, item) is ok


def test_one_netflix_row_per_item_and_ties_left_alone() -> None:
    items = [
        ml("187541", "Incredibles 2", 2018),
        ml("7", "Nymphomaniac: Volume I", 2013),
        ml("8", "Nymphomaniac: Volume II", 2013),
    ]
    rows = [
        nf("The Incredibles 2", 2018),
        nf("Incredibles 2 (Spanish Version)", 2018),
        nf("Nymphomaniac: Volume 1", 2013),
    ]
    found = {(c.netflix_id, c.item_id) for c in find_duplicates(rows, items)}
    # the article match wins the item; the dubbed listing stays a separate item
    assert found == {("s-The Incredibles 2", "187541"), ("s-Nymphomaniac: Volume 1", "7")}
