"""Search-as-you-type suggestions: the titles, people and genres a typed prefix completes.

The lexical index answers "which items match these words", scored over whole items. A
suggestion box asks something else after every keystroke: which few *names* (a title, a
person, a genre) is the user most likely typing? That is a prefix lookup over names ranked
by a popularity prior, the way Typesense and Meilisearch complete, and it must take a few
milliseconds, so nothing here scans the catalog at request time:

- every name is folded like the title matcher's keys (:func:`normalize_title`: NFKC, case,
  accents, punctuation), so "amel" finds "Amélie" and "spider m" finds "Spider-Man";
- a name gets one key per word start ("star wars", "wars"), so "wars" finds "Star Wars";
  the key after a leading article counts as a whole-name match ("godf" finds "The
  Godfather" as readily as "Godfrey"). Unsegmented scripts (CJK, Thai) have no word
  starts: their names complete from the first character only;
- the keys are sorted once; a call bisects the range of keys starting with the prefix;
- each key has a global rank fixed at build time (whole-name matches first, then weight,
  then the shorter name), so a call takes the best of its range with one argpartition and
  looks at no more than ``MAX_CANDIDATES`` keys, however short the prefix;
- weights are priors on different scales (item popularity, a person's summed item weights,
  a genre's item count): each kind's are divided by that kind's largest weight, so the
  kinds compete on a 0-1 scale.

One suggestion per item (the best-matching title variant) and one per person or genre name.
Two items that share a title (remakes) stay two suggestions: they lead to different items.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from recsys.catalog.items import row_titles
from recsys.core.text import normalize_title, strip_leading_article

KINDS = ("title", "person", "genre")
NO_ITEM = -1
CANDIDATES_PER_SUGGESTION = 8  # candidates looked at first, per suggestion asked for
MIN_CANDIDATES = 64
MAX_CANDIDATES = 4096  # widened up to this when duplicates eat the first candidates
_BEYOND = "\U0010ffff"  # sorts after every character a key can hold


class SuggestEntry(NamedTuple):
    kind: str  # one of KINDS
    text: str  # the name as displayed
    item_position: int | None  # the item a title belongs to; None for people and genres
    weight: float  # popularity prior, compared within a kind


@dataclass(frozen=True, slots=True)
class Suggestion:
    kind: str
    text: str
    item_position: int | None
    score: float  # 1 + weight for a whole-name match, weight for an inner word; weight in 0-1


def key_starts(normalized: str) -> list[tuple[int, bool]]:
    """(offset, whole-name match?) of each key of a normalized name: its start, the start
    after a leading article, and every other word start."""
    starts = [(0, True)]
    article = len(normalized) - len(strip_leading_article(normalized))
    if article:
        starts.append((article, True))
    starts += [
        (i + 1, False) for i, char in enumerate(normalized) if char == " " and i + 1 != article
    ]
    return starts


class SuggestIndex:
    def __init__(
        self,
        entries: list[SuggestEntry],
        names: list[str],
        keys: list[str],
        key_entry: np.ndarray,
        key_whole: np.ndarray,
        weights: np.ndarray,
    ) -> None:
        """Use :meth:`build` or :meth:`from_catalog`: ``names`` are the entries' normalized
        texts, ``keys`` are sorted and the arrays hold one value per key."""
        self._texts = [entry.text for entry in entries]
        self._kinds = np.array([KINDS.index(entry.kind) for entry in entries], dtype=np.int8)
        self._items = np.array(
            [NO_ITEM if e.item_position is None else e.item_position for e in entries],
            dtype=np.int64,
        )
        self._weights = weights
        self._groups = _dedupe_groups(entries, names, self._items)
        self._keys = keys
        self._key_entry = key_entry
        self._key_whole = key_whole
        self._key_kind = self._kinds[key_entry]
        # rank of each key: whole-name first, then weight, then shorter name, then text
        lengths = np.array([len(self._texts[e]) for e in key_entry], dtype=np.int64)
        self._by_rank = np.lexsort((lengths, -weights[key_entry], ~key_whole)).astype(np.int64)
        self._rank = np.empty_like(self._by_rank)
        self._rank[self._by_rank] = np.arange(len(keys), dtype=np.int64)

    @classmethod
    def build(cls, entries: Iterable[tuple[str, str, int | None, float]]) -> SuggestIndex:
        """Index (kind, text, item position or None, weight) entries; empty names are skipped."""
        kept: list[SuggestEntry] = []
        names: list[str] = []
        rows: list[tuple[str, int, bool]] = []
        for kind, text, item, weight in entries:
            if kind not in KINDS:
                raise ValueError(f"unknown suggestion kind {kind!r}; expected one of {KINDS}")
            normalized = normalize_title(text)
            if not normalized:
                continue
            rows += [(normalized[at:], len(kept), whole) for at, whole in key_starts(normalized)]
            kept.append(SuggestEntry(kind, text, item, float(weight)))
            names.append(normalized)
        rows.sort()
        return cls(
            kept,
            names,
            [key for key, _, _ in rows],
            np.array([entry for _, entry, _ in rows], dtype=np.int64),
            np.array([whole for _, _, whole in rows], dtype=bool),
            _scaled_weights(kept),
        )

    @classmethod
    def from_catalog(cls, frame: pl.DataFrame, item_weights: np.ndarray) -> SuggestIndex:
        """Titles (every variant) weighted by ``item_weights`` (one per frame row), people
        (cast and directors) by the sum of their items' weights, genres by their item count."""
        return cls.build(catalog_entries(frame, item_weights))

    def __len__(self) -> int:
        return len(self._texts)

    def suggest(self, prefix: str, k: int = 8, kinds: set[str] | None = None) -> list[Suggestion]:
        """The best ``k`` names completing ``prefix``; a trailing space completes the word
        ("star " finds "Star Wars" and "Star", not "Stardust"), as in the lexical index."""
        codes = None if kinds is None else _kind_codes(kinds)
        query = normalize_title(prefix)
        if not query or k <= 0:
            return []
        lo = bisect.bisect_left(self._keys, query)
        tail = " " + _BEYOND if prefix[-1].isspace() else _BEYOND
        hi = bisect.bisect_left(self._keys, query + tail, lo)
        ranks = self._rank[lo:hi]
        if codes is not None:
            ranks = ranks[np.isin(self._key_kind[lo:hi], codes)]
        wanted = max(k * CANDIDATES_PER_SUGGESTION, MIN_CANDIDATES)
        while True:
            found = self._collect(_smallest(ranks, wanted), k)
            if len(found) >= k or wanted >= len(ranks) or wanted >= MAX_CANDIDATES:
                return found
            wanted = min(wanted * 4, MAX_CANDIDATES)

    def _collect(self, ranks: np.ndarray, k: int) -> list[Suggestion]:
        """Suggestions from keys in rank order, one per item or per (kind, name)."""
        found: list[Suggestion] = []
        seen: set[int] = set()
        for key in self._by_rank[ranks].tolist():
            entry = int(self._key_entry[key])
            group = int(self._groups[entry])
            if group in seen:
                continue
            seen.add(group)
            item = int(self._items[entry])
            weight = float(self._weights[entry])
            found.append(
                Suggestion(
                    kind=KINDS[int(self._kinds[entry])],
                    text=self._texts[entry],
                    item_position=None if item == NO_ITEM else item,
                    score=round(weight + (1.0 if self._key_whole[key] else 0.0), 6),
                )
            )
            if len(found) == k:
                break
        return found


