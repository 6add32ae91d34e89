"""Stage 4b: the lexical index: BM25 over every item's titles, people and texts.

One entry per item, holding all its languages (display, original and localized titles;
English and localized overviews), so results collapse to one per item for free. Three
fields with their own weight and length normalization (a BM25F-style sum of per-field
saturated term frequencies, one shared idf):

- ``title``: every title variant, in every script;
- ``people``: cast and directors;
- ``text``: descriptions, keywords and genres;
- ``stems``: the same words cut to 6 characters, a language-agnostic stemmer that lets
  "wizards" meet "wizard" and "cuisinière" meet "cuisinier".

A query term also matches, in order of preference:
- itself (tokens from :func:`recsys.core.text.search_tokens`: folded words, CJK bigrams);
- for the last term of a query still being typed, the vocabulary terms it is a prefix of
  (search-as-you-type), the most frequent ``max_prefix_terms`` of them, and, when it is not
  a word itself, its spelling neighbours below;
- for a term the vocabulary lacks (or, in a query of up to three words, a term no title
  has), title terms within edit distance 1 (4-5 characters) or 2 (6 and more), scored a
  little lower; numbers are never corrected.

Built offline into the artifact (``lexical.npz``); scoring is a sparse row sum, ~0.1-1 ms.
"""

from __future__ import annotations

import bisect
import functools
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from scipy import sparse

from recsys.catalog.items import row_titles
from recsys.core.errors import ArtifactError
from recsys.core.progress import Progress
from recsys.core.text import is_unsegmented, search_tokens

FIELDS = ("title", "people", "text", "stems")
# what ``LexicalIndex.evidence`` reports per item: BM25 per field group, and the share of
# the query's words the item matched
EVIDENCE = ("bm25_title", "bm25_people", "bm25_text", "word_coverage")
EXPANSIONS_CACHED = 1024
STEM_MARK = "~"  # stems live in the same vocabulary, marked so no typed word equals one
MAX_PEOPLE = 10


@dataclass(frozen=True)
class LexicalParams:
    k1: float = 1.2
    weights: dict[str, float] = field(
        default_factory=lambda: {"title": 3.0, "people": 1.5, "text": 1.0, "stems": 0.5}
    )
    b: dict[str, float] = field(
        default_factory=lambda: {"title": 0.5, "people": 0.5, "text": 0.75, "stems": 0.75}
    )
    # description words cut to this many characters, a language-agnostic stemmer
    # ("spirits" -> "spirit", "cuisinier"/"cuisinière" -> "cuisin"); 4, 5 and 6 were tried
    # on bench/queries, 6 ranked best
    stem_chars: int = 6
    max_prefix_terms: int = 30
    min_prefix_chars: int = 2  # spaced scripts; one CJK character already narrows enough
    prefix_weight: float = 0.9  # a completed prefix counts a little less than the word typed
    typo_min_chars: int = 4
    typo_weights: tuple[float, float] = (0.8, 0.6)  # at edit distance 1, 2
    # a query of at most this many words names something: a word of it that no title has
    # also matches the title words it is a misspelling of
    max_name_tokens: int = 3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LexicalParams:
        data = dict(data)
        if "typo_weights" in data:
            data["typo_weights"] = tuple(data["typo_weights"])
        return cls(**data)


def stem(token: str, chars: int) -> str | None:
    """The truncation stem of a spaced-script word, None for CJK and the like."""
    if is_unsegmented(token[0]):
        return None
    return STEM_MARK + token[:chars]


def item_fields(catalog: pl.DataFrame, stem_chars: int) -> list[dict[str, list[str]]]:
    """The tokens of each item's fields (title variants deduplicated by their tokens)."""
    out: list[dict[str, list[str]]] = []
    columns = ["title", "original_title", "alt_titles", "localizations", "cast", "directors"]
    columns += ["description", "keywords", "genres"]
    for row in catalog.select(columns).iter_rows(named=True):
        localized = row["localizations"] or []
        seen: set[tuple[str, ...]] = set()
        title_tokens: list[str] = []
        for title in row_titles(row):
            tokens = tuple(search_tokens(title))
            if tokens and tokens not in seen:
                seen.add(tokens)
                title_tokens.extend(tokens)
        people = [*(row["cast"] or [])[:MAX_PEOPLE], *(row["directors"] or [])]
        texts = [row["description"], *(loc["description"] for loc in localized)]
        texts += [*(row["keywords"] or []), *(row["genres"] or [])]
        text_tokens = [t for text in texts for t in search_tokens(text)]
        out.append(
            {
                "title": title_tokens,
                "people": [t for name in people for t in search_tokens(name)],
                "text": text_tokens,
                "stems": [s for t in text_tokens if (s := stem(t, stem_chars))],
            }
        )
    return out


