"""Stage 4c: the title matcher: exact and typo-tolerant matches on every known title.

Dense retrieval with an English-centric encoder is weak on native-script titles and on
misspellings; a lexicon over all title variants (display, original, alternates,
localized) catches them. It yields a per-item bonus the engine adds to the dense score.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

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


class TitleLexicon:
    def __init__(self, titles: dict[str, list[int]]) -> None:
        self._titles = titles
        self._keys = list(titles)

    @classmethod
    def from_items(cls, items: ItemTable) -> TitleLexicon:
        titles: dict[str, set[int]] = defaultdict(set)
        for position, variants in enumerate(items.title_variants()):
            for variant in variants:
                key = normalize_title(variant)
                if key:
                    titles[key].add(position)
                    titles[strip_leading_article(key)].add(position)
        return cls({k: sorted(v) for k, v in titles.items()})

    def __len__(self) -> int:
        return len(self._keys)

    def match(self, query: str) -> dict[int, float]:
        """item position -> bonus: EXACT_BONUS for an exact title, less for close spellings."""
        key = normalize_title(query)
        if not key:
            return {}
        bonus: dict[int, float] = {}
        for item in self._titles.get(key, []):
            bonus[item] = EXACT_BONUS
        if len(key) < MIN_FUZZY_CHARS:
            return bonus
        for title, _, _ in process.extract(
            key,
            self._keys,
            scorer=fuzz.ratio,
            score_cutoff=SHORTLIST_CUTOFF,
            limit=SHORTLIST_LIMIT,
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
