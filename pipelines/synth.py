"""``recsys synth``: a synthetic data directory in the raw layout of ``data/``, at any size.

The real pipelines run on it unchanged (``recsys build --data OUT``), so every stage can be
measured at sizes the demo does not reach. Seeded: the same arguments write the same files.

What it plants, so that a learned ranker has something to find:

* **Topics.** Every item has one of ``TOPICS`` topics. A topic owns a genre pair and a
  vocabulary of pseudo-words; an item's description draws most of its words from its
  topic's vocabulary, the rest from a shared one.
* **Titles** of 1-5 pseudo-words, mostly Latin, some Cyrillic, kana, Hangul, Devanagari or
  CJK (then with a Latin display title and the native original title); 2% reuse another
  item's title (remakes, duplicates), and 3% of the movies reappear in the Netflix file.
* **Popularity** is Zipf-like over items (a long tail); **user activity** follows a power law
  (minimum 5 ratings).
* **Taste.** Each user has a favourite topic: 70% of their ratings are drawn from it (by
  popularity), 30% from the whole catalog. Ratings of favourite-topic items centre on 4.2,
  others on 2.8.

Layout written (the files ``recsys.catalog.ingest`` reads; the optional ones too):
``movielens/{movies,links,ratings}.csv``, ``the_movies_dataset/movies_metadata_small.csv``,
``netflix_titles/netflix_titles.csv``, ``tmdb_language_specific/top10_<lang>_films.csv``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

TOPICS = 40
WORDS_PER_TOPIC = 60
SHARED_WORDS = 400
GENRES = (  # MovieLens names; each topic gets a pair
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
)  # fmt: skip
SYLLABLES = {
    "en": ["ka", "lo", "mi", "ran", "tor", "vel", "shi", "dan", "bre", "ost", "cal", "mur", "en"],
    "ru": ["ка", "ло", "ми", "ран", "тор", "вел", "шо", "дан", "бре", "ост"],
    "ja": ["か", "の", "み", "ら", "と", "べ", "し", "だ", "ぶ", "お"],
    "ko": ["가", "로", "미", "란", "토", "벨", "시", "단", "브", "오"],
    "hi": ["क", "लो", "मि", "रा", "तो", "वे", "शि", "दा", "ब्रे", "ओ"],
    "zh": ["山", "水", "风", "月", "龙", "花", "城", "夜", "心", "海"],
}
SCRIPT_SHARE = {"en": 0.8, "ru": 0.05, "ja": 0.05, "ko": 0.04, "hi": 0.03, "zh": 0.03}
LOCALIZED = ("french", "spanish", "italian")  # tmdb_language_specific/top10_<language>_films
MATURITY = ("TV-MA", "TV-14", "TV-PG", "TV-G", "TV-Y", "R", "PG-13", "PG")


@dataclass(frozen=True)
class SynthSpec:
    items: int
    users: int
    interactions: int
    seed: int = 0
    tv_share: float = 0.15  # items that are Netflix-only TV shows

    def __post_init__(self) -> None:
        if self.items < 10 or self.users < 1 or self.interactions < self.users:
            raise ValueError("need items >= 10, users >= 1 and interactions >= users")


def _words(rng: np.random.Generator, lang: str, n: int) -> list[str]:
    syllables = SYLLABLES[lang]
    counts = rng.integers(2, 4, n)
    picks = rng.integers(0, len(syllables), counts.sum())
    out, at = [], 0
    for c in counts.tolist():
        out.append("".join(syllables[i] for i in picks[at : at + c]))
        at += c
    return out


def _titles(
    rng: np.random.Generator, n: int, vocab: list[str]
) -> tuple[list[str], list[str], list[str]]:
    """Display titles (Latin), original titles (native script) and original languages."""
    langs = rng.choice(list(SCRIPT_SHARE), n, p=list(SCRIPT_SHARE.values()))
    lengths = rng.choice([1, 2, 2, 3, 3, 4, 5], n)
    words = rng.integers(0, len(vocab), lengths.sum())
    display, at = [], 0
    for length in lengths.tolist():
        display.append(" ".join(vocab[i] for i in words[at : at + length]).title())
        at += length
    remakes = rng.random(n) < 0.02
    display = [
        display[int(rng.integers(0, n))] if r else t for t, r in zip(display, remakes, strict=True)
    ]
    original = [
        t if lang == "en" else " ".join(_words(rng, str(lang), len(t.split())))
        for t, lang in zip(display, langs.tolist(), strict=True)
    ]
    return display, original, langs.tolist()


def _descriptions(rng: np.random.Generator, topics: np.ndarray, topic_vocab: list[list[str]],
                  shared: list[str]) -> list[str]:  # fmt: skip
    lengths = rng.integers(12, 40, len(topics))
    out = []
    for topic, length in zip(topics.tolist(), lengths.tolist(), strict=True):
        own = rng.random(length) < 0.6
        words = [
            topic_vocab[topic][int(rng.integers(0, WORDS_PER_TOPIC))] if o
            else shared[int(rng.integers(0, len(shared)))]
            for o in own.tolist()
        ]  # fmt: skip
        out.append(" ".join(words).capitalize() + ".")
    return out


def catalog(spec: SynthSpec, rng: np.random.Generator) -> pl.DataFrame:
    """One row per item: id, kind, title, original title and language, year, topic, genres,
    description, popularity weight."""
    n = spec.items
    shared = _words(rng, "en", SHARED_WORDS)
    topic_vocab = [_words(rng, "en", WORDS_PER_TOPIC) for _ in range(TOPICS)]
    topics = rng.integers(0, TOPICS, n)
    display, original, langs = _titles(rng, n, shared + sum(topic_vocab, []))
    genre_pairs = [
        (GENRES[t % len(GENRES)], GENRES[(3 * t + 5) % len(GENRES)]) for t in range(TOPICS)
    ]
    weight = 1.0 / np.power(rng.permutation(n) + 1.0, 1.1)  # Zipf-like, random order
    return pl.DataFrame(
        {
            "movie_id": np.arange(1, n + 1),
            "kind": np.where(rng.random(n) < spec.tv_share, "tv", "movie"),
            "title": display,
            "original_title": original,
            "original_language": langs,
            "year": rng.normal(2003, 14, n).clip(1930, 2025).astype(np.int32),
            "topic": topics,
            "genres": ["|".join(genre_pairs[t]) for t in topics.tolist()],
            "description": _descriptions(rng, topics, topic_vocab, shared),
            "weight": weight / weight.sum(),
        }
    )


def interactions(spec: SynthSpec, items: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Ratings of the movies: power-law users, each 70% in a favourite topic."""
    movies = items.filter(pl.col("kind") == "movie")
    ids, topics = movies["movie_id"].to_numpy(), movies["topic"].to_numpy()
    weight = movies["weight"].to_numpy()
    activity = rng.pareto(1.2, spec.users) + 1.0
    per_user = np.maximum(5, np.round(activity / activity.sum() * spec.interactions)).astype(
        np.int64
    )
    users = np.repeat(np.arange(1, spec.users + 1), per_user)
    taste = rng.integers(0, TOPICS, spec.users)[users - 1]
    in_taste = rng.random(len(users)) < 0.7
    chosen = _sample(rng, weight, len(users))
    for topic in range(TOPICS):
        rows = np.flatnonzero(in_taste & (taste == topic))
        members = np.flatnonzero(topics == topic)
        if len(rows) and len(members):
            chosen[rows] = members[_sample(rng, weight[members], len(rows))]
    liked = topics[chosen] == taste
    rating = np.where(liked, rng.normal(4.2, 0.6, len(users)), rng.normal(2.8, 0.9, len(users)))
    rating = (np.round(rating.clip(0.5, 5.0) * 2) / 2).astype(np.float32)
    # each user starts in 2000..2019 and rates every ~3 days, slower for very active users
    # so that every timeline ends before 2020-01-01
    start = rng.integers(946_684_800, 1_546_300_800, spec.users)
    mean_gap = np.minimum(86_400 * 3, (_END - start) / per_user)
    gaps = (rng.exponential(1.0, len(users)) * mean_gap[users - 1]).astype(np.int64)
    start = start[users - 1]
    first = np.concatenate([[0], np.cumsum(per_user)[:-1]])
    ts = start + np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[first], per_user)
    return pl.DataFrame(
        {"userId": users, "movieId": ids[chosen], "rating": rating, "timestamp": ts}
    )