def catalog_entries(frame: pl.DataFrame, item_weights: np.ndarray) -> list[SuggestEntry]:
    """The suggestion entries of a catalog frame (missing columns read as empty)."""
    weights = np.nan_to_num(np.asarray(item_weights, dtype=np.float64))
    if weights.shape != (frame.height,):
        raise ValueError(f"{weights.shape[0]} item weights for {frame.height} catalog rows")
    columns = ["title", "original_title", "alt_titles", "localizations", "cast", "directors"]
    columns = [c for c in [*columns, "genres"] if c in frame.columns]
    entries: list[SuggestEntry] = []
    people: defaultdict[str, float] = defaultdict(float)
    genres: Counter[str] = Counter()
    for position, row in enumerate(frame.select(columns).iter_rows(named=True)):
        weight = float(weights[position])
        entries += [SuggestEntry("title", t, position, weight) for t in _title_variants(row)]
        # dict.fromkeys: once per item (an actor-director counts once), in a stable order
        for name in dict.fromkeys([*(row.get("cast") or []), *(row.get("directors") or [])]):
            if name:
                people[name] += weight
        genres.update(genre for genre in dict.fromkeys(row.get("genres") or []) if genre)
    entries += [SuggestEntry("person", name, None, w) for name, w in people.items()]
    entries += [SuggestEntry("genre", name, None, float(n)) for name, n in genres.items()]
    return entries


def _title_variants(row: dict[str, Any]) -> list[str]:
    """Display, original, alternate and localized titles, one per normalized form."""
    seen: set[str] = set()
    variants = []
    for name in row_titles(row):
        key = normalize_title(name)
        if key and key not in seen:
            seen.add(key)
            variants.append(name)
    return variants


def _scaled_weights(entries: list[SuggestEntry]) -> np.ndarray:
    """Weights clipped at 0 and divided by their kind's largest, so kinds compare."""
    weights = np.nan_to_num(np.array([e.weight for e in entries], dtype=np.float64)).clip(0)
    kinds = np.array([KINDS.index(e.kind) for e in entries], dtype=np.int8)
    for code in range(len(KINDS)):
        mask = kinds == code
        top = weights[mask].max(initial=0.0)
        if top > 0:
            weights[mask] /= top
    return weights


def _dedupe_groups(entries: list[SuggestEntry], names: list[str], items: np.ndarray) -> np.ndarray:
    """One id per suggestion that may be shown: the item for titles, else (kind, name)."""
    groups_of: dict[tuple[str, str], int] = {}
    offset = int(items.max(initial=NO_ITEM)) + 1
    groups = np.empty(len(entries), dtype=np.int64)
    for i, entry in enumerate(entries):
        if items[i] != NO_ITEM:
            groups[i] = items[i]
        else:
            group = groups_of.setdefault((entry.kind, names[i]), len(groups_of))
            groups[i] = offset + group
    return groups


def _kind_codes(kinds: set[str]) -> list[int]:
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown suggestion kinds {unknown}; expected some of {KINDS}")
    return [KINDS.index(kind) for kind in kinds]


def _smallest(ranks: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` smallest ranks, sorted (all of them when there are fewer)."""
    if len(ranks) > n:
        ranks = ranks[np.argpartition(ranks, n)[:n]]
    return np.sort(ranks)
