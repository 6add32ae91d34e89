"""Search latency, in-process and over HTTP (loopback only).

    python -m bench.search_latency --artifacts DIR [--query-cache N] [--n 300] [--out FILE]

1. In-process: ``Engine.search`` over the query set, cycled to ``--n`` requests after a
   warm-up of 20: p50/p95/p99/mean of the wall time per call, and p50/p99 of the engine's
   own stage timings (``SearchResult.timings_ms``: encode_ms, retrieve_ms).
2. HTTP: ``uvicorn --factory api.app:app_factory`` in a subprocess on 127.0.0.1 and a free
   port; ``startup_s`` is the wall time from spawning it to the first ``/readyz`` 200. Then
   ``--n`` sequential ``GET /v1/search`` requests, and ``--n`` more from 8 concurrent
   workers (throughput in req/s plus p50/p99), then the server is terminated.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    DEFAULT_QUERIES,
    RESULTS_DIR,
    add_query_encoder_option,
    artifact_info,
    load_queries,
    percentile,
    run_header,
    stop_process,
    write_json,
)
from recsys.core.types import SearchRequest

WARMUP = 20
K = 10
HOST = "127.0.0.1"
READY_TIMEOUT_S = 180.0
CONCURRENCY = 8


def summarize(values_ms: list[float], full: bool = True) -> dict[str, float]:
    if not full:
        out = {"p50": percentile(values_ms, 50), "p99": percentile(values_ms, 99)}
    else:
        out = {q: percentile(values_ms, int(q[1:])) for q in ("p50", "p95", "p99")}
        out |= {"mean": sum(values_ms) / len(values_ms), "min": min(values_ms)}
        out |= {"max": max(values_ms)}
    return {key: round(value, 2) for key, value in out.items()}


def request_stream(texts: list[str], n: int) -> list[str]:
    return list(itertools.islice(itertools.cycle(texts), n))


def bench_in_process(engine: Any, texts: list[str], n: int) -> dict[str, Any]:
    for text in request_stream(texts, WARMUP):
        engine.search(SearchRequest(text, k=K))
    wall: list[float] = []
    stages: dict[str, list[float]] = {}
    for text in request_stream(texts, n):
        started = time.perf_counter()
        result = engine.search(SearchRequest(text, k=K))
        wall.append((time.perf_counter() - started) * 1000.0)
        for stage, value in result.timings_ms.items():
            stages.setdefault(stage, []).append(value)
    return {
        "requests": n,
        "warmup": WARMUP,
        "latency_ms": summarize(wall),
        "stages_ms": {stage: summarize(values, full=False) for stage, values in stages.items()},
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_server(artifacts: Path, port: int, query_cache: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env |= {
        "RECSYS_ARTIFACTS_DIR": str(artifacts),
        "RECSYS_HOST": HOST,
        "RECSYS_PORT": str(port),
        "RECSYS_LOG_LEVEL": "warning",
        "RECSYS_QUERY_CACHE_SIZE": str(query_cache),
        # the concurrent phase runs CONCURRENCY clients: admit them all (no shedding), as
        # before admission control existed, so throughput compares like for like
        "RECSYS_MAX_IN_FLIGHT_READ": str(CONCURRENCY),
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.app:app_factory"]
    command += ["--host", HOST, "--port", str(port), "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(command, env=env, cwd=Path(__file__).resolve().parent.parent)


def wait_ready(client: httpx.Client, server: subprocess.Popen[bytes], started: float) -> float:
    """Poll /readyz until 200; return seconds since ``started``. Raises on exit or timeout."""
    while time.perf_counter() - started < READY_TIMEOUT_S:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with code {server.returncode} before ready")
        try:
            if client.get("/readyz", timeout=2.0).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"/readyz not 200 within {READY_TIMEOUT_S:.0f} s")


def timed_get(client: httpx.Client, text: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get("/v1/search", params={"q": text, "k": K})
    return (time.perf_counter() - started) * 1000.0, response.status_code


def http_run(
    client: httpx.Client,
    texts: list[str],
    workers: int,
    get: Callable[[httpx.Client, str], tuple[float, int]] = timed_get,
) -> dict[str, Any]:
    """``get(client, text)`` for every text, from ``workers`` threads sharing the client."""
    started = time.perf_counter()
    if workers == 1:
        results = [get(client, text) for text in texts]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda text: get(client, text), texts))
    elapsed = time.perf_counter() - started
    ok = [ms for ms, status in results if status == 200]
    return {
        "concurrency": workers,
        "requests": len(results),
        "errors": len(results) - len(ok),
        "wall_s": round(elapsed, 2),
        "throughput_rps": round(len(results) / elapsed, 2),
        "latency_ms": summarize(ok) if ok else {},
    }


@contextmanager
def running_server(artifacts: Path, query_cache: int) -> Iterator[tuple[httpx.Client, float]]:
    """A uvicorn server on a free loopback port and a client for it (8 connections), once
    ``/readyz`` answers; yields (client, seconds from spawn to ready) and stops the server."""
    port = free_port()
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    started = time.perf_counter()
    server = start_server(artifacts, port, query_cache)
    try:
        with httpx.Client(base_url=f"http://{HOST}:{port}", limits=limits, timeout=60) as client:
            yield client, wait_ready(client, server, started)
    finally:
        stop_process(server)


def bench_http(artifacts: Path, texts: list[str], n: int, query_cache: int) -> dict[str, Any]:
    with running_server(artifacts, query_cache) as (client, startup_s):
        http_run(client, request_stream(texts, WARMUP), 1)
        sequential = http_run(client, request_stream(texts, n), 1)
        concurrent = http_run(client, request_stream(texts, n), CONCURRENCY)
    return {
        "host": HOST,
        "startup_s": round(startup_s, 2),
        "warmup": WARMUP,
        "sequential": sequential,
        "concurrent": concurrent,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    parser.add_argument("--n", type=int, default=300, help="measured requests per run")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "search_latency.json")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument(
        "--query-cache",
        type=int,
        default=0,
        help="engine query-embedding cache size (default 0: every request encodes its query)",
    )
    add_query_encoder_option(parser)
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be >= 1")
    os.environ["RECSYS_QUERY_ENCODER"] = args.query_encoder  # the HTTP server's, too

    from recsys.core.artifacts import load_manifest
    from recsys.search.options import SearchOptions
    from recsys.service import Engine

    header = run_header()
    texts = [query.query for query in load_queries(args.queries)]
    _, manifest = load_manifest(args.artifacts, verify_checksums=False)
    payload: dict[str, Any] = {
        **header,
        "artifact": {"path": str(args.artifacts), **artifact_info(manifest.to_dict())},
        "queries": {"path": str(args.queries), "distinct": len(texts)},
        "k": K,
        "query_cache_size": args.query_cache,
    }

    started = time.perf_counter()
    engine = Engine.load(
        args.artifacts,
        options=SearchOptions(query_cache_size=args.query_cache),
        query_backend=args.query_encoder,
    )
    payload["query_encoder"] = getattr(engine.searcher.encoder, "backend", "unknown")
    payload["in_process"] = {"engine_load_s": round(time.perf_counter() - started, 2)}
    payload["in_process"] |= bench_in_process(engine, texts, args.n)
    print_section("in-process", payload["in_process"])
    del engine
    gc.collect()

    if not args.skip_http:
        payload["http"] = bench_http(args.artifacts, texts, args.n, args.query_cache)
        print(f"http: startup {payload['http']['startup_s']} s")
        print_section("http sequential", payload["http"]["sequential"])
        print_section(f"http concurrency {CONCURRENCY}", payload["http"]["concurrent"])

    if hasattr(os, "getloadavg"):  # other work on the machine skews the tail latencies
        payload["loadavg_1_5_15m_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


def print_section(name: str, section: dict[str, Any]) -> None:
    latency = section["latency_ms"]
    line = f"{name}: " + ", ".join(f"{key} {value} ms" for key, value in latency.items())
    if "throughput_rps" in section:
        line += f"; {section['throughput_rps']} req/s, {section['errors']} errors"
    print(line)
    for stage, values in section.get("stages_ms", {}).items():
        print(f"  {stage}: p50 {values['p50']} ms, p99 {values['p99']} ms")


if __name__ == "__main__":
    raise SystemExit(main())
