"""Replicas on one machine: ``recsys serve --workers N`` (N = 1, 2) with the event store on
SQLite and on PostgreSQL; search throughput and latency, and event acknowledgements.

    python -m bench.replicas --artifacts artifacts [--seconds 20] [--clients 8] \\
        [--out bench/results/replicas.json]

For each (workers, store): the server starts (``bench.common.recsys_server``), then
``--clients`` closed-loop clients (threads, one keep-alive connection each) send searches for
``--seconds`` (titles of the catalog), then events (batches of 10 plays) for as long. Reported:
answered requests per second, p50 / p99 latency, errors; events acknowledged per second and
the p99 of an acknowledgement. PostgreSQL is a throwaway server started for the run
(``tests/postgres_server.py``: Debian's ``postgresql`` binaries, fsync on).

The load generator runs on the same machine and takes CPU from the server: on 2 cores the
numbers are a floor, and the 1-vs-2 comparison is what they are for.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from bench.common import RESULTS_DIR, percentile, recsys_server, run_header, write_json
from recsys.core.artifacts import resolve_artifact_dir


def closed_loop(
    clients: int, seconds: float, request: Callable[[httpx.Client, int], httpx.Response]
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client_loop(k: int) -> None:
        nonlocal errors
        n = 0
        with httpx.Client(timeout=30) as client:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                try:
                    ok = request(client, k * 1_000_000 + n).status_code < 300
                except httpx.HTTPError:
                    ok = False
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if ok:
                        latencies.append(elapsed)
                    else:
                        errors += 1
                n += 1

    threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "answered_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(percentile(latencies, 50), 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 2) if latencies else None,
        "errors": errors,
    }


def run_one(
    artifacts: Path, workers: int, store: dict[str, str], args: argparse.Namespace, titles: list
) -> dict[str, Any]:
    port = 18_000 + workers * 10 + len(store)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "RECSYS_ARTIFACTS_DIR": str(artifacts),
        "RECSYS_RELOAD_INTERVAL_S": "5",
        "RECSYS_REQUEST_LOG": "",
        "RECSYS_MAX_IN_FLIGHT_READ": "64",
        **store,
    }
    run = uuid.uuid4().hex[:8]
    base = f"http://127.0.0.1:{port}"

    def search(client: httpx.Client, n: int) -> httpx.Response:
        return client.get(f"{base}/v1/search", params={"q": titles[n % len(titles)], "k": 10})

    def events(client: httpx.Client, n: int) -> httpx.Response:
        batch = [
            {"event_id": f"{run}-{n}-{i}", "type": "play", "user_id": f"u{n % 997}",
             "item_id": str(i)}
            for i in range(10)
        ]  # fmt: skip
        return client.post(f"{base}/v1/events", json={"events": batch})

    command_env = dict(env)
    with recsys_server(command_env, port, workers=workers) as ready_s:
        searched = closed_loop(args.clients, args.seconds, search)
        posted = closed_loop(args.clients, args.seconds, events)
    posted["events_acknowledged_per_s"] = round(posted["answered_per_s"] * 10, 1)
    return {"ready_s": round(ready_s, 1), "search": searched, "events": posted}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "replicas.json")
    args = parser.parse_args(argv)
    from tests.postgres_server import PostgresServer, find_bin

    version = resolve_artifact_dir(args.artifacts)
    catalog = pl.read_parquet(version / "catalog.parquet", columns=["title"])
    titles = catalog["title"].sample(500, seed=0, with_replacement=True).to_list()
    bindir = find_bin()
    if bindir is None:
        raise SystemExit("PostgreSQL server binaries not found (apt-get install postgresql)")
    server = PostgresServer(bindir)
    server.start()
    results: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for workers in (1, 2):
                stores = {
                    "sqlite": {"RECSYS_EVENTS_DB": f"{tmp}/events-{workers}.sqlite3"},
                    "postgres": {"RECSYS_EVENTS_URL": server.url},
                }
                for name, store in stores.items():
                    result = run_one(args.artifacts, workers, store, args, titles)
                    results.append({"workers": workers, "store": name, **result})
                    print(results[-1], flush=True)
    finally:
        server.cleanup()
    write_json(args.out, {**run_header(), "artifact": str(version), "runs": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
