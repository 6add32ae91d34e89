"""Offered load against answered load, below and above saturation.

    python -m bench.load_sweep --artifacts artifacts [--factors 0.8,0.9,1.0,2.0] [--repeat 2]

For each factor, in order (the list ``--repeat`` times): ``--clients`` closed-loop clients
search back to back for ``--seconds`` (that moment's saturation S), then the open-loop
generator of ``bench.overload`` offers factor x S requests/s for ``--seconds``. Reported per
step: S, offered, answered within ``--deadline-s``, their ratio to S and to what was offered,
how many were shed (503/504/429), and admitted p50/p99. Below saturation (factor < 1) a
service should answer what it is offered and shed next to nothing; above it, stay near S.

The server is ``recsys serve`` with the environment's ``RECSYS_*`` settings (recorded in the
output, e.g. ``RECSYS_ADMISSION_QUEUE=0`` to compare admission without a line), query cache
off so that every request pays for its encode.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from bench.common import (
    RESULTS_DIR,
    recsys_server,
    run_header,
    server_settings,
    write_json,
)
from bench.overload import closed_loop, open_loop, report, search_queries, server_env
from bench.search_latency import free_port


def sweep_step(
    base: str, queries: list[str], factor: float, args: argparse.Namespace
) -> dict[str, Any]:
    """One closed loop (S), then the open loop at ``factor`` x S."""
    saturation = asyncio.run(closed_loop(base, queries, args.clients, args.seconds))
    rate = factor * saturation
    results = asyncio.run(open_loop(base, queries, rate, args.seconds, args.client_timeout_s))
    summary = report(results, args.seconds, args.deadline_s)
    answered = summary["answered_in_deadline_rps"]
    return {
        "factor": factor,
        "saturation_rps": round(saturation, 1),
        **summary,
        "answered_vs_saturation": round(answered / saturation, 3),
        "answered_vs_offered": round(answered / summary["offered_rps"], 3),
        "shed_fraction": round(summary["shed"] / max(1, summary["offered"]), 4),
    }


def factor_list(text: str) -> list[float]:
    try:
        factors = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not factors or any(f <= 0 for f in factors):
        raise argparse.ArgumentTypeError("factors must be positive")
    return factors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--factors", type=factor_list, default=[0.8, 0.9, 1.0, 2.0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--deadline-s", type=float, default=5.0)
    parser.add_argument("--client-timeout-s", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "load_sweep.json")
    args = parser.parse_args(argv)

    queries = search_queries()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = server_env(args.artifacts, "recsys-sweep-")
    steps = []
    with recsys_server(env, port) as startup_s:
        asyncio.run(closed_loop(base, queries, args.clients, 5.0))  # warm-up
        for _ in range(args.repeat):
            for factor in args.factors:
                step = sweep_step(base, queries, factor, args)
                steps.append(step)
                print(
                    f"x{factor}: S {step['saturation_rps']} rps, offered {step['offered_rps']}, "
                    f"answered {step['answered_in_deadline_rps']} "
                    f"({step['answered_vs_saturation']} of S), shed {step['shed']}, "
                    f"admitted p50/p99 {step['admitted_ms']}",
                    flush=True,
                )
    payload = {
        **run_header(),
        "artifacts": str(args.artifacts),
        "server_settings": server_settings(env),
        "startup_s": round(startup_s, 1),
        "clients": args.clients,
        "seconds": args.seconds,
        "deadline_s": args.deadline_s,
        "steps": steps,
    }
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
