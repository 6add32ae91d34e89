"""Synthetic, *structured* MovieLens interactions for the personalization tests.

``write_ratings(data_dir)`` writes ``movielens/ratings.csv`` into a copy of a data dir (the
tiny fixture ``tests/ingest/fixtures/data`` has movies.csv and links.csv but no ratings),
for the movieIds of its ``movies.csv``:

* two taste groups that prefer disjoint sets of movies, split by genre: group ``a``
  ("grounded" crime/drama: Goodfellas, Fight Club, Hamlet, ...) and group ``b`` (fantasy,
  animation, science fiction: Toy Story, Spirited Away, Twelve Monkeys, ...);
* 40 generated users (16 in ``a``, 24 in ``b``, so group ``b``'s movies are the popular
  ones and a popularity list is *not* what an ``a`` user should get); each rates most of
  their group's movies (high ratings) and up to two of the other group's (low ratings;
  at least one for group ``a`` users), 5 to 8 ratings in all, at strictly increasing
  timestamps spread over two years;
* user ``"1"`` (group ``a``) and user ``"100"`` (group ``b``), each with a known fixed
  history of two movies of their group (so the rest of it remains for them to discover);
* movies with no genres (``(no genres listed)``) are never rated: a "new" item only the
  content sources can reach.

The fixture has only 12 MovieLens movies (11 rated), so users rate 5-8 of them: that keeps
the groups apart while every generated user still has ``holdout + min_history`` = 5
consumptions for the temporal split of ``small_config()``.

``small_config()`` is a ``RecsysConfig`` small enough for the ranker to train in a second
on this data; ``write_config_toml(path)`` writes the same configuration as TOML for the CLI.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from recsys.ranking.rankers import LightGBMParams
from recsys.recommend.candidates import CandidateConfig
from recsys.recommend.config import CFConfig, RecsysConfig, SearchTrainingConfig, SplitConfig

FIXTURE_DATA = Path(__file__).resolve().parent / "recsys/catalog/ingest/fixtures/data"
KNOWN_USER = "1"  # group a
KNOWN_USER_B = "100"  # group b
DAY = 86_400
YEAR = 365 * DAY
T0 = 1_577_836_800  # 2020-01-01T00:00:00Z
N_GROUP_A = 16
N_GROUP_B = 24
# group "a": grounded crime / drama; anything imaginative goes to group "b"
A_GENRES = frozenset({"Crime", "Drama"})
B_GENRES = frozenset({"Animation", "Children", "Fantasy", "Sci-Fi", "Mystery", "Comedy"})
NO_GENRES = "(no genres listed)"


def read_movies(data_dir: Path) -> dict[int, tuple[str, list[str]]]:
    """movieId -> (title, genres) for the well-formed rows of movielens/movies.csv (the
    first row of a duplicated id wins, as in the catalog build)."""
    out: dict[int, tuple[str, list[str]]] = {}
    with (Path(data_dir) / "movielens" / "movies.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            raw_id, title = (row.get("movieId") or "").strip(), (row.get("title") or "").strip()
            if not raw_id.isdigit() or not title or int(raw_id) in out:
                continue
            genres = [g for g in (row.get("genres") or "").split("|") if g]
            out[int(raw_id)] = (title, genres)
    return out


def split_groups(
    movies: dict[int, tuple[str, list[str]]],
) -> tuple[list[int], list[int], list[int]]:
    """(group a, group b, never rated) movieIds, each sorted."""
    group_a, group_b, unrated = [], [], []
    for movie_id, (_title, genres) in sorted(movies.items()):
        if not genres or genres == [NO_GENRES]:
            unrated.append(movie_id)
        elif set(genres) & A_GENRES and not set(genres) & B_GENRES:
            group_a.append(movie_id)
        else:
            group_b.append(movie_id)
    if len(group_a) < 3 or len(group_b) < 3:  # another movies.csv: fall back to halves
        rated = group_a + group_b
        group_a, group_b = sorted(rated[: len(rated) // 2]), sorted(rated[len(rated) // 2 :])
    return group_a, group_b, unrated


def write_ratings(data_dir: Path, seed: int = 0) -> dict[str, Any]:
    """Write ``<data_dir>/movielens/ratings.csv``; returns what the tests need to know:

    ``group_a`` / ``group_b`` / ``unrated``: movieIds (as catalog item ids, str) per group;
    ``users_a`` / ``users_b``: user ids per group (``known_user`` is in group a, listed
    separately); ``known_user`` and ``known_history`` (its item ids, oldest first);
    ``ratings``: {user_id: [(item_id, ts, rating), ...]} oldest first;
    ``t_min`` / ``t_max``: the first and last timestamp; ``path``: the file written.
    """
    data_dir = Path(data_dir)
    movies = read_movies(data_dir)
    group_a, group_b, unrated = split_groups(movies)
    rng = np.random.default_rng(seed)
    ratings: dict[str, list[tuple[int, int, float]]] = {}

    # the known users: two movies of their group each, a fixed history
    known = [(group_a[0], T0 + 100 * DAY, 5.0), (group_a[-2], T0 + 200 * DAY, 4.5)]
    ratings[KNOWN_USER] = known
    known_b = [(group_b[0], T0 + 150 * DAY, 4.5), (group_b[-1], T0 + 250 * DAY, 5.0)]
    ratings[KNOWN_USER_B] = known_b

    users_a = [str(i) for i in range(2, 2 + N_GROUP_A)]
    users_b = [str(i) for i in range(2 + N_GROUP_A, 2 + N_GROUP_A + N_GROUP_B)]
    for users, mine, other, min_other in (
        (users_a, group_a, group_b, 1),
        (users_b, group_b, group_a, 0),
    ):
        for user in users:
            n_mine = int(rng.integers(max(3, len(mine) - 1), len(mine) + 1))
            n_other = int(rng.integers(min_other, 3))
            liked = rng.choice(mine, size=min(n_mine, len(mine)), replace=False)
            disliked = rng.choice(other, size=min(n_other, len(other)), replace=False)
            chosen = [(int(m), float(rng.choice([4.0, 4.5, 5.0]))) for m in liked]
            chosen += [(int(m), float(rng.choice([1.0, 1.5, 2.0]))) for m in disliked]
            order = rng.permutation(len(chosen))
            start = T0 + int(rng.integers(0, YEAR))
            offsets = np.sort(rng.choice(YEAR, size=len(chosen), replace=False))
            ratings[user] = [
                (chosen[i][0], start + int(offset), chosen[i][1])
                for i, offset in zip(order.tolist(), offsets.tolist(), strict=True)
            ]

    path = data_dir / "movielens" / "ratings.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["userId", "movieId", "rating", "timestamp"])
        for user, rows in ratings.items():
            for movie_id, ts, rating in rows:
                writer.writerow([user, movie_id, f"{rating:.1f}", ts])
    all_ts = [ts for rows in ratings.values() for _m, ts, _r in rows]
    return {
        "path": path,
        "group_a": [str(m) for m in group_a],
        "group_b": [str(m) for m in group_b],
        "unrated": [str(m) for m in unrated],
        "users_a": users_a,
        "users_b": users_b,
        "known_user": KNOWN_USER,
        "known_history": [str(m) for m, _ts, _r in known],
        "known_user_b": KNOWN_USER_B,
        "known_history_b": [str(m) for m, _ts, _r in known_b],
        "ratings": {u: [(str(m), ts, r) for m, ts, r in rows] for u, rows in ratings.items()},
        "t_min": min(all_ts),
        "t_max": max(all_ts),
    }


def small_config() -> RecsysConfig:
    """Small split and ranker settings: the LightGBM ranker trains (in well under a second)
    on the 40 users of ``write_ratings``."""
    return RecsysConfig(
        candidates=CandidateConfig(),
        cf=CFConfig(ease_l2=10.0, ease_min_count=2),
        split=SplitConfig(holdout=2, min_history=3, valid_share=0.2),
        ranker=LightGBMParams(
            num_boost_round=20,
            min_data_in_leaf=5,
            early_stopping_rounds=10,
            num_threads=1,
        ),
        search_training=SearchTrainingConfig(queries_per_user=3, candidates=50),
    )


SMALL_CONFIG_TOML = """\
# tests/personalization_data.py small_config(), for `recsys evaluate --config`
[cf]
ease_l2 = 10.0
ease_min_count = 2

[split]
holdout = 2
min_history = 3
valid_share = 0.2

[ranker]
num_boost_round = 20
min_data_in_leaf = 5
early_stopping_rounds = 10
num_threads = 1

[search_training]
queries_per_user = 3
candidates = 50
"""


def write_config_toml(path: Path) -> Path:
    """``small_config()`` as a TOML file (``RecsysConfig.load(path) == small_config()``)."""
    path = Path(path)
    path.write_text(SMALL_CONFIG_TOML, encoding="utf-8")
    return path
