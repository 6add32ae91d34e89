"""Stage 4c: the title matcher: exact and typo-tolerant matches on every known title.

Dense retrieval with an English-centric encoder is weak on native-script titles and on
misspellings; a lexicon over all title variants (display, original, alternates,
localized) catches them. It yields a per-item bonus the engine adds to the dense score.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein

from recsys.core.text import normalize_title, strip_leading_article

if TYPE_CHECKING:
    from recsys.catalog.items import ItemTable

EXACT_BONUS = 1.0
# typo tolerance: a cheap indel-ratio shortlist, rescored with Damerau-Levenshtein so a
# swapped pair of letters ("godfahter") counts as one edit, not two
SHORTLIST_CUTOFF = 70.0
SHORTLIST_LIMIT = 50
FUZZY_CUTOFF = 0.8  # normalized Damerau-Levenshtein similarity
FUZZY_MIN_BONUS = 0.3
FUZZY_MAX_BONUS = 0.9
MIN_FUZZY_CHARS = 5
# up to this many title keys every query scans them all for close spellings (~2 ms at the
# demo's 40k); above it only the titles of the retrieved pool are (a whole scan of the 1M
# synthetic catalog's 963k keys took 86 ms a query) - as the vector index is exact below a
# size and approximate above it
FULL_SCAN_MAX_KEYS = 200_000


class TitleLexicon:
    def __init__(
        self, titles: dict[str, list[int]], item_keys: list[list[str]] | None = None
    ) -> None:
        self._titles = titles
        # keys by length: a typo match needs a length within FUZZY_CUTOFF of the query's
        # (the edit distance is at least the length difference), so only that slice is
        # scanned
        self._keys = sorted(titles, key=lambda k: (len(k), k))
        self._lengths = np.array([len(k) for k in self._keys])
        # per item position: its normalized title variants, each with its words
        self._item_keys = [[(t, t.split()) for t in keys] for keys in item_keys or []]

    @classmethod
    def from_items(cls, items: ItemTable) -> TitleLexicon:
        titles: dict[str, set[int]] = defaultdict(set)
        item_keys: list[list[str]] = []
        for position, variants in enumerate(items.title_variants()):
            keys: set[str] = set()
            for variant in variants:
                key = normalize_title(variant)
                if key:
                    titles[key].add(position)
                    titles[strip_leading_article(key)].add(position)
                    keys.update((key, strip_leading_article(key)))
            item_keys.append(sorted(keys))
        return cls({k: sorted(v) for k, v in titles.items()}, item_keys)

    def __len__(self) -> int:
        return len(self._keys)

    def match(self, query: str, pool: np.ndarray | None = None) -> dict[int, float]:
        """item position -> bonus: EXACT_BONUS for an exact title, less for close spellings.

        ``pool`` (item positions): above ``FULL_SCAN_MAX_KEYS`` title keys, close spellings
        are looked for among those items' titles only - the items retrieval already found,
        whose lexical side corrects each word within 1-2 edits. None, a lexicon of at most
        that many keys, or one built without its items' keys scans every title."""
        key = normalize_title(query)
        if not key:
            return {}
        bonus: dict[int, float] = {}
        for item in self._titles.get(key, []):
            bonus[item] = EXACT_BONUS
        if len(key) < MIN_FUZZY_CHARS:
            return bonus
        shortest, longest = math.ceil(FUZZY_CUTOFF * len(key)), math.floor(len(key) / FUZZY_CUTOFF)
        if pool is None or len(self._keys) <= FULL_SCAN_MAX_KEYS or not self._item_keys:
            lo = int(np.searchsorted(self._lengths, shortest, "left"))
            hi = int(np.searchsorted(self._lengths, longest, "right"))
            keys = self._keys[lo:hi]
        else:
            keys = sorted(
                {
                    title
                    for item in pool.tolist()
                    for title, _ in self._item_keys[item]
                    if shortest <= len(title) <= longest
                },
                key=lambda k: (len(k), k),
            )
        for title, _, _ in process.extract(
            key, keys, scorer=fuzz.ratio, score_cutoff=SHORTLIST_CUTOFF, limit=SHORTLIST_LIMIT
        ):
            if title == key:
                continue
            similarity = DamerauLevenshtein.normalized_similarity(key, title)
            if similarity < FUZZY_CUTOFF:
                continue
            scale = (similarity - FUZZY_CUTOFF) / (1.0 - FUZZY_CUTOFF)
            value = FUZZY_MIN_BONUS + (FUZZY_MAX_BONUS - FUZZY_MIN_BONUS) * scale
            for item in self._titles[title]:
                bonus[item] = max(bonus.get(item, 0.0), value)
        return bonus

    def shape(self, query: str, items: np.ndarray) -> np.ndarray:
        """(len(items), 2): whether the query begins one of the item's titles (1.0; "harry
        pot", "star" of "Star Wars"), and the largest share of one title's words the query
        holds ("star" holds 1/1 of "Star", 1/2 of "Star Wars", 0 of "Starbeam")."""
        out = np.zeros((len(items), 2), dtype=np.float64)
        key = normalize_title(query)
        if not key or not self._item_keys:
            return out
        words = set(key.split())
        for row, item in enumerate(items.tolist()):
            for title, title_words in self._item_keys[item]:
                if title.startswith(key):
                    out[row, 0] = 1.0
                share = sum(map(words.__contains__, title_words)) / len(title_words)
                out[row, 1] = max(out[row, 1], share)
        return out
