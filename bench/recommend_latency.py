"""Recommendation latency: in-process stages and end-to-end /v1/recommendations over HTTP.

    python -m bench.recommend_latency --artifacts artifacts [--skip-http]

In process, every known user is asked once with a cold user-state cache (the first request
of a user after a restart), then once more (state cached); the stages are the ones
``Engine.recommend`` reports: candidates (all six sources), features (the shared feature
module over ~250 candidates) and rank (LightGBM predict and sort). Cold-start users
(unknown ids) are measured separately. Over HTTP: a uvicorn server on the same artifact,
sequential requests cycling over the known users, then 8 concurrent clients.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import RESULTS_DIR, artifact_info, run_header, write_json
from bench.search_latency import CONCURRENCY, http_run, running_server, summarize
from recsys.core.types import RecommendRequest
from recsys.service import Engine

K = 10


def bench_in_process(engine: Engine, users: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label in ("first_request_per_user", "repeat_request_per_user"):
        wall: list[float] = []
        stages: dict[str, list[float]] = {}
        for user in users:
            started = time.perf_counter()
            result = engine.recommend(RecommendRequest(user, k=K))
            wall.append((time.perf_counter() - started) * 1000.0)
            for stage, value in result.timings_ms.items():
                stages.setdefault(stage, []).append(value)
        out[label] = {
            "requests": len(users),
            "latency_ms": summarize(wall),
            "stages_ms": {stage: summarize(values, full=False) for stage, values in stages.items()},
        }
    cold = []
    for i in range(300):
        started = time.perf_counter()
        engine.recommend(RecommendRequest(f"new-user-{i}", k=K))
        cold.append((time.perf_counter() - started) * 1000.0)
    out["cold_start_users"] = {"requests": len(cold), "latency_ms": summarize(cold)}
    return out


def _get(client: httpx.Client, user: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get("/v1/recommendations", params={"user_id": user, "k": K})
    return (time.perf_counter() - started) * 1000.0, response.status_code


def bench_http(artifacts: Path, users: list[str]) -> dict[str, Any]:
    with running_server(artifacts, 4096) as (client, startup_s):
        first = http_run(client, users, 1, _get)  # every user's first request after start
        again = http_run(client, users, 1, _get)
        concurrent = http_run(client, users, CONCURRENCY, _get)
    return {
        "startup_s": round(startup_s, 2),
        "sequential_first_request": first,
        "sequential_repeat": again,
        "concurrent": concurrent,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "recommend_latency.json")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args(argv)
    engine = Engine.load(args.artifacts)
    assert engine.recommender is not None
    warmup, *users = engine.recommender.log.users
    engine.recommend(RecommendRequest(warmup, k=K))  # warm up the LightGBM predictor; not measured
    payload: dict[str, Any] = {**run_header(), "artifact": artifact_info(engine.manifest)}
    payload["in_process"] = bench_in_process(engine, users)
    if not args.skip_http:
        payload["http"] = bench_http(args.artifacts, users)
    write_json(args.out, payload)
    print(json.dumps({k: v for k, v in payload.items() if k in ("in_process", "http")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
