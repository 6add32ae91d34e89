"""Overload: what the service answers when offered twice what it can serve.

    python -m bench.overload --artifacts artifacts [--seconds 60] [--client lean|httpx]

1. Saturation: 1..``--clients`` closed-loop clients search for 10 s each; the best answered
   rate is the saturation throughput S.
2. Overload: an open-loop generator offers ``--factor`` x S requests/s for ``--seconds``
   (each request on its own schedule, whatever the server does; client timeout
   ``--client-timeout-s``). Reported: answered-within-deadline throughput (200s that took at
   most ``--deadline-s``) against S, shed answers (503/504/429) and how fast they came, p50/p99
   of the admitted requests, and failures (timeouts, connection errors).
3. Drain: once the generator stops, how long until the server reports nothing in flight
   (``recsys_requests_in_flight``), i.e. until it stops computing for clients that left.
4. Bracketing: the best closed loop of step 1 again for ``--bracket-seconds`` just before
   step 2 and just after step 3. The overload's throughput is also reported against their
   mean: a maximum over short runs is biased upwards by the machine's noise, and the
   bracket cancels a drift of the machine's speed over the minutes of the run.
5. Paired rounds (``--rounds N``, off by default): N short pairs of the best closed loop and
   the open loop at ``--factor`` x that pair's own closed-loop rate, ``--round-seconds`` each,
   in alternating order (closed first, then overload first: a linear drift cancels). The
   ratio answered-in-deadline / saturation per pair, then their mean with a bootstrap 95%
   interval: the machine's drift moves both halves of a pair together.

The load generator shares the machine with the server, so it is the lean client of
``bench.http_load`` by default (``--client httpx`` for the earlier one); the cores it and the
whole machine used are reported per phase. ``--server-cpus 0`` pins the server to CPU 0 and
the load generator to the other CPUs, so that neither takes the other's core: a separate
client machine, approximated on one (saturation is measured with the same split).
``recsys serve`` runs in a subprocess with its default settings (1 thread, usable cores + 1
read requests in flight, 5 s deadline), the production entry point.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from bench.common import (
    DEFAULT_QUERIES,
    RESULTS_DIR,
    load_queries,
    percentile,
    recsys_server,
    run_header,
    server_settings,
    write_json,
)
from bench.http_load import CONNECTION_ERROR, TIMEOUT, LoadClient
from bench.search_latency import free_port

SHED = (429, 503, 504)
IN_FLIGHT = re.compile(r'^recsys_requests_in_flight\{route_class="read"\} (\S+)$', re.M)


Get = Callable[[str], Awaitable[tuple[int, float]]]


@asynccontextmanager
async def search_client(base: str, kind: str, timeout_s: float) -> AsyncIterator[Get]:
    """``get(query) -> (status, ms)`` for GET /v1/search (status -1: timeout, -2: connection
    error), over the lean client (``bench.http_load``) or httpx."""
    if kind == "lean":
        url = urlsplit(base)
        lean = LoadClient(url.hostname or "127.0.0.1", url.port or 80, timeout_s)

        async def lean_get(query: str) -> tuple[int, float]:
            return await lean.get("/v1/search", {"q": query})

        try:
            yield lean_get
        finally:
            await lean.aclose()
        return
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=timeout_s, limits=limits) as client:

        async def httpx_get(query: str) -> tuple[int, float]:
            started = time.perf_counter()
            try:
                status = (await client.get("/v1/search", params={"q": query})).status_code
            except httpx.TimeoutException:
                status = TIMEOUT
            except httpx.HTTPError:
                status = CONNECTION_ERROR
            return status, (time.perf_counter() - started) * 1000

        yield httpx_get


async def closed_loop(
    base: str, queries: list[str], clients: int, seconds: float, kind: str = "lean"
) -> float:
    """Answered requests per second with ``clients`` back-to-back clients."""
    done = 0
    deadline = time.monotonic() + seconds
    async with search_client(base, kind, 30.0) as get:

        async def worker(offset: int) -> None:
            nonlocal done
            n = offset
            while time.monotonic() < deadline:
                status, _ = await get(queries[n % len(queries)])
                n += clients
                done += status == 200

        started = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        return done / (time.monotonic() - started)


async def open_loop(
    base: str, queries: list[str], rate: float, seconds: float, timeout_s: float, kind: str = "lean"
) -> list[tuple[int, float]]:
    """(status, ms) per request offered at ``rate``/s; status -1: timeout, -2: connection
    error."""
    results: list[tuple[int, float]] = []
    async with search_client(base, kind, timeout_s) as get:

        async def one(n: int) -> None:
            results.append(await get(queries[n % len(queries)]))

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


def cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine from /proc/stat; None off Linux."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


class CpuMeter:
    """Cores used by this process (the load generator) and by the whole machine over a span."""

    def __enter__(self) -> CpuMeter:
        self.started = time.monotonic()
        self.process = time.process_time()
        self.machine = cpu_jiffies()
        self.cores = os.cpu_count() or 1
        return self

    def __exit__(self, *_exc: object) -> None:
        seconds = time.monotonic() - self.started
        self.client = round((time.process_time() - self.process) / seconds, 3)
        now = cpu_jiffies()
        self.machine_busy: float | None = None
        if self.machine is not None and now is not None and now[1] > self.machine[1]:
            share = (now[0] - self.machine[0]) / (now[1] - self.machine[1])
            self.machine_busy = round(share * self.cores, 3)


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


def in_deadline(results: list[tuple[int, float]], deadline_s: float) -> int:
    return sum(1 for status, ms in results if status == 200 and ms <= deadline_s * 1000)


def report(results: list[tuple[int, float]], seconds: float, deadline_s: float) -> dict[str, Any]:
    ok = [ms for status, ms in results if status == 200]
    shed = [ms for status, ms in results if status in SHED]
    return {
        "offered": len(results),
        "offered_rps": round(len(results) / seconds, 1),
        "answered_200": len(ok),
        "answered_in_deadline_rps": round(in_deadline(results, deadline_s) / seconds, 1),
        "shed": len(shed),
        "shed_by_status": {
            str(code): sum(1 for status, _ in results if status == code) for code in (429, 503, 504)
        },
        "failed": sum(1 for status, _ in results if status < 0),
        "failed_by_reason": {
            "timeout": sum(1 for status, _ in results if status == TIMEOUT),
            "connection_error": sum(1 for status, _ in results if status == CONNECTION_ERROR),
        },
        "other": sum(1 for status, _ in results if status > 0 and status not in SHED + (200,)),
        "admitted_ms": {"p50": round(percentile(ok, 50), 1), "p99": round(percentile(ok, 99), 1)}
        if ok
        else None,
        "shed_ms": {"p50": round(percentile(shed, 50), 1), "p99": round(percentile(shed, 99), 1)}
        if shed
        else None,
    }


def paired_rounds(
    base: str, queries: list[str], clients: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Step 5 of the module docstring: per pair, saturation and the answered rate at
    ``--factor`` x it; the mean ratio with a seeded bootstrap interval."""
    seconds, rounds = args.round_seconds, list[dict[str, Any]]()
    for i in range(args.rounds):
        pair: dict[str, Any] = {"order": "closed first" if i % 2 == 0 else "overload first"}
        for half in ("closed", "overload") if i % 2 == 0 else ("overload", "closed"):
            if half == "closed":
                rate = asyncio.run(closed_loop(base, queries, clients, seconds, args.client))
                pair["saturation_rps"] = round(rate, 1)
                continue
            # overload first: offer factor x the previous pair's saturation (its own comes next)
            offered = args.factor * (rounds[-1] if rounds else pair)["saturation_rps"]
            results = asyncio.run(
                open_loop(base, queries, offered, seconds, args.client_timeout_s, args.client)
            )
            pair["offered_rps"] = round(len(results) / seconds, 1)
            pair["answered_in_deadline_rps"] = round(
                in_deadline(results, args.deadline_s) / seconds, 1
            )
            pair["failed"] = sum(1 for status, _ in results if status < 0)
            drain_seconds(base)  # the next half starts from an idle server
        pair["ratio"] = round(pair["answered_in_deadline_rps"] / pair["saturation_rps"], 3)
        rounds.append(pair)
    ratios = np.array([pair["ratio"] for pair in rounds])
    boot = np.random.default_rng(0).choice(ratios, (10_000, ratios.size)).mean(axis=1)
    return {
        "round_seconds": seconds,
        "rounds": rounds,
        "mean_ratio": round(float(ratios.mean()), 3),
        "median_ratio": round(float(np.median(ratios)), 3),
        "mean_ratio_95ci": [round(float(v), 3) for v in np.percentile(boot, [2.5, 97.5])],
    }


