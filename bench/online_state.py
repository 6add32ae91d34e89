"""Online user state over HTTP: how fast feedback becomes visible, what it costs a request,
and what the state weighs.

    python -m bench.online_state --artifacts DIR [--trials 100] [--out FILE]

On a fresh server (its own empty event store) over the artifact:

1. **Without fresh events.** ``GET /v1/recommendations`` once for each of ``--trials`` known
   users (after a warm-up on other users): p50/p99.
2. **Event to visible.** For each of those users: take the first recommended item, then time
   ``POST /v1/events`` (a play of it) plus the next ``GET``, and check the item is gone
   (consumed items are excluded) on that very request.
3. **With fresh events.** The same users once more, now with an event after the snapshot.
4. **New users.** ``--trials`` unknown ids post two plays each; the next page must not be a
   cold start.
5. **Memory.** In process: ``OnlineHistories`` filled with 10,000 users x 20 plays of
   random catalog items, measured with tracemalloc.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl

from bench.common import RESULTS_DIR, artifact_info, run_header, write_json
from bench.search_latency import running_server, summarize

K = 10
WARMUP = 20


def recommend(client: httpx.Client, user: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = client.get("/v1/recommendations", params={"user_id": user, "k": K})
    response.raise_for_status()
    return (time.perf_counter() - started) * 1000.0, response.json()


def play(client: httpx.Client, user: str, item: str) -> float:
    started = time.perf_counter()
    event = {"event_id": uuid.uuid4().hex, "type": "play", "user_id": user, "item_id": item}
    client.post("/v1/events", json={"events": [event]}).raise_for_status()
    return (time.perf_counter() - started) * 1000.0


def feedback_trials(client: httpx.Client, users: list[str]) -> dict[str, Any]:
    before = [recommend(client, user) for user in users]
    visible, post_ms, total_ms = 0, [], []
    for user, (_, page) in zip(users, before, strict=True):
        item = page["items"][0]["item_id"]
        started = time.perf_counter()
        post_ms.append(play(client, user, item))
        _, after = recommend(client, user)
        total_ms.append((time.perf_counter() - started) * 1000.0)
        visible += item not in [i["item_id"] for i in after["items"]]
    with_events = [recommend(client, user)[0] for user in users]
    return {
        "without_fresh_events_ms": summarize([ms for ms, _ in before]),
        "with_fresh_events_ms": summarize(with_events),
        "event_to_visible_ms": summarize(total_ms),
        "post_event_ms": summarize(post_ms),
        "visible_on_next_request": f"{visible}/{len(users)}",
    }


def new_users(client: httpx.Client, items: list[str], n: int) -> dict[str, Any]:
    personalized = 0
    for i in range(n):
        user = f"bench-new-{uuid.uuid4().hex[:8]}"
        for item in items[2 * i : 2 * i + 2]:
            play(client, user, item)
        personalized += not recommend(client, user)[1]["cold_start"]
    return {"users": n, "personalized_after_two_plays": personalized}


def memory(catalog: pl.DataFrame, users: int = 10_000, plays: int = 20) -> dict[str, Any]:
    from recsys.recommend.online import OnlineHistories

    rng = np.random.default_rng(0)
    ids = catalog["item_id"].to_list()
    base = 1_700_000_000
    frame = pl.DataFrame(
        {
            "event_id": [str(i) for i in range(users * plays)],
            "type": "play",
            "user_id": [f"u{i // plays}" for i in range(users * plays)],
            "item_id": [ids[j] for j in rng.integers(0, len(ids), users * plays).tolist()],
            "request_id": None,
            "position": None,
            "ts": pl.Series(base + np.arange(users * plays)).cast(pl.Int64),
            "value": None,
            "received_at": None,
        }
    )
    online = OnlineHistories(catalog, {item: i for i, item in enumerate(ids)})
    tracemalloc.start()
    online.observe(frame)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stats = online.stats()
    return {
        **stats,
        "traced_bytes": current,
        "traced_peak_bytes": peak,
        "bytes_per_consumption": round(current / max(stats["consumptions"], 1), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "online_state.json")
    args = parser.parse_args(argv)

    from recsys.core.artifacts import load_manifest

    directory, manifest = load_manifest(args.artifacts, verify_checksums=False)
    interactions = pl.read_parquet(directory / "interactions.parquet", columns=["user_id"])
    known = sorted(set(interactions["user_id"].to_list()))
    rng = np.random.default_rng(1)
    chosen = [known[i] for i in rng.permutation(len(known))[: args.trials + WARMUP].tolist()]
    catalog = pl.read_parquet(directory / "catalog.parquet", columns=["item_id"])
    payload: dict[str, Any] = {**run_header(), "artifact": artifact_info(manifest.to_dict())}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RECSYS_EVENTS_DB"] = str(Path(tmp) / "events.sqlite3")
        os.environ["RECSYS_EXPERIMENTS_PATH"] = ""  # the default ranker for everyone
        with running_server(args.artifacts, 0) as (client, startup_s):
            for user in chosen[:WARMUP]:
                recommend(client, user)
            payload["startup_s"] = round(startup_s, 2)
            payload["http"] = feedback_trials(client, chosen[WARMUP:])
            popular = catalog["item_id"].to_list()[: 2 * args.trials]
            payload["new_users"] = new_users(client, popular, args.trials)
            payload["metrics"] = [
                line
                for line in client.get("/metrics").text.splitlines()
                if line.startswith("recsys_online_")
            ]
    payload["memory_10k_users"] = memory(catalog)
    for key, value in payload["http"].items():
        print(f"{key}: {value}")
    print(f"new users: {payload['new_users']}")
    print(f"memory: {payload['memory_10k_users']}")
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