class _Postings:
    """(term id, item, term frequency) per field, appended a chunk of items at a time."""

    def __init__(self, n_items: int) -> None:
        self.term_id: dict[str, int] = {}
        self.lengths = {name: np.zeros(n_items, dtype=np.float64) for name in FIELDS}
        self._parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {
            name: [] for name in FIELDS
        }

    def add(self, start: int, fields: list[dict[str, list[str]]]) -> None:
        for name in FIELDS:
            rows: list[int] = []
            cols: list[int] = []
            tfs: list[int] = []
            for offset, item_tokens in enumerate(fields):
                tokens = item_tokens[name]
                self.lengths[name][start + offset] = len(tokens)
                for term, count in Counter(tokens).items():
                    rows.append(self.term_id.setdefault(term, len(self.term_id)))
                    cols.append(start + offset)
                    tfs.append(count)
            part = (np.array(rows, np.int32), np.array(cols, np.int32), np.array(tfs, np.int32))
            self._parts[name].append(part)

    def arrays(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(term ids, items, tf as float64) of one field, all chunks."""
        parts = self._parts[name]
        if not parts:
            return np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.float64)
        rows, cols, tfs = (np.concatenate(column) for column in zip(*parts, strict=True))
        return rows, cols.astype(np.int64), tfs.astype(np.float64)

    def sorted_vocabulary(self) -> tuple[list[str], np.ndarray]:
        """(the vocabulary, sorted; old term id -> position in it)."""
        terms = list(self.term_id)
        order = sorted(range(len(terms)), key=terms.__getitem__)
        renumber = np.empty(len(terms), dtype=np.int64)
        renumber[np.array(order, dtype=np.int64)] = np.arange(len(terms))
        return [terms[i] for i in order], renumber


class LexicalIndex:
    """Per field, BM25 term weights (idf x saturated tf, before the field weight) as a
    (terms x items) CSR matrix; the vocabulary is sorted for prefix lookups. Field weights
    apply at query time, so a descriptive query can weigh titles less than a short one."""

    def __init__(
        self,
        vocab: list[str],
        fields: dict[str, sparse.csr_matrix],
        doc_freq: np.ndarray,
        title_terms: np.ndarray,
        params: LexicalParams,
    ) -> None:
        if set(fields) != set(FIELDS):
            raise ArtifactError(f"lexical index: fields {sorted(fields)}, expected {FIELDS}")
        shapes = {matrix.shape for matrix in fields.values()}
        if len(shapes) != 1 or next(iter(shapes))[0] != len(vocab) or len(doc_freq) != len(vocab):
            raise ArtifactError("lexical index: vocabulary and weights disagree")
        for matrix in fields.values():
            matrix.sort_indices()  # the per-item lookups (``_postings_of``) search postings
        self.vocab = vocab
        self.fields = fields
        self.doc_freq = doc_freq
        self.title_terms = title_terms
        self.params = params
        self._term_id = {term: i for i, term in enumerate(vocab)}
        self._title_vocab = [vocab[i] for i in title_terms.tolist()]
        self._combined: dict[tuple[float, ...], sparse.csr_matrix] = {}
        # a search expands its query twice (the ranked list, then the results' evidence),
        # and head queries repeat: the expansion (prefix and typo lookups) is kept; callers
        # only read what it returns
        self._groups = functools.lru_cache(maxsize=EXPANSIONS_CACHED)(self._expand_groups)

    def matrix(self, weights: Mapping[str, float] | None = None) -> sparse.csr_matrix:
        """Field matrices summed under ``weights`` (default: the params'); cached per
        weighting, since a service uses one or two."""
        weights = weights or self.params.weights
        key = tuple(float(weights[name]) for name in FIELDS)
        if key not in self._combined:
            total = sum(w * self.fields[name] for w, name in zip(key, FIELDS, strict=True))
            self._combined[key] = sparse.csr_matrix(total, dtype=np.float32)
        return self._combined[key]

    @property
    def n_items(self) -> int:
        return int(self.fields[FIELDS[0]].shape[1])

    @classmethod
    def build(
        cls, catalog: pl.DataFrame, params: LexicalParams | None = None, chunk: int = 20_000
    ) -> LexicalIndex:
        """Tokenized ``chunk`` items at a time into compact postings arrays (term ids in order
        of first sight, renumbered into the sorted vocabulary at the end): a million items
        never hold their token lists, or Python lists of postings, all at once."""
        params = params or LexicalParams()
        n_items = catalog.height
        postings = _Postings(n_items)
        progress = Progress(n_items, "lexical index", unit="items")
        for start in range(0, n_items, chunk):
            postings.add(start, item_fields(catalog.slice(start, chunk), params.stem_chars))
            progress.advance(min(chunk, n_items - start))
        progress.close()
        vocab, renumber = postings.sorted_vocabulary()
        saturated_tf: dict[str, sparse.csr_matrix] = {}
        present = sparse.csr_matrix((len(vocab), n_items), dtype=np.float64)
        for name in FIELDS:
            rows, cols, tf = postings.arrays(name)
            rows = renumber[rows]
            lengths = postings.lengths[name]
            avg = max(lengths.mean(), 1e-9) if n_items else 1e-9
            b, k1 = params.b[name], params.k1
            norm = k1 * (1.0 - b + b * lengths[cols] / avg)
            saturated = tf * (k1 + 1.0) / (tf + norm)
            shape = (len(vocab), n_items)
            saturated_tf[name] = sparse.csr_matrix((saturated, (rows, cols)), shape=shape)
            present = present + sparse.csr_matrix((np.ones_like(tf), (rows, cols)), shape=shape)
        doc_freq = np.diff(present.indptr).astype(np.int64)  # items containing the term
        idf = np.log1p((n_items - doc_freq + 0.5) / (doc_freq + 0.5))
        by_idf = sparse.diags(idf)
        fields_bm25 = {
            name: sparse.csr_matrix(by_idf @ matrix, dtype=np.float32)
            for name, matrix in saturated_tf.items()
        }
        title_terms = np.unique(renumber[postings.arrays("title")[0]]).astype(np.int64)
        return cls(vocab, fields_bm25, doc_freq, title_terms, params)

    # -- query side --------------------------------------------------------------------------

    def expand(self, query: str) -> list[list[tuple[int, float]]]:
        """Per query token, the vocabulary terms it matches with their weights."""
        return [group for _, group in self._groups(query)]

    def _expand_groups(self, query: str) -> list[tuple[int, list[tuple[int, float]]]]:
        """(word index, alternatives) per matching word of the query, then one group per word
        stem found in the vocabulary (a second, additive match on descriptions)."""
        tokens = search_tokens(query)
        typing = bool(query) and not query[-1].isspace()
        short = len(tokens) <= self.params.max_name_tokens
        groups: list[tuple[int, list[tuple[int, float]]]] = []
        for position, token in enumerate(tokens):
            matches: dict[int, float] = {}
            exact = self._term_id.get(token)
            if exact is not None:
                matches[exact] = 1.0
            if typing and position == len(tokens) - 1:
                for term in self._prefix_terms(token):
                    matches.setdefault(term, self.params.prefix_weight)
            if not matches or (short and not self._is_title_term(exact)):
                # a word no title has, in a query that names something ("harry poter":
                # "poter" is a word of some Italian overview): its spelling neighbours too
                for term, weight in self._typo_terms(token).items():
                    matches.setdefault(term, weight)
            if matches:
                groups.append((position, list(matches.items())))
        for position, token in enumerate(tokens):
            stemmed = stem(token, self.params.stem_chars)
            stem_id = self._term_id.get(stemmed) if stemmed is not None else None
            if stem_id is not None:
                groups.append((position, [(stem_id, 1.0)]))
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

    def _is_title_term(self, term: int | None) -> bool:
        if term is None:
            return False
        at = int(np.searchsorted(self.title_terms, term))
        return at < len(self.title_terms) and int(self.title_terms[at]) == term

    def _typo_terms(self, token: str) -> dict[int, float]:
        """Title words within 1 edit (4-5 characters) or 2 (6+) of a word; never for
        numbers ("2201" is not a misspelt "2001")."""
        if len(token) < self.params.typo_min_chars or is_unsegmented(token[0]) or token.isdigit():
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

    def scores(self, query: str, field_weights: Mapping[str, float] | None = None) -> np.ndarray:
        """BM25 score of every item (0 where nothing matched)."""
        return self._score(self.matrix(field_weights), self.expand(query))

    def _score(
        self, matrix: sparse.csr_matrix, groups: list[list[tuple[int, float]]]
    ) -> np.ndarray:
        indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
        total = np.zeros(self.n_items, dtype=np.float32)
        best = np.zeros(self.n_items, dtype=np.float32)
        for group in groups:
            # postings read straight from the CSR arrays (scipy row slicing costs ~50 us each)
            if len(group) == 1:
                term, weight = group[0]
                lo, hi = indptr[term], indptr[term + 1]
                total[indices[lo:hi]] += weight * data[lo:hi]
                continue
            best[:] = 0.0  # alternatives of one token: the best of them, not their sum
            for term, weight in group:
                lo, hi = indptr[term], indptr[term + 1]
                np.maximum.at(best, indices[lo:hi], weight * data[lo:hi])
            total += best
        return total

    def known_share(self, tokens: list[str]) -> float:
        """Share of the tokens that are words of the vocabulary as they are (no prefix,
        typo or stem): how much of a query reads as the catalog's languages."""
        if not tokens:
            return 0.0
        return sum(token in self._term_id for token in tokens) / len(tokens)

    def evidence(self, query: str, items: np.ndarray) -> np.ndarray:
        """Per item of ``items``, the ``EVIDENCE`` columns: BM25 of each field group (titles;
        people; descriptions, keywords and genres with their stems) under the default
        weights, and the share of the query's words the item matched in any field (exactly,
        completed as a prefix, with a typo, or by stem). Only the postings of ``items`` are
        read (looked up in each term's sorted postings), never a catalog-wide array."""
        groups = self._groups(query)
        n_words = len(search_tokens(query))
        out = np.zeros((len(items), len(EVIDENCE)), dtype=np.float64)
        weights = self.params.weights
        plain = [group for _, group in groups]
        order = np.argsort(items, kind="stable")
        ranked = items[order]
        # each (field, term) looked up once: the BM25 columns and the coverage share both read it
        postings = {
            (name, term): _postings_of(matrix, term, ranked)
            for name, matrix in self.fields.items()
            for group in plain
            for term, _ in group
        }
        for column, names in enumerate((("title",), ("people",), ("text", "stems"))):
            total = np.zeros(len(items), dtype=np.float32)
            for name in names:  # the field matrices as stored: nothing is built per query
                total += weights[name] * _score_items(name, plain, postings, len(ranked))
            out[order, column] = total
        if n_words:
            matched = np.zeros((n_words, len(items)), dtype=bool)
            for word, group in groups:
                for term, _ in group:
                    for name in self.fields:
                        matched[word] |= postings[name, term][0]
            out[order, -1] = matched.sum(axis=0) / n_words
        return out

    def search(
        self,
        query: str,
        n: int,
        allowed: np.ndarray | None = None,
        field_weights: Mapping[str, float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` items with a positive score among ``allowed``, best first (ties by
        position), with their scores."""
        scores = self.scores(query, field_weights)
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
            arrays: dict[str, np.ndarray] = {
                "vocab": np.array(self.vocab, dtype=np.str_),
                "shape": np.array(self.fields[FIELDS[0]].shape, dtype=np.int64),
                "doc_freq": self.doc_freq,
                "title_terms": self.title_terms,
            }
            for name, matrix in self.fields.items():
                arrays[f"{name}_data"] = matrix.data
                arrays[f"{name}_indices"] = matrix.indices
                arrays[f"{name}_indptr"] = matrix.indptr
            np.savez(fh, allow_pickle=False, **arrays)

    @classmethod
    def load(cls, path: Path, params: LexicalParams) -> LexicalIndex:
        try:
            with np.load(path, allow_pickle=False) as data:
                shape = tuple(data["shape"].tolist())
                fields = {
                    name: sparse.csr_matrix(
                        (data[f"{name}_data"], data[f"{name}_indices"], data[f"{name}_indptr"]),
                        shape=shape,
                    )
                    for name in FIELDS
                }
                vocab = data["vocab"].tolist()
                return cls(vocab, fields, data["doc_freq"], data["title_terms"], params)
        except (OSError, KeyError, ValueError) as exc:
            raise ArtifactError(f"cannot read the lexical index {path}: {exc}") from exc


def _score_items(
    field: str,
    groups: list[list[tuple[int, float]]],
    postings: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]],
    n: int,
) -> np.ndarray:
    """``LexicalIndex._score`` of one field at the sorted item positions whose ``postings``
    (``_postings_of`` per field and term) are given: the same float32 arithmetic, so the
    same values."""
    total = np.zeros(n, dtype=np.float32)
    for group in groups:
        best = np.zeros(n, dtype=np.float32)
        for term, weight in group:
            found, values = postings[field, term]
            if len(group) == 1:
                total[found] += weight * values
            else:
                scored = np.zeros(n, dtype=np.float32)
                scored[found] = weight * values
                np.maximum(best, scored, out=best)
        if len(group) > 1:
            total += best
    return total


def _postings_of(
    matrix: sparse.csr_matrix, term: int, ranked: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each of the sorted item positions ``ranked`` is in ``term``'s postings (a
    bool mask), and the stored weights of those found (in ``ranked`` order)."""
    lo, hi = matrix.indptr[term], matrix.indptr[term + 1]
    postings = matrix.indices[lo:hi]
    if not len(postings):
        return np.zeros(len(ranked), dtype=bool), np.zeros(0, dtype=np.float32)
    at = np.minimum(np.searchsorted(postings, ranked), len(postings) - 1)
    found = postings[at] == ranked
    return found, matrix.data[lo:hi][at[found]]
