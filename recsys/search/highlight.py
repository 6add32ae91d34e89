"""Highlighted snippets: the part of a result's text that matched the query, marked.

A result list is scanned, not read: the words that made a hit match should stand out, and
a long description should show the passage that matched rather than its first line. The
matching mirrors the lexical index, so what is marked is what matched:

- words compare folded (:func:`search_tokens`: NFKC, case, accents, apostrophes, "&" as
  "and"), so "amelie" marks "Amélie";
- the last query word, while still being typed (no trailing space), also marks the words
  it starts ("inter" marks "Interstellar"), from ``MIN_PREFIX_CHARS`` characters;
- words sharing their first ``STEM_CHARS`` characters match, the lexical index's stem
  ("wizards" marks "wizard");
- unsegmented scripts (CJK, Thai) match by the character bigrams :func:`search_tokens`
  makes; the characters of each matching bigram are marked ("千尋" in "千と千尋の神隠し").

The snippet is the text as written, never the folded form: cut to at most ``max_chars``
characters (ellipses included; markup and entities not counted) around the densest
cluster of matches, at word boundaries, with "…" where cut. It is HTML-escaped before the
marks go in, so a title holding "<script>" comes back as "&lt;script&gt;" and the only
markup is ours. (Each piece between marks is escaped on its own: :func:`html.escape` works
character by character, so that is the same as escaping the whole text first.)
"""

from __future__ import annotations

import dataclasses
import functools
import html
import unicodedata
from dataclasses import dataclass

from recsys.core.text import fold, is_unsegmented, is_word_char, search_tokens
from recsys.core.types import Hit
from recsys.search.lexical import LexicalParams

STEM_CHARS = LexicalParams.stem_chars  # words meet as the lexical index's stems do
# texts whose split words are kept (results repeat across queries: the popular titles);
# cached values are shared, so nothing here mutates them
CACHED_TEXTS = 8192
MIN_PREFIX_CHARS = 2  # a spaced-script prefix; one unsegmented character is a unigram
MIN_MAX_CHARS = 10
ELLIPSIS = "…"
MAX_ELISION_CHARS = 4  # d', l', qu', dell'
_APOSTROPHES = "'’`´"  # dropped inside words by fold: "Schindler's" is one word


@dataclass(frozen=True, slots=True)
class Highlight:
    snippet: str  # escaped HTML: the text (or a window of it) with <mark> around matches
    matched_tokens: list[str]  # the query's folded tokens that matched, in query order


@dataclass(frozen=True, slots=True)
class _Word:
    """A word of the text (or one character of an unsegmented run) and its folded tokens."""

    start: int
    end: int
    tokens: tuple[str, ...]
    unsegmented: bool


def highlight(text: str | None, query: str, max_chars: int = 160) -> Highlight | None:
    """``text`` with the words matching ``query`` marked, or None when none match."""
    if max_chars < MIN_MAX_CHARS:
        raise ValueError(f"max_chars must be at least {MIN_MAX_CHARS}, got {max_chars}")
    query_tokens = _query_tokens(query)
    if not text or not query_tokens or not _may_match(text, query_tokens):
        return None
    words = _split_words(text)
    typing = not query[-1].isspace()
    marked, matched = _match(words, query_tokens, typing)
    if not marked:
        return None
    spans = [(words[i].start, words[i].end) for i in sorted(marked)]
    start, end = _window(text, spans, max_chars)
    snippet = _render(text, _merge([s for s in spans if s[0] >= start and s[1] <= end]), start, end)
    return Highlight(snippet=snippet, matched_tokens=[t for t in query_tokens if t in matched])


@functools.lru_cache(maxsize=1024)
def _query_tokens(query: str) -> list[str]:
    return search_tokens(query)


@functools.lru_cache(maxsize=CACHED_TEXTS)
def _folded(text: str) -> str:
    return fold(text)


def _may_match(text: str, query_tokens: list[str]) -> bool:
    """A cheap necessary condition: some query token's stem (or the token itself, for
    unsegmented scripts) occurs in the folded text. Most results' descriptions fail it, and
    then the word-by-word split is skipped."""
    folded = _folded(text)
    return any(
        (token if is_unsegmented(token[0]) else token[:STEM_CHARS]) in folded
        for token in query_tokens
    )


@functools.lru_cache(maxsize=CACHED_TEXTS)
def _split_words(text: str) -> list[_Word]:
    """The words of ``text`` with their offsets: spaced-script words whole (apostrophes
    inside them kept, and what follows an elision too: "d'Amélie" is "damelie" and
    "amelie"), unsegmented scripts one character at a time, "&" as "and"."""
    words: list[_Word] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "&":
            words.append(_Word(i, i + 1, ("and",), False))
            i += 1
        elif not is_word_char(char):
            i += 1
        elif is_unsegmented(char):
            end = _skip_marks(text, i + 1)
            words.append(_Word(i, end, (fold(text[i:end]),), True))
            i = end
        else:
            end = i + 1
            while end < n and (_spaced_char(text[end]) or _inner_apostrophe(text, end)):
                end += 1
            word = text[i:end]
            if word.isascii() and word.isalnum():  # the common case, without the Unicode work
                tokens: tuple[str, ...] = (word.lower(),)
            else:
                tokens = tuple(search_tokens(word) + _elided(word))
            if tokens:
                words.append(_Word(i, end, tokens, False))
            i = end
    return words


