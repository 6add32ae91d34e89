"""Stage 4b: the title lexicon: exact and typo-tolerant matches on every known title.

Dense retrieval with an English-centric encoder is weak on native-script titles and on
misspellings; a lexicon over all title variants (display, original, alternates,
localized) catches them. It yields a per-item bonus the engine adds to the dense score.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from rapidfuzz import fuzz, process

from recsys.text import normalize_title, strip_leading_article

if TYPE_CHECKING:
    from recsys.item_table import ItemTable

EXACT_BONUS = 1.0
FUZZY_CUTOFF = 86.0
FUZZY_MAX_BONUS = 0.6
FUZZY_LIMIT = 20
MIN_FUZZY_CHARS = 4


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
        for title, score, _ in process.extract(
            key, self._keys, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=FUZZY_LIMIT
        ):
            if title == key:
                continue
            value = FUZZY_MAX_BONUS * (score - FUZZY_CUTOFF) / (100.0 - FUZZY_CUTOFF)
            for item in self._titles[title]:
                bonus[item] = max(bonus.get(item, 0.0), value)
        return bonus
