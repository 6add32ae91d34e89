"""Answers for users with no history: popular and trending as of the snapshot, honouring
filters (through ``blocked``) and the requested language.

With ``lang``, items originally in that language come first among comparably popular ones,
then items localized in it; when the interaction log has too little to say (a small or
empty catalog history), TMDB's popularity fills the list.
"""

from __future__ import annotations

import numpy as np

from recsys.catalog.items import ItemTable
from recsys.core.types import Recommendation
from recsys.recommend.candidates import CandidateModels

LANGUAGE_NAMES = {
    "en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian",
    "pt": "Portuguese", "da": "Danish", "pl": "Polish", "ja": "Japanese", "ko": "Korean",
    "zh": "Chinese", "ru": "Russian", "hi": "Hindi", "sv": "Swedish", "nl": "Dutch",
    "tr": "Turkish", "ar": "Arabic", "fa": "Persian", "bn": "Bengali", "no": "Norwegian",
}  # fmt: skip
LANGUAGE_BONUS = 1.5  # in log1p(consumptions) units: ~4.5x the count of a non-matching item
LOCALIZED_BONUS = 0.5


def _language_masks(
    models: CandidateModels, items: ItemTable, lang: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """(originally in ``lang``, localized in ``lang``) over the whole catalog."""
    original = np.zeros(len(items), dtype=bool)
    if not lang:
        return original, original
    if lang in models.side.languages:
        original = models.side.language == models.side.languages.index(lang)
    return original, items.localized_mask(lang)


def cold_start_scores(
    models: CandidateModels, items: ItemTable, as_of: int, lang: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(score per item, original-language mask, localized mask) over the whole catalog."""
    recent = np.log1p(models.stats.all_counts(as_of, 365))
    total = np.log1p(models.stats.all_counts(as_of))
    meta = np.nan_to_num(models.side.meta_popularity, nan=0.0)
    score = recent + 0.25 * total + 0.01 * meta  # TMDB popularity only breaks ties
    original, localized = _language_masks(models, items, lang)
    score = score + LANGUAGE_BONUS * original + LOCALIZED_BONUS * localized
    return score, original, localized


def popular_recommendations(
    models: CandidateModels,
    items: ItemTable,
    as_of: int,
    blocked: np.ndarray,
    lang: str | None,
    k: int,
) -> list[Recommendation]:
    score, original, localized = cold_start_scores(models, items, as_of, lang)
    score = np.where(blocked, -np.inf, score)
    usable = np.flatnonzero(np.isfinite(score))
    if not len(usable):
        return []
    if len(usable) > k > 0:  # the k best by partition: a full sort of a 1M catalog is 0.1 s
        nth = -np.partition(-score[usable], k - 1)[k - 1]
        usable = usable[score[usable] >= nth]  # ties at the cut stay in, ordered below
    top = usable[np.lexsort((usable, -score[usable]))][:k]
    c_30 = models.stats.all_counts(as_of, 30)
    c_365 = models.stats.all_counts(as_of, 365)
    out = []
    for item in top.tolist():
        reasons = []
        if original[item] and lang:
            reasons.append(f"popular in {LANGUAGE_NAMES.get(lang, lang)}")
        elif localized[item] and lang:
            reasons.append("available in your language")
        if c_30[item] >= 3 and c_30[item] * 12 > 2 * c_365[item]:
            reasons.append("trending now")
        elif c_365[item] > 0:
            reasons.append("popular now")
        else:
            reasons.append("popular")
        sources = ["popular"] if c_365[item] > 0 else ["catalog"]
        out.append(Recommendation(items.hit(item, float(score[item]), lang), reasons, sources))
    return out
