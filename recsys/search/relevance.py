"""The relevance threshold: which retrieved items count as matches at all.

Dense retrieval always returns *something*: the nearest neighbours of "xqzvbnm" are ten
films. A result counts as a match when it has evidence that a person would accept:

- a title match (exact, or a close spelling);
- lexical matches on enough of the query's words: all of them for one- and two-word
  queries, a quarter (and at least two) for longer ones, or half of them with one in a
  title;
- or a dense similarity above the encoder's *null distribution*: ``dense_floor`` is a high
  quantile of the best similarity that random letter strings reach in this catalog with
  this encoder, measured at build time (``calibrate_dense_floor``). Cosine scales differ by
  encoder (e5 similarities sit far higher than MiniLM's), so the floor is measured, never
  hand-set.

That strong evidence decides whether a query means anything; once one result has it, the
others need only some evidence (``relevant``). Nonsense then finds nothing (``found: 0``),
and a client can tell "nothing relevant" from "ten weak hits".
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydantic.dataclasses import dataclass as pydantic_dataclass

from recsys.core.config import SECTION
from recsys.search.query_features import column

_DENSE = column("query_dense")
_COVERAGE = column("query_word_coverage")
_TITLE = column("query_title")
_TITLE_BM25 = column("query_bm25_title")
_WORDS = column("query_words")
GAP_RANK = 20
SENTENCE_WORDS = 6


@pydantic_dataclass(frozen=True, config=SECTION)
class RelevanceParams:
    min_words: int = 2  # lexical evidence: at least this many words matched ...
    word_share: float = 0.25  # ... and this share of the query's words (0.5 cost dev recall)
    null_queries: int = 300  # random strings the dense floor is calibrated on
    null_quantile: float = 0.99  # the floor: this quantile of their best similarity
    seed: int = 0


@dataclass(frozen=True)
class RelevanceFloors:
    """Dense similarities from the null distribution: ``strong`` (a high quantile: alone
    enough to make a query meaningful) and ``weak`` (the median: enough for one result of a
    meaningful query)."""

    strong: float
    weak: float
    gap: float  # a top similarity this far above the GAP_RANK-th also makes a query meaningful

    @classmethod
    def from_calibration(cls, calibration: dict[str, float]) -> RelevanceFloors:
        return cls(
            float(calibration["dense_floor"]),
            float(calibration["null_median"]),
            float(calibration["gap_floor"]),
        )


def required_words(n_words: np.ndarray, params: RelevanceParams) -> np.ndarray:
    """Words an item must match lexically, for queries of ``n_words`` words."""
    share = np.ceil(params.word_share * n_words)
    return np.minimum(n_words, np.maximum(params.min_words, share))


def strong_evidence(
    query_scores: np.ndarray, dense_floor: float, params: RelevanceParams
) -> np.ndarray:
    """Results (rows of ``QUERY_FEATURES`` columns) a person would accept on their own."""
    words = query_scores[:, _WORDS]
    matched = np.rint(query_scores[:, _COVERAGE] * words)
    lexical = (words > 0) & (matched >= required_words(words, params))
    # half the words, one of them in a title ("harry poter": "poter" is a word of some
    # Italian overview, so it is not read as a misspelling)
    in_title = (matched >= np.ceil(words / 2)) & (query_scores[:, _TITLE_BM25] > 0)
    lexical |= (words > 0) & in_title
    title = query_scores[:, _TITLE] > 0
    dense = np.nan_to_num(query_scores[:, _DENSE], nan=-1.0) >= dense_floor
    return lexical | title | dense


def relevant(
    query_scores: np.ndarray,
    floors: RelevanceFloors,
    params: RelevanceParams,
    sentence: bool = False,
) -> np.ndarray:
    """Which results are matches, in two tiers.

    A sentence in a real language (``sentence``: see ``is_sentence``) is a description: every
    result retrieval found for it counts, since a description in another language shares
    no word with its film and, with a multilingual encoder, every cosine is high. A shorter
    query means something when its best dense similarity stands out (``dense_gap``) or a
    result has strong evidence (``strong_evidence``); otherwise it matches nothing: that is
    what nonsense looks like. Its matches are then the results with any evidence at all: one
    query word matched lexically, a title match or a dense similarity above the null
    median: each result on its own, so that a filter keeps exactly the matches that pass it
    (facet counts are the filtered totals)."""
    if sentence:  # a description: its matches are graded, retrieval's pool is the set
        return np.ones(len(query_scores), dtype=bool)
    dense_sims = np.nan_to_num(query_scores[:, _DENSE], nan=-1.0)
    meaningful = dense_gap(dense_sims) >= floors.gap
    if not meaningful and not strong_evidence(query_scores, floors.strong, params).any():
        return np.zeros(len(query_scores), dtype=bool)
    lexical = query_scores[:, _COVERAGE] > 0
    title = query_scores[:, _TITLE] > 0
    return lexical | title | (dense_sims >= floors.weak)


def is_sentence(n_words: int, known_share: float, language: str | None, script: str | None) -> bool:
    """A query of ``SENTENCE_WORDS`` words or more that reads as language: most of its
    words are in the catalog's vocabulary, or a language was detected, or it is written in
    a script other than Latin (Devanagari, Cyrillic... where the vocabulary may hold nothing
    to compare with). Keyboard mashes are short, so they never qualify."""
    if n_words < SENTENCE_WORDS:
        return False
    return known_share >= 0.5 or language is not None or script not in (None, "LATIN")


def dense_gap(similarities: np.ndarray) -> float:
    """How far the best similarity stands above the ``GAP_RANK``-th best: one film that fits
    a description stands out even when every cosine is high (multilingual encoders), while
    for a random string the nearest neighbours are a flat crowd."""
    sims = np.sort(np.nan_to_num(np.asarray(similarities, dtype=np.float64), nan=-1.0))[::-1]
    if len(sims) < 2:
        return 0.0
    return float(sims[0] - sims[min(GAP_RANK, len(sims)) - 1])


def null_queries(n: int, seed: int) -> list[str]:
    """Random lowercase strings shaped like typed queries (1-3 words of 3-10 letters)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list(string.ascii_lowercase))
    queries = []
    for _ in range(n):
        words = [
            "".join(rng.choice(letters, size=int(rng.integers(3, 11))))
            for _ in range(int(rng.integers(1, 4)))
        ]
        queries.append(" ".join(words))
    return queries


def calibrate_dense_floor(
    top_similarities: Callable[[list[str]], list[np.ndarray]], params: RelevanceParams
) -> dict[str, float]:
    """The floors from the null distribution: ``top_similarities(queries)`` gives, for each
    query, its best ``GAP_RANK`` (or more) item similarities, any order (all the queries at
    once, so they can be encoded in one batch). Returned with the distribution's summary,
    for the manifest."""
    tops = top_similarities(null_queries(params.null_queries, params.seed))
    best = np.array([float(np.max(t)) for t in tops])
    gaps = np.array([dense_gap(t) for t in tops])
    return {
        "dense_floor": round(float(np.quantile(best, params.null_quantile)), 6),
        "null_median": round(float(np.median(best)), 6),
        "null_max": round(float(best.max()), 6),
        "gap_floor": round(float(np.quantile(gaps, params.null_quantile)), 6),
        "null_queries": float(len(best)),
        "quantile": params.null_quantile,
    }
