"""Cross-source duplicates the exact-title match misses: the same film under a title with or
without a leading article ("Grandmaster" / "The Grandmaster"), with a subtitle on one side
only ("Lagaan" / "Lagaan: Once Upon a Time in India", "Blade Runner: The Final Cut"), or
with two versions of one subtitle ("Star Wars: Episode VIII: The Last Jedi" / "Star Wars:
The Last Jedi").

Shared words alone would merge a comedian's specials ("Kevin Hart: Seriously Funny" /
"Kevin Hart: Laugh at My Pain"), sequels ("Atlas Shrugged: Part II" / "Part 1") and spin-offs
("Thor: Tales of Asgard" / "Thor"), so a candidate must also pass every check that has the
data to run (``compatible``): release years at most one apart, no conflicting numbers in
the titles, runtimes within ``MAX_RUNTIME_RATIO``, no short specials matched on a title
alone, and, when both sides have a description, shared description words beyond the
title's own. Precision and recall were measured on a
hand-checked sample (``bench/catalog/duplicate_pairs.jsonl``, ``python -m bench.duplicates``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz

from recsys.core.text import normalize_title, strip_leading_article

MAX_RUNTIME_RATIO = 0.25  # |a - b| / max(a, b) above this: different works
CLOSE_RUNTIME_RATIO = 0.1  # this close, in the same year: the same work
SHORT_MINUTES = 60
MIN_DESCRIPTION_OVERLAP = 0.1  # shared content words / the shorter description's
MIN_SUBTITLE_SIMILARITY = 70.0  # rapidfuzz token_set_ratio of the two subtitles
MIN_MAIN_CHARS = 4  # "Up: ..." is too short a main title to match on
_SPLIT = re.compile(r"\s*:\s+|\s+-\s+|\s*\(")
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8, "ix": 9}
_STOP = frozenset(
    [
        "with",
        "from",
        "that",
        "this",
        "their",
        "they",
        "them",
        "have",
        "into",
        "when",
        "after",
        "about",
        "over",
        "will",
        "your",
        "what",
        "there",
        "which",
        "where",
        "while",
        "being",
        "other",
        "these",
        "those",
        "only",
        "film",
        "movie",
        "story",
        "life",
        "must",
        "finds",
        "young",
        "years",
        "world",
    ]
)
KINDS = ("article", "subtitle", "both_subtitled")  # in order of preference


@dataclass(frozen=True)
class Candidate:
    netflix_id: str
    item_id: str
    kind: str
    exact_year: bool


def keys(titles: Iterable[str | None]) -> tuple[set[str], set[str]]:
    """(full keys, main-title keys) of a work's titles, leading articles stripped."""
    full: set[str] = set()
    main: set[str] = set()
    for title in titles:
        if not title:
            continue
        key = strip_leading_article(normalize_title(title))
        if key:
            full.add(key)
        head = strip_leading_article(normalize_title(_SPLIT.split(title, maxsplit=1)[0]))
        if len(head) >= MIN_MAIN_CHARS and head != key:
            main.add(head)
    return full, main


def numbers(title: str) -> set[int]:
    """Numbers in a title, Roman numerals included ("Part II" -> {2}, "Volume 1" -> {1})."""
    found = set()
    for word in normalize_title(title).split():
        if word.isdigit() and len(word) <= 2:
            found.add(int(word))
        elif word in _ROMAN:
            found.add(_ROMAN[word])
    return found


def content_words(text: str | None, exclude: set[str]) -> set[str]:
    words = set(re.findall(r"[a-z]{4,}", (text or "").lower()))
    return words - _STOP - exclude


