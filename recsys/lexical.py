"""Stage 4b: the lexical index: BM25 over every item's titles, people and texts.

One entry per item, holding all its languages (display, original and localized titles;
English and localized overviews), so results collapse to one per item for free. Three
fields with their own weight and length normalization (a BM25F-style sum of per-field
saturated term frequencies, one shared idf):

- ``title``: every title variant, in every script;
- ``people``: cast and directors;
- ``text``: descriptions, keywords and genres.

A query term also matches, in order of preference:
- itself (tokens from :func:`recsys.text.search_tokens`: folded words, CJK bigrams);
- for the last term of a query still being typed, the vocabulary terms it is a prefix of
  (search-as-you-type), the most frequent ``max_prefix_terms`` of them;
- for a term the vocabulary lacks, title terms within edit distance 1 (4-5 characters) or
  2 (6 and more), scored a little lower.

Built offline into the artifact (``lexical.npz``); scoring is a sparse row sum, ~0.1-1 ms.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from scipy import sparse

from recsys.errors import ArtifactError
from recsys.text import is_unsegmented, search_tokens

FIELDS = ("title", "people", "text")
MAX_PEOPLE = 10


@dataclass(frozen=True)
class LexicalParams:
    k1: float = 1.2
    weights: dict[str, float] = field(
        default_factory=lambda: {"title": 3.0, "people": 1.5, "text": 1.0}
    )
    b: dict[str, float] = field(default_factory=lambda: {"title": 0.5, "people": 0.5, "text": 0.75})
    max_prefix_terms: int = 30
    min_prefix_chars: int = 2  # spaced scripts; one CJK character already narrows enough
    prefix_weight: float = 0.9  # a completed prefix counts a little less than the word typed
    typo_min_chars: int = 4
    typo_weights: tuple[float, float] = (0.8, 0.6)  # at edit distance 1, 2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LexicalParams:
        data = dict(data)
        if "typo_weights" in data:
            data["typo_weights"] = tuple(data["typo_weights"])
        return cls(**data)


def item_fields(catalog: pl.DataFrame) -> list[dict[str, list[str]]]:
    """The tokens of each item's fields (title variants deduplicated by their tokens)."""
    out: list[dict[str, list[str]]] = []
    columns = ["title", "original_title", "alt_titles", "localizations", "cast", "directors"]
    columns += ["description", "keywords", "genres"]
    for row in catalog.select(columns).iter_rows(named=True):
        localized = row["localizations"] or []
        titles = [row["title"], row["original_title"], *(row["alt_titles"] or [])]
        titles += [loc["title"] for loc in localized]
        seen: set[tuple[str, ...]] = set()
        title_tokens: list[str] = []
        for title in titles:
            tokens = tuple(search_tokens(title))
            if tokens and tokens not in seen:
                seen.add(tokens)
                title_tokens.extend(tokens)
        people = [*(row["cast"] or [])[:MAX_PEOPLE], *(row["directors"] or [])]
        texts = [row["description"], *(loc["description"] for loc in localized)]
        texts += [*(row["keywords"] or []), *(row["genres"] or [])]
        out.append(
            {
                "title": title_tokens,
                "people": [t for name in people for t in search_tokens(name)],
                "text": [t for text in texts for t in search_tokens(text)],
            }
        )
    return out


