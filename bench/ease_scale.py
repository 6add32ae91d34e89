"""EASE at scale: fit time, peak memory and coverage of the capped model on a synthetic set.

    recsys synth --items 100000 --users 10000 --interactions 2000000 --out /tmp/syn100k
    python -m bench.ease_scale /tmp/syn100k 20000

Prints one JSON line: the items with 2+ ratings, the float64 size an uncapped dense model
would need, the cap, fit seconds, peak RSS and the share of ratings on the kept items.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys.recommend.cf.ease import fit_ease


def main(argv: list[str]) -> int:
    data, cap = Path(argv[0]), int(argv[1])
    ratings = pl.read_csv(data / "movielens/ratings.csv")
    movies = pl.read_csv(data / "movielens/movies.csv", columns=["movieId"])
    column = {m: i for i, m in enumerate(movies["movieId"].to_list())}
    users = ratings["userId"].rank("dense").cast(pl.Int64).to_numpy() - 1
    items = np.array([column[m] for m in ratings["movieId"].to_list()])
    shape = (int(users.max()) + 1, len(column))
    X = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=shape)
    X.data[:] = 1.0  # a repeated rating is one interaction
    counts = np.asarray(X.getnnz(axis=0)).ravel()
    active = int((counts >= 2).sum())
    started = time.perf_counter()
    model = fit_ease(X, 500.0, 2, max_items=cap)
    report = {
        "users": shape[0],
        "items": shape[1],
        "ratings": len(users),
        "items_with_2plus": active,
        "uncapped_dense_gb_float64": round(active**2 * 8 / 1e9, 1),
        "cap": cap,
        "kept": int(model.items.size),
        "fit_s": round(time.perf_counter() - started, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
        "ratings_on_kept_items": round(float(counts[model.items].sum() / counts.sum()), 3),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
