"""Overload: what the service answers when offered twice what it can serve.

    python -m bench.overload --artifacts artifacts [--seconds 60] [--out FILE]

1. Saturation: 1..``--clients`` closed-loop clients search for 10 s each; the best answered
   rate is the saturation throughput S.
2. Overload: an open-loop generator offers ``--factor`` x S requests/s for ``--seconds``
   (each request on its own schedule, whatever the server does; client timeout
   ``--client-timeout-s``). Reported: answered-within-deadline throughput (200s that took at
   most ``--deadline-s``) against S, shed answers (503/504/429) and how fast they came, p50/p99
   of the admitted requests, and failures (timeouts, connection errors).
3. Drain: once the generator stops, how long until the server reports nothing in flight
   (``recsys_requests_in_flight``), i.e. until it stops computing for clients that left.

``recsys serve`` runs in a subprocess with its default settings (1 thread, 8 read requests
in flight, 5 s deadline), the production entry point.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    DEFAULT_QUERIES,
    RESULTS_DIR,
    load_queries,
    percentile,
    recsys_server,
    run_header,
    write_json,
)
from bench.search_latency import free_port

IN_FLIGHT = re.compile(r'^recsys_requests_in_flight\{route_class="read"\} (\S+)$', re.M)


async def closed_loop(base: str, queries: list[str], clients: int, seconds: float) -> float:
    """Answered requests per second with ``clients`` back-to-back clients."""
    done = 0
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def worker(offset: int) -> None:
            nonlocal done
            n = offset
            while time.monotonic() < deadline:
                r = await client.get("/v1/search", params={"q": queries[n % len(queries)]})
                n += clients
                done += r.status_code == 200

        started = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        return done / (time.monotonic() - started)


async def open_loop(
    base: str, queries: list[str], rate: float, seconds: float, timeout_s: float
) -> list[tuple[int, float]]:
    """(status, ms) per request offered at ``rate``/s; status -1: timeout or connection error."""
    results: list[tuple[int, float]] = []
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=timeout_s, limits=limits) as client:

        async def one(n: int) -> None:
            started = time.perf_counter()
            try:
                r = await client.get("/v1/search", params={"q": queries[n % len(queries)]})
                status = r.status_code
            except httpx.HTTPError:
                status = -1
            results.append((status, (time.perf_counter() - started) * 1000))

        tasks = []
        start = time.monotonic()
        n = 0
        while (now := time.monotonic()) < start + seconds:
            due = start + n / rate
            if due > now:
                await asyncio.sleep(due - now)
            tasks.append(asyncio.create_task(one(n)))
            n += 1
        await asyncio.gather(*tasks)
    return results


def drain_seconds(base: str, limit_s: float = 120.0) -> dict[str, float | None]:
    """After the clients stopped: seconds until /metrics shows no read request in flight,
    and until a new search is answered (200) - a server still busy with abandoned work
    answers late, or sheds it."""
    started = time.monotonic()
    out: dict[str, float | None] = {"in_flight_zero_s": None, "next_search_answered_s": None}
    while time.monotonic() - started < limit_s and out["in_flight_zero_s"] is None:
        found = IN_FLIGHT.search(httpx.get(f"{base}/metrics", timeout=limit_s).text)
        if found is not None and float(found.group(1)) == 0:
            out["in_flight_zero_s"] = round(time.monotonic() - started, 2)
        elif found is None:  # a server without the gauge (an older build)
            break
        time.sleep(0.05)
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        answer = httpx.get(f"{base}/v1/search", params={"q": "drain probe"}, timeout=limit_s)
        if answer.status_code == 200:
            out["next_search_answered_s"] = round(time.monotonic() - started, 2)
            break
        time.sleep(0.05)
    return out


def report(results: list[tuple[int, float]], seconds: float, deadline_s: float) -> dict[str, Any]:
    ok = [ms for status, ms in results if status == 200]
    shed = [ms for status, ms in results if status in (429, 503, 504)]
    in_deadline = [ms for ms in ok if ms <= deadline_s * 1000]
    return {
        "offered": len(results),
        "offered_rps": round(len(results) / seconds, 1),
        "answered_200": len(ok),
        "answered_in_deadline_rps": round(len(in_deadline) / seconds, 1),
        "shed": len(shed),
        "shed_by_status": {
            str(code): sum(1 for status, _ in results if status == code) for code in (429, 503, 504)
        },
        "failed": sum(1 for status, _ in results if status == -1),
        "other": sum(1 for status, _ in results if status not in (-1, 200, 429, 503, 504)),
        "admitted_ms": {"p50": round(percentile(ok, 50), 1), "p99": round(percentile(ok, 99), 1)}
        if ok
        else None,
        "shed_ms": {"p50": round(percentile(shed, 50), 1), "p99": round(percentile(shed, 99), 1)}
        if shed
        else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--factor", type=float, default=2.0)
    parser.add_argument("--deadline-s", type=float, default=5.0)
    parser.add_argument("--client-timeout-s", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "overload.json")
    parser.add_argument(
        "--checkout", type=Path, default=None, help="serve this checkout's code (a baseline)"
    )
    args = parser.parse_args(argv)

    header = run_header()
    queries = [q.query for q in load_queries(DEFAULT_QUERIES) if q.kind != "nonsense"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "RECSYS_ARTIFACTS_DIR": str(args.artifacts),
        "RECSYS_EVENTS_DB": str(Path(tempfile.mkdtemp(prefix="recsys-overload-")) / "e.db"),
        "RECSYS_QUERY_CACHE_SIZE": "0",  # every request pays for its encode
    }
    with recsys_server(env, port, cwd=args.checkout) as startup_s:
        asyncio.run(closed_loop(base, queries, 2, 5.0))  # warm-up
        closed, client_cpu = {}, {}
        for n in range(1, args.clients + 1):
            cpu = time.process_time()
            closed[n] = round(asyncio.run(closed_loop(base, queries, n, 10.0)), 1)
            client_cpu[f"closed_{n}"] = round((time.process_time() - cpu) / 10.0, 3)
        saturation = max(closed.values())
        rate = args.factor * saturation
        cpu = time.process_time()
        results = asyncio.run(open_loop(base, queries, rate, args.seconds, args.client_timeout_s))
        client_cpu["overload"] = round((time.process_time() - cpu) / args.seconds, 3)
        drained = drain_seconds(base)
    summary = report(results, args.seconds, args.deadline_s)
    payload = {
        **header,
        "artifacts": str(args.artifacts),
        "startup_s": round(startup_s, 1),
        "saturation_rps": round(saturation, 1),
        "closed_loop_rps_by_clients": closed,
        # cores the load generator itself used (it shares the machine with the server)
        "client_cores_used": client_cpu,
        "factor": args.factor,
        "seconds": args.seconds,
        "deadline_s": args.deadline_s,
        "client_timeout_s": args.client_timeout_s,
        "overload": summary,
        "in_deadline_vs_saturation": round(summary["answered_in_deadline_rps"] / saturation, 3),
        "after_clients_stop": drained,
        "checkout": str(args.checkout or "this one"),
    }
    print(json.dumps({k: v for k, v in payload.items() if k not in header}, indent=2))
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