def _match(words: list[_Word], query_tokens: list[str], typing: bool) -> tuple[set[int], set[str]]:
    """(indexes of the words to mark, query tokens that matched)."""
    spaced = [t for t in query_tokens if not is_unsegmented(t[0])]
    last = query_tokens[-1]
    prefix = last if typing and last in spaced and len(last) >= MIN_PREFIX_CHARS else None
    stems: dict[str, list[str]] = {}
    for token in spaced:
        stems.setdefault(token[:STEM_CHARS], []).append(token)
    marked: set[int] = set()
    matched: set[str] = set()
    for index, word in enumerate(words):
        if word.unsegmented:
            continue
        for token in word.tokens:
            hits = list(stems.get(token[:STEM_CHARS], []))  # equal words, equal stems
            if prefix is not None and token.startswith(prefix):
                hits.append(prefix)
            if hits:
                marked.add(index)
                matched.update(hits)
    _match_unsegmented(words, set(query_tokens) - set(spaced), marked, matched)
    return marked, matched


def _match_unsegmented(
    words: list[_Word], query_tokens: set[str], marked: set[int], matched: set[str]
) -> None:
    """Mark the characters of query bigrams (and lone query characters) in the text."""
    if not query_tokens:
        return
    for index, word in enumerate(words):
        if not word.unsegmented:
            continue
        char = word.tokens[0]
        if char in query_tokens:
            marked.add(index)
            matched.add(char)
        after = words[index + 1] if index + 1 < len(words) else None
        if after is not None and after.unsegmented and after.start == word.end:
            pair = char + after.tokens[0]
            if pair in query_tokens:
                marked.update((index, index + 1))
                matched.add(pair)


def _window(text: str, spans: list[tuple[int, int]], max_chars: int) -> tuple[int, int]:
    """[start, end) of the text to show: all of it when short enough, else the window
    around the most matches that fits, widened with context and cut at word boundaries."""
    n = len(text)
    if n <= max_chars:
        return 0, n
    budget = max_chars - 2 * len(ELLIPSIS)
    first, last = _densest(spans, budget)
    left, right = spans[first][0], min(spans[last][1], spans[first][0] + budget)
    start = max(0, left - (budget - (right - left)) // 2)
    end = min(n, start + budget)
    start = max(0, end - budget)
    if start > 0:
        while start < left and (_inside_word(text, start) or not is_word_char(text[start])):
            start += 1
    if end < n:
        while end > right and _inside_word(text, end):
            end -= 1
        while end > right and text[end - 1].isspace():
            end -= 1
    return start, end


def _densest(spans: list[tuple[int, int]], budget: int) -> tuple[int, int]:
    """(first, last) indexes of the run of spans that fits in ``budget`` characters and
    holds the most of them; the earliest such run."""
    best = (0, 0)
    last = 0
    for first, (start, _) in enumerate(spans):
        last = max(last, first)
        while last + 1 < len(spans) and spans[last + 1][1] - start <= budget:
            last += 1
        if last - first > best[1] - best[0]:
            best = (first, last)
    return best


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Touching spans as one (the characters of a CJK match get one mark)."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _render(text: str, spans: list[tuple[int, int]], start: int, end: int) -> str:
    pieces = [ELLIPSIS] if start > 0 else []
    at = start
    for left, right in spans:
        pieces += [html.escape(text[at:left]), "<mark>", html.escape(text[left:right]), "</mark>"]
        at = right
    pieces.append(html.escape(text[at:end]))
    if end < len(text):
        pieces.append(ELLIPSIS)
    return "".join(pieces)


def _spaced_char(char: str) -> bool:
    return is_word_char(char) and not is_unsegmented(char)


def _inner_apostrophe(text: str, i: int) -> bool:
    return text[i] in _APOSTROPHES and i + 1 < len(text) and _spaced_char(text[i + 1])


def _elided(word: str) -> list[str]:
    """The word after an elided article or preposition ("d'Amélie", "l'Ours"), if any."""
    cut = max(word.rfind(a) for a in _APOSTROPHES)
    if not 0 < cut <= MAX_ELISION_CHARS or len(word) - cut <= MIN_PREFIX_CHARS:
        return []  # "Schindler's" and "don't" are no elisions
    return search_tokens(word[cut + 1 :])


def _skip_marks(text: str, i: int) -> int:
    while i < len(text) and unicodedata.combining(text[i]):
        i += 1
    return i


def _inside_word(text: str, i: int) -> bool:
    """Would cutting before ``text[i]`` split a word (or a character from its accent)?"""
    if not 0 < i < len(text):
        return False
    if unicodedata.combining(text[i]):
        return True
    before, after = text[i - 1], text[i]
    joins = _spaced_char(before) or before in _APOSTROPHES
    return joins and (_spaced_char(after) or after in _APOSTROPHES)


def highlight_hit(hit: Hit, query: str) -> Hit:
    """The hit with its title and description snippets marked up for the query (fields
    without a match left out; None when neither matches)."""
    marked = {
        name: found.snippet
        for name, text in (("title", hit.title), ("description", hit.description))
        if (found := highlight(text, query)) is not None
    }
    return dataclasses.replace(hit, highlights=marked or None)