_END = 1_577_836_800  # 2020-01-01


def _sample(rng: np.random.Generator, weight: np.ndarray, n: int) -> np.ndarray:
    cumulative = np.cumsum(weight)
    return np.searchsorted(cumulative, rng.random(n) * cumulative[-1]).clip(0, len(weight) - 1)


def write_data_dir(spec: SynthSpec, out: Path) -> dict[str, Any]:
    """Write the layout under ``out`` (which must not exist), atomically; returns a summary."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} already exists; choose a new directory")
    started = time.perf_counter()
    rng = np.random.default_rng(spec.seed)
    items = catalog(spec, rng)
    ratings = interactions(spec, items, rng)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        _write(staging, items, ratings, rng)
        summary = {
            "spec": spec.__dict__,
            "items": items.height,
            "movies": int((items["kind"] == "movie").sum()),
            "tv_shows": int((items["kind"] == "tv").sum()),
            "ratings": ratings.height,
            "seconds": round(time.perf_counter() - started, 2),
        }
        (staging / "SYNTH.json").write_text(json.dumps(summary, indent=2) + "\n")
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary


def _write(
    root: Path, items: pl.DataFrame, ratings: pl.DataFrame, rng: np.random.Generator
) -> None:
    for sub in ("movielens", "the_movies_dataset", "netflix_titles", "tmdb_language_specific"):
        (root / sub).mkdir()
    movies = items.filter(pl.col("kind") == "movie")
    tmdb = pl.col("movie_id") + 100_000
    movies.select(
        pl.col("movie_id").alias("movieId"),
        pl.format("{} ({})", "title", "year").alias("title"),
        "genres",
    ).write_csv(root / "movielens/movies.csv")
    movies.select(
        pl.col("movie_id").alias("movieId"),
        pl.col("movie_id").cast(pl.Utf8).str.zfill(7).alias("imdbId"),
        tmdb.alias("tmdbId"),
    ).write_csv(root / "movielens/links.csv")
    ratings.write_csv(root / "movielens/ratings.csv")
    genre_literal = (
        pl.col("genres")
        .str.split("|")
        .list.eval(pl.concat_str(pl.lit("{'id': 1, 'name': '"), pl.element(), pl.lit("'}")))
        .list.join(", ")
    )
    movies.select(
        tmdb.alias("id"),
        "title",
        "original_title",
        "original_language",
        pl.col("description").alias("overview"),
        pl.concat_str(pl.lit("["), genre_literal, pl.lit("]")).alias("genres"),
        (pl.col("weight") * 1e6).round(3).alias("popularity"),
        pl.format("{}-06-15", "year").alias("release_date"),
    ).write_csv(root / "the_movies_dataset/movies_metadata_small.csv")
    _write_netflix(root, items, rng)
    _write_localized(root, movies, rng)


def _write_netflix(root: Path, items: pl.DataFrame, rng: np.random.Generator) -> None:
    shows = items.filter(pl.col("kind") == "tv").with_columns(pl.lit("TV Show").alias("type"))
    movies = items.filter(pl.col("kind") == "movie")
    again = movies.filter(pl.Series(rng.random(movies.height) < 0.03))  # also on Netflix
    rows = pl.concat([shows, again.with_columns(pl.lit("Movie").alias("type"))])
    rows.select(
        pl.format("s{}", "movie_id").alias("show_id"),
        "type",
        "title",
        pl.lit("").alias("director"),
        pl.lit("").alias("cast"),
        pl.lit("").alias("country"),
        pl.lit("").alias("date_added"),
        "year",
        pl.Series("rating", rng.choice(MATURITY, rows.height)),
        pl.when(pl.col("type") == "Movie")
        .then(pl.lit("95 min"))
        .otherwise(pl.lit("2 Seasons"))
        .alias("duration"),
        pl.col("genres").str.replace_all("|", ", ", literal=True).alias("listed_in"),
        "description",
    ).rename({"year": "release_year"}).write_csv(root / "netflix_titles/netflix_titles.csv")


def _write_localized(root: Path, movies: pl.DataFrame, rng: np.random.Generator) -> None:
    for lang in LOCALIZED:
        some = movies.filter(pl.Series(rng.random(movies.height) < 0.02))
        some.select(
            (pl.col("movie_id") + 100_000).alias("id"),
            pl.format("{} ({})", "title", pl.lit(lang[:2])).alias("title"),
            pl.format("[{}] {}", pl.lit(lang[:2]), "description").alias("overview"),
            pl.format("{}-06-15", "year").alias("release_date"),
            (pl.col("weight").rank(descending=True) % 50 / 10 + 4).round(1).alias("vote_average"),
        ).write_csv(root / f"tmdb_language_specific/top10_{lang}_films.csv", separator=";")
