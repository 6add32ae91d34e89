"""The title matcher: known answers, and a brute force over every key on random titles in
several scripts with random edits (every typo match within the cutoff is found)."""

from __future__ import annotations

import numpy as np
import pytest
from rapidfuzz import fuzz
from rapidfuzz.distance import DamerauLevenshtein

from recsys.search import title_match as tm
from recsys.search.title_match import TitleLexicon

SYLLABLES = ["ka", "lo", "mi", "ren", "tas", "vo", "zhu", "ан", "ко", "ми", "東", "京", "物", "語"]


def random_titles(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    titles = set()
    while len(titles) < n:
        words = [
            "".join(rng.choice(SYLLABLES, rng.integers(1, 4))) for _ in range(rng.integers(1, 4))
        ]
        titles.add(" ".join(words))
    return sorted(titles)


def with_typo(text: str, rng: np.random.Generator) -> str:
    i = int(rng.integers(0, len(text) - 1))
    kind = rng.integers(0, 4)
    if kind == 0:
        return text[:i] + "x" + text[i + 1 :]  # substitution
    if kind == 1:
        return text[:i] + text[i + 1 :]  # deletion
    if kind == 2:
        return text[:i] + "e" + text[i:]  # insertion
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]  # transposition


def brute_force(
    lexicon: TitleLexicon, query: str, keys: list[str] | None = None
) -> dict[int, float]:
    """The bonus of every key (of ``keys``, default all): exact, or within the cutoff (and the
    shortlist's ratio)."""
    key = tm.normalize_title(query)
    bonus = {item: tm.EXACT_BONUS for item in lexicon._titles.get(key, [])}
    if len(key) < tm.MIN_FUZZY_CHARS:
        return bonus
    for title in lexicon._keys if keys is None else keys:
        similarity = DamerauLevenshtein.normalized_similarity(key, title)
        if title == key or similarity < tm.FUZZY_CUTOFF:
            continue
        if fuzz.ratio(key, title) < tm.SHORTLIST_CUTOFF:
            continue
        scale = (similarity - tm.FUZZY_CUTOFF) / (1.0 - tm.FUZZY_CUTOFF)
        value = tm.FUZZY_MIN_BONUS + (tm.FUZZY_MAX_BONUS - tm.FUZZY_MIN_BONUS) * scale
        for item in lexicon._titles[title]:
            bonus[item] = max(bonus.get(item, 0.0), value)
    return bonus


def test_known_answers() -> None:
    lexicon = TitleLexicon({"the godfather": [0], "godfather": [0], "goodfellas": [1]})
    assert lexicon.match("Godfather") == {0: 1.0}
    assert set(lexicon.match("godfahter")) == {0}  # a transposition is one edit
    assert set(lexicon.match("goodfelas")) == {1}
    assert lexicon.match("zzzzzzzz") == {}
    assert lexicon.match("") == {}


@pytest.mark.parametrize("seed", [0, 1])
def test_equal_to_scanning_every_key(seed: int) -> None:
    titles = random_titles(1_500, seed)
    lexicon = TitleLexicon({t: [i] for i, t in enumerate(titles)})
    rng = np.random.default_rng(seed)
    queries = [with_typo(titles[int(i)], rng) for i in rng.integers(0, len(titles), 150)]
    queries += [with_typo(with_typo(q, rng), rng) for q in queries[:50]]
    matched = 0
    for query in queries:
        got = lexicon.match(query)
        want = brute_force(lexicon, query)
        assert got.keys() == want.keys(), query
        assert all(abs(got[k] - want[k]) < 1e-12 for k in got)
        matched += bool(got)
    assert matched > 100  # the comparison is not vacuous


def test_a_pool_limits_close_spellings_to_its_items_titles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above the full-scan size, with a pool, typo matches come from the pool's titles only
    (exact titles from all): equal to the brute force over those titles. At or below it,
    every title is scanned whatever the pool."""
    titles = random_titles(1_500, 2)
    item_keys = [sorted({t, tm.strip_leading_article(t)}) for t in titles]
    keys: dict[str, list[int]] = {}
    for i, variants in enumerate(item_keys):
        for key in variants:
            keys.setdefault(key, []).append(i)
    lexicon = TitleLexicon(keys, item_keys)
    rng = np.random.default_rng(2)
    query = with_typo(titles[7], rng)
    assert lexicon.match(query, np.array([0])) == lexicon.match(query)  # small: full scan
    monkeypatch.setattr(tm, "FULL_SCAN_MAX_KEYS", 100)
    matched = 0
    for target in rng.integers(0, len(titles), 100).tolist():
        query = with_typo(titles[target], rng)
        pool = np.unique(np.append(rng.integers(0, len(titles), 40), target))
        got = lexicon.match(query, pool)
        want = brute_force(lexicon, query, [k for i in pool.tolist() for k in item_keys[i]])
        assert got.keys() == want.keys(), query
        assert all(abs(got[k] - want[k]) < 1e-12 for k in got)
        matched += target in got
        exact = titles[int(rng.integers(0, len(titles)))]
        assert lexicon.match(exact, pool[:1])[titles.index(exact)] == tm.EXACT_BONUS
    assert matched > 50  # the target, in the pool, is found despite its typo