def measure(base: str, queries: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Steps 1-4 of the module docstring against a running server."""
    client = args.client
    asyncio.run(closed_loop(base, queries, 2, 5.0, client))  # warm-up
    closed, client_cpu, machine_cpu = {}, {}, {}

    def closed_phase(name: str, clients: int, seconds: float) -> float:
        with CpuMeter() as meter:
            rate = asyncio.run(closed_loop(base, queries, clients, seconds, client))
        client_cpu[name], machine_cpu[name] = meter.client, meter.machine_busy
        return round(rate, 1)

    for n in range(1, args.clients + 1):
        closed[n] = closed_phase(f"closed_{n}", n, 10.0)
    best = max(closed, key=lambda n: closed[n])
    before = closed_phase("saturation_before", best, args.bracket_seconds)
    with CpuMeter() as meter:
        rate = args.factor * closed[best]
        timeout_s = args.client_timeout_s
        results = asyncio.run(open_loop(base, queries, rate, args.seconds, timeout_s, client))
    client_cpu["overload"], machine_cpu["overload"] = meter.client, meter.machine_busy
    drained = drain_seconds(base)
    after = closed_phase("saturation_after", best, args.bracket_seconds)
    paired = paired_rounds(base, queries, best, args) if args.rounds else None
    return {
        "closed_loop_rps_by_clients": closed,
        "saturation_rps": closed[best],
        "saturation_before_rps": before,
        "saturation_after_rps": after,
        # cores the load generator itself used (it shares the machine with the server)
        "client_cores_used": client_cpu,
        # cores busy on the whole machine (server + generator + anything else)
        "machine_cores_busy": machine_cpu,
        "after_clients_stop": drained,
        "paired": paired,
        "results": results,
    }


def cpu_list(text: str) -> set[int]:
    """``0`` or ``0,1``: CPUs this machine has."""
    try:
        cpus = {int(part) for part in text.split(",")}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected CPU numbers like 0 or 0,1, not {text!r}"
        ) from None
    unknown = cpus - os.sched_getaffinity(0)
    if unknown:
        raise argparse.ArgumentTypeError(f"CPUs {sorted(unknown)} are not usable here")
    return cpus


def split_cpus(server: set[int]) -> set[int]:
    """Pin this process (the load generator) to the usable CPUs the server does not get."""
    rest = os.sched_getaffinity(0) - server
    if not rest:
        raise SystemExit("--server-cpus leaves no CPU for the load generator")
    os.sched_setaffinity(0, rest)
    return rest


def search_queries() -> list[str]:
    """The benchmark's queries a load test sends (nonsense ones left out)."""
    return [q.query for q in load_queries(DEFAULT_QUERIES) if q.kind != "nonsense"]


def server_env(artifacts: Path, prefix: str) -> dict[str, str]:
    """A load-tested server's environment: this process's, the artifact root, a scratch
    event DB, and the query cache off (every request pays for its encode)."""
    return {
        **os.environ,
        "RECSYS_ARTIFACTS_DIR": str(artifacts),
        "RECSYS_EVENTS_DB": str(Path(tempfile.mkdtemp(prefix=prefix)) / "e.db"),
        "RECSYS_QUERY_CACHE_SIZE": "0",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--bracket-seconds",
        type=float,
        default=30.0,
        help="the best closed loop again, this long, just before and just after the overload",
    )
    parser.add_argument("--factor", type=float, default=2.0)
    parser.add_argument(
        "--rounds", type=int, default=0, help="paired closed/overload rounds after the run"
    )
    parser.add_argument("--round-seconds", type=float, default=15.0)
    parser.add_argument("--deadline-s", type=float, default=5.0)
    parser.add_argument("--client-timeout-s", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "overload.json")
    parser.add_argument(
        "--client",
        choices=("lean", "httpx"),
        default="lean",
        help="load generator: bench.http_load (light on the shared CPU) or httpx",
    )
    parser.add_argument(
        "--checkout", type=Path, default=None, help="serve this checkout's code (a baseline)"
    )
    parser.add_argument(
        "--server-cpus",
        type=cpu_list,
        default=None,
        help="pin the server to these CPUs (e.g. 0 or 0,1) and the load generator to the rest",
    )
    args = parser.parse_args(argv)
    client_cpus = split_cpus(args.server_cpus) if args.server_cpus else None

    header = run_header()
    queries = search_queries()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = server_env(args.artifacts, "recsys-overload-")
    with recsys_server(env, port, cwd=args.checkout, cpus=args.server_cpus) as startup_s:
        measured = measure(base, queries, args)
    summary = report(measured.pop("results"), args.seconds, args.deadline_s)
    bracket = (measured["saturation_before_rps"] + measured["saturation_after_rps"]) / 2
    answered = summary["answered_in_deadline_rps"]
    payload = {
        **header,
        "artifacts": str(args.artifacts),
        "server_settings": server_settings(env),
        "startup_s": round(startup_s, 1),
        "client": args.client,
        "factor": args.factor,
        "seconds": args.seconds,
        "bracket_seconds": args.bracket_seconds,
        "deadline_s": args.deadline_s,
        "client_timeout_s": args.client_timeout_s,
        **measured,
        "overload": summary,
        # against the sweep's best short run (biased upwards by the machine's noise) ...
        "in_deadline_vs_saturation": round(answered / measured["saturation_rps"], 3),
        # ... and against the best closed loop measured just before and just after
        "in_deadline_vs_bracketing_saturation": round(answered / bracket, 3),
        "checkout": str(args.checkout or "this one"),
        "server_cpus": sorted(args.server_cpus) if args.server_cpus else None,
        "client_cpus": sorted(client_cpus) if client_cpus else None,
    }
    print(json.dumps({k: v for k, v in payload.items() if k not in header}, indent=2))
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