def compatible(netflix: dict[str, Any], item: dict[str, Any]) -> bool:
    """Whether the evidence agrees, in order: no conflicting numbers in the titles; runtimes
    (when both are known) within ``MAX_RUNTIME_RATIO``, and close runtimes with the same
    year settle it; a short (under ``SHORT_MINUTES``: specials, featurettes) is never
    matched on less; descriptions (when both exist) share words beyond the titles'; with
    no evidence at all, the same year."""
    a, b = netflix["title"], item["title"]
    na, nb = numbers(a), numbers(b)
    if na and nb and na != nb:
        return False
    same_year = netflix["year"] == item["year"]
    ra, rb = netflix.get("runtime_min"), item.get("runtime_min")
    if ra and rb:
        gap = abs(ra - rb) / max(ra, rb)
        if gap > MAX_RUNTIME_RATIO:
            return False
        if gap <= CLOSE_RUNTIME_RATIO and same_year:
            return True
    if any(r and r < SHORT_MINUTES for r in (ra, rb)):
        return False
    title_words = set(normalize_title(f"{a} {b}").split())
    wa = content_words(netflix.get("description"), title_words)
    wb = content_words(item.get("description"), title_words)
    if wa and wb:
        return len(wa & wb) / min(len(wa), len(wb)) >= MIN_DESCRIPTION_OVERLAP
    return same_year


def _subtitle(title: str) -> str:
    parts = _SPLIT.split(title, maxsplit=1)
    return normalize_title(parts[1]) if len(parts) > 1 else ""


def candidate_kind(netflix: dict[str, Any], item: dict[str, Any]) -> str | None:
    nf_full, nf_main = keys([netflix["title"]])
    ml_titles = [item["title"], item.get("original_title"), *(item.get("alt_titles") or [])]
    ml_full, ml_main = keys(ml_titles)
    if nf_full & ml_full:
        return "article"
    if nf_main & ml_full or nf_full & ml_main:
        return "subtitle"
    if nf_main & ml_main:
        similarity = fuzz.token_set_ratio(_subtitle(netflix["title"]), _subtitle(item["title"]))
        return "both_subtitled" if similarity >= MIN_SUBTITLE_SIMILARITY else None
    return None


def candidates(
    netflix_movies: list[dict[str, Any]], items: list[dict[str, Any]]
) -> list[tuple[Candidate, str]]:
    """Every pair sharing a title or main-title key with years at most one apart, with the
    decision: "ok" or why it was rejected ("no_match", "evidence")."""
    by_key: dict[str, list[int]] = {}
    for position, item in enumerate(items):
        full, main = keys(
            [item["title"], item.get("original_title"), *(item.get("alt_titles") or [])]
        )
        for key in full | main:
            by_key.setdefault(key, []).append(position)
    out = []
    for row in netflix_movies:
        full, main = keys([row["title"]])
        for position in sorted({p for key in full | main for p in by_key.get(key, [])}):
            item = items[position]
            if row["year"] is None or item["year"] is None or abs(row["year"] - item["year"]) > 1:
                continue
            kind = candidate_kind(row, item)
            exact = row["year"] == item["year"]
            candidate = Candidate(row["netflix_id"], item["item_id"], kind or "none", exact)
            verdict = "no_match" if kind is None else "ok" if compatible(row, item) else "evidence"
            out.append((candidate, verdict))
    return out


def find_duplicates(
    netflix_movies: list[dict[str, Any]], items: list[dict[str, Any]]
) -> list[Candidate]:
    """Accepted candidates: at most one per Netflix row and one per catalog item (the best
    kind, then the exact year, then the shorter Netflix title); ties are left unmerged."""
    titles = {row["netflix_id"]: len(row["title"]) for row in netflix_movies}
    per_row: dict[str, list[tuple[tuple[int, int], Candidate]]] = {}
    for candidate, verdict in candidates(netflix_movies, items):
        if verdict == "ok":
            rank = (KINDS.index(candidate.kind), 0 if candidate.exact_year else 1)
            per_row.setdefault(candidate.netflix_id, []).append((rank, candidate))
    accepted: list[tuple[tuple[int, int, int], Candidate]] = []
    for netflix_id, found in per_row.items():
        found.sort(key=lambda rc: rc[0])
        if len(found) == 1 or found[0][0] < found[1][0]:  # a tie is ambiguous: not merged
            rank, best = found[0]
            accepted.append(((*rank, titles[netflix_id]), best))
    accepted.sort(key=lambda rc: rc[0])
    claimed: set[str] = set()
    out = []
    for _, candidate in accepted:
        if candidate.item_id not in claimed:
            claimed.add(candidate.item_id)
            out.append(candidate)
    return sorted(out, key=lambda c: (c.item_id, c.netflix_id))
