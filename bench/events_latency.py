"""Cost of the feedback path: durable event appends and exposure logging.

    python -m bench.events_latency [--db-dir DIR] [--n 200] [--out FILE]

Measures, on the real SQLite store (WAL, synchronous=FULL, so every append is an fsync):
- validating and appending a batch of 100 events (what ``POST /v1/events`` does before its
  200), and one event;
- ``log_exposure`` as a request handler calls it (build the record and enqueue), which is the
  exposure log's whole cost on the request path;
- how long ``ExposureLogger.close`` takes to drain 5,000 queued exposures (shutdown).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from api.routes.serving import log_exposure
from bench.common import RESULTS_DIR, percentile, run_header, write_json
from recsys.events.schema import validate_events
from recsys.events.store import ExposureLogger, SqliteEventStore


def _stats(ms: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(ms, 50), 4),
        "p99": round(percentile(ms, 99), 4),
        "max": round(max(ms), 4),
    }


def _batch(run: int, size: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"bench-{run}-{i}",
            "type": "click",
            "user_id": f"u{i % 50}",
            "item_id": str(1 + i),
            "request_id": f"r{run}",
            "position": i % 10,
            "ts": "2026-11-20T12:00:00Z",
        }
        for i in range(size)
    ]


def measure(db_dir: Path, n: int) -> dict[str, Any]:
    store = SqliteEventStore(db_dir / "bench-events.sqlite3")
    results: dict[str, Any] = {}
    for size in (100, 1):
        ms = []
        for run in range(n):
            raw = _batch(run * 1000 + size, size)
            started = time.perf_counter()
            store.append_events(validate_events(raw))
            ms.append((time.perf_counter() - started) * 1000)
        results[f"validate_and_append_{size}_events_ms"] = _stats(ms)
    logger = ExposureLogger(store)
    items = [str(i) for i in range(1, 11)]
    ms = []
    for i in range(5000):
        started = time.perf_counter()
        log_exposure(
            logger,
            request_id=f"x{i}",
            route="recommendations",
            user_id=f"u{i % 100}",
            model_version="bench",
            items=items,
            experiment="exp",
            variant="treatment",
        )
        ms.append((time.perf_counter() - started) * 1000)
    results["log_exposure_ms"] = _stats(ms)
    logger.close()
    drain = ExposureLogger(store, max_queue=10_000)
    for i in range(5000):
        log_exposure(
            drain, request_id=f"d{i}", route="search", user_id=None, model_version="b", items=items
        )
    started = time.perf_counter()
    drain.close()
    results["close_drains_5000_exposures_ms"] = round((time.perf_counter() - started) * 1000, 2)
    results["exposures_written"] = store.read_exposures().height
    store.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-dir", type=Path, default=None, help="default: a temp dir")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "events_latency.json")
    args = parser.parse_args(argv)
    header = run_header()
    with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
        results = measure(Path(tmp), args.n)
    for name, value in results.items():
        print(f"{name}: {value}")
    write_json(args.out, {**header, **results})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