class LexicalIndex:
    """BM25 weights as a (terms x items) CSR matrix; vocabulary sorted for prefix lookups."""

    def __init__(
        self,
        vocab: list[str],
        weights: sparse.csr_matrix,
        doc_freq: np.ndarray,
        title_terms: np.ndarray,
        params: LexicalParams,
    ) -> None:
        if weights.shape[0] != len(vocab) or len(doc_freq) != len(vocab):
            raise ArtifactError("lexical index: vocabulary and weights disagree")
        self.vocab = vocab
        self.weights = weights
        self.doc_freq = doc_freq
        self.title_terms = title_terms
        self.params = params
        self._term_id = {term: i for i, term in enumerate(vocab)}
        self._title_vocab = [vocab[i] for i in title_terms.tolist()]

    @property
    def n_items(self) -> int:
        return int(self.weights.shape[1])

    @classmethod
    def build(cls, catalog: pl.DataFrame, params: LexicalParams | None = None) -> LexicalIndex:
        params = params or LexicalParams()
        fields = item_fields(catalog)
        vocab = sorted({t for item in fields for tokens in item.values() for t in tokens})
        term_id = {term: i for i, term in enumerate(vocab)}
        n_items = len(fields)
        total = sparse.csr_matrix((len(vocab), n_items), dtype=np.float64)
        present = sparse.csr_matrix((len(vocab), n_items), dtype=np.float64)
        for name in FIELDS:
            rows, cols, tfs = [], [], []
            lengths = np.zeros(n_items, dtype=np.float64)
            for item, item_tokens in enumerate(fields):
                tokens = item_tokens[name]
                lengths[item] = len(tokens)
                for term, count in Counter(tokens).items():
                    rows.append(term_id[term])
                    cols.append(item)
                    tfs.append(count)
            tf = np.array(tfs, dtype=np.float64)
            avg = max(lengths.mean(), 1e-9)
            b, k1 = params.b[name], params.k1
            norm = k1 * (1.0 - b + b * lengths[np.array(cols, dtype=np.int64)] / avg)
            saturated = params.weights[name] * tf * (k1 + 1.0) / (tf + norm)
            shape = (len(vocab), n_items)
            total = total + sparse.csr_matrix((saturated, (rows, cols)), shape=shape)
            present = present + sparse.csr_matrix((np.ones_like(tf), (rows, cols)), shape=shape)
        doc_freq = np.diff(present.indptr).astype(np.int64)  # items containing the term
        idf = np.log1p((n_items - doc_freq + 0.5) / (doc_freq + 0.5))
        weights = sparse.csr_matrix(sparse.diags(idf) @ total, dtype=np.float32)
        title_terms = np.array(
            sorted({term_id[t] for item in fields for t in item["title"]}), dtype=np.int64
        )
        return cls(vocab, weights, doc_freq, title_terms, params)

    # -- query side --------------------------------------------------------------------------

    def expand(self, query: str) -> list[list[tuple[int, float]]]:
        """Per query token, the vocabulary terms it matches with their weights."""
        tokens = search_tokens(query)
        typing = bool(query) and not query[-1].isspace()
        groups: list[list[tuple[int, float]]] = []
        for position, token in enumerate(tokens):
            matches: dict[int, float] = {}
            exact = self._term_id.get(token)
            if exact is not None:
                matches[exact] = 1.0
            if typing and position == len(tokens) - 1:
                for term in self._prefix_terms(token):
                    matches.setdefault(term, self.params.prefix_weight)
            if not matches:
                matches.update(self._typo_terms(token))
            if matches:
                groups.append(list(matches.items()))
        return groups

    def _prefix_terms(self, prefix: str) -> list[int]:
        min_chars = 1 if is_unsegmented(prefix[0]) else self.params.min_prefix_chars
        if len(prefix) < min_chars:
            return []
        lo = bisect.bisect_left(self.vocab, prefix)
        hi = bisect.bisect_left(self.vocab, prefix + "\U0010ffff", lo)
        if hi - lo <= self.params.max_prefix_terms:
            return list(range(lo, hi))
        top = np.argpartition(-self.doc_freq[lo:hi], self.params.max_prefix_terms)
        return (top[: self.params.max_prefix_terms] + lo).tolist()

    def _typo_terms(self, token: str) -> dict[int, float]:
        if len(token) < self.params.typo_min_chars or is_unsegmented(token[0]):
            return {}
        max_edits = 1 if len(token) < 6 else 2
        found = process.extract(
            token,
            self._title_vocab,
            scorer=Levenshtein.distance,
            score_cutoff=max_edits,
            limit=20,
        )
        return {
            int(self.title_terms[index]): self.params.typo_weights[int(distance) - 1]
            for _, distance, index in found
            if distance > 0
        }

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every item (0 where nothing matched)."""
        total = np.zeros(self.n_items, dtype=np.float32)
        for group in self.expand(query):
            ids = [term for term, _ in group]
            rows = self.weights[ids]
            if len(group) == 1:
                total += group[0][1] * rows.toarray()[0]
            else:  # alternatives of one token: the best of them, not their sum
                scaled = sparse.diags(np.array([w for _, w in group], dtype=np.float32)) @ rows
                total += scaled.max(axis=0).toarray()[0]
        return total

    def search(
        self, query: str, n: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` items with a positive score among ``allowed``, best first (ties by
        position), with their scores."""
        scores = self.scores(query)
        if allowed is not None:
            scores[~allowed] = 0.0
        hits = np.flatnonzero(scores > 0)
        if len(hits) > n:
            hits = hits[np.argpartition(-scores[hits], n - 1)[:n]]
        order = np.lexsort((hits, -scores[hits]))
        return hits[order], scores[hits[order]].astype(np.float64)

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:
            np.savez(
                fh,
                vocab=np.array(self.vocab, dtype=np.str_),
                data=self.weights.data,
                indices=self.weights.indices,
                indptr=self.weights.indptr,
                shape=np.array(self.weights.shape, dtype=np.int64),
                doc_freq=self.doc_freq,
                title_terms=self.title_terms,
            )

    @classmethod
    def load(cls, path: Path, params: LexicalParams) -> LexicalIndex:
        try:
            with np.load(path, allow_pickle=False) as data:
                weights = sparse.csr_matrix(
                    (data["data"], data["indices"], data["indptr"]),
                    shape=tuple(data["shape"].tolist()),
                )
                vocab = data["vocab"].tolist()
                return cls(vocab, weights, data["doc_freq"], data["title_terms"], params)
        except (OSError, KeyError, ValueError) as exc:
            raise ArtifactError(f"cannot read the lexical index {path}: {exc}") from exc
