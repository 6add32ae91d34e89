"""Training queries for the search ranker, derived from metadata without hand labels.

People search for what they watch: a training *target* is drawn with probability growing
with its consumption count, then one query is derived from it the way people type:

- ``title``: a title of the item, in any language and script;
- ``title_fragment``: its first words ("harry potter", "star");
- ``title_prefix``: a title cut mid-word, as typed so far ("harry pot", "godf");
- ``title_typo``: a title with one slip in a long word (swap, drop, double, replace);
- ``person``: one of its directors or first-billed actors ("christopher nolan");
- ``tag``: a tag a MovieLens user wrote for it ("mind-bending", "time travel");
- ``keyword``: a TMDB keyword of it;
- ``description``: a window of one of its descriptions, English or localized (one source's
  words standing for a query about the item).

None of these read the benchmark (``bench/queries``): the benchmark's queries are written
by people, these are generated, and the test in ``tests/recsys/ranking`` checks that no
derived query of the demo equals a benchmark query.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsys.catalog.items import row_titles
from recsys.core.text import search_tokens

KINDS = (
    "title",
    "title_fragment",
    "title_prefix",
    "title_typo",
    "person",
    "tag",
    "keyword",
    "description",
)
TOP_BILLED = 3  # person queries name a director or one of the first-billed actors
MAX_TAGS = 10
WINDOW_WORDS = (4, 12)


def read_tag_texts(path: Path, movielens_ids: dict[int, str]) -> dict[str, list[str]]:
    """MovieLens tags.csv -> item_id -> distinct tags (most used first); {} without a file.
    ``movielens_ids`` maps MovieLens movieId to catalog item_id."""
    if not Path(path).is_file():
        return {}
    tags = pl.read_csv(path, columns=["movieId", "tag"], schema_overrides={"tag": pl.String})
    counted = (
        tags.drop_nulls()
        .with_columns(pl.col("tag").str.strip_chars().str.to_lowercase())
        .filter(pl.col("tag").str.len_chars().is_between(2, 60))
        .group_by("movieId", "tag")
        .len()
        .sort(["movieId", "len", "tag"], descending=[False, True, False])
    )
    out: dict[str, list[str]] = {}
    for movie, tag in counted.select("movieId", "tag").iter_rows():
        item = movielens_ids.get(int(movie))
        if item is not None and len(out.setdefault(item, [])) < MAX_TAGS:
            out[item].append(tag)
    return out


def people_of(row: dict[str, Any]) -> list[str]:
    people = [*(row.get("directors") or []), *(row.get("cast") or [])[:TOP_BILLED]]
    return list(dict.fromkeys(p for p in people if p))


def descriptions_of(row: dict[str, Any]) -> list[str]:
    texts = [row.get("description")]
    texts += [loc.get("description") for loc in row.get("localizations") or []]
    return [t for t in texts if t]


def _fragment(title: str, rng: np.random.Generator) -> str | None:
    words = title.split()
    if len(words) < 2:
        return None
    return " ".join(words[: int(rng.integers(1, len(words)))])


def _prefix(title: str, rng: np.random.Generator) -> str | None:
    if len(title) < 5 or not search_tokens(title):
        return None
    prefix = title[: int(rng.integers(3, len(title)))].rstrip()
    return prefix if len(prefix) >= 3 else None


def _typo(title: str, rng: np.random.Generator) -> str | None:
    """The title with one slip in a long word (never a no-op: swapping "nn" changes
    nothing, so a few tries are made)."""
    words = title.split()
    long = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long:
        return None
    for _ in range(4):
        i = long[int(rng.integers(len(long)))]
        word = _slip(words[i], rng)
        if word != words[i]:
            return " ".join(words[:i] + [word] + words[i + 1 :])
    return None


def _slip(word: str, rng: np.random.Generator) -> str:
    at = int(rng.integers(1, len(word) - 1))
    slip = int(rng.integers(4))
    if slip == 0:  # swap two neighbours
        return word[: at - 1] + word[at] + word[at - 1] + word[at + 1 :]
    if slip == 1:  # drop one
        return word[:at] + word[at + 1 :]
    if slip == 2:  # double one
        return word[:at] + word[at] + word[at:]
    letter = "abcdefghijklmnopqrstuvwxyz"[int(rng.integers(26))]  # replace one
    return word[:at] + letter + word[at + 1 :]


def _window(text: str, rng: np.random.Generator) -> str | None:
    words = text.split()
    if len(words) < WINDOW_WORDS[0]:
        return None
    length = int(rng.integers(WINDOW_WORDS[0], min(WINDOW_WORDS[1], len(words)) + 1))
    start = int(rng.integers(0, len(words) - length + 1))
    return " ".join(words[start : start + length])


def derive_query(
    row: dict[str, Any], tags: list[str], rng: np.random.Generator
) -> tuple[str, str] | None:
    """One (kind, query) for an item: a kind drawn among those the item can give."""
    titles = row_titles(row)
    makers: dict[str, Any] = {
        "title": lambda: titles[int(rng.integers(len(titles)))] if titles else None,
        "title_fragment": lambda: _pick(titles, _fragment, rng),
        "title_prefix": lambda: _pick(titles, _prefix, rng),
        "title_typo": lambda: _pick(titles[:2], _typo, rng),
        "person": lambda: _choice(people_of(row), rng),
        "tag": lambda: tags[int(rng.integers(len(tags)))] if tags else None,
        "keyword": lambda: _choice(row.get("keywords") or [], rng),
        "description": lambda: _pick(descriptions_of(row), _window, rng),
    }
    kinds = list(KINDS)
    rng.shuffle(kinds)
    for kind in kinds:
        query = makers[kind]()
        if query and query.strip():
            return kind, query.strip()
    return None


def _choice(values: list[str], rng: np.random.Generator) -> str | None:
    return values[int(rng.integers(len(values)))] if values else None


def _pick(texts: list[str], make: Any, rng: np.random.Generator) -> str | None:
    order = rng.permutation(len(texts)).tolist()
    for i in order:
        query = make(texts[i], rng)
        if query:
            return str(query)
    return None


def sample_targets(
    counts: np.ndarray, n: int, exponent: float, rng: np.random.Generator
) -> np.ndarray:
    """``n`` item positions drawn with probability proportional to (count + 1) ** exponent:
    0 draws uniformly, 1 in proportion to consumption."""
    weights = np.power(counts.astype(np.float64) + 1.0, exponent)
    return rng.choice(len(counts), size=n, replace=True, p=weights / weights.sum())
