"""Shared helpers for the benchmarks: the query set, machine/artifact info, JSON output."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

DEFAULT_QUERIES = Path(__file__).parent / "queries" / "search_queries.jsonl"
RESULTS_DIR = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Query:
    query: str
    kind: str
    relevant: tuple[str, ...]
    note: str = ""
    split: str = "dev"  # "dev": tune on it; "test": report only


SPLITS = ("dev", "test")
# the kind whose queries should get no hits at all: the only kind with no relevant ids
NONSENSE_KIND = "nonsense"


def load_queries(path: Path, split: str | None = None) -> list[Query]:
    """Read the JSONL query set (only ``split`` when given); blank lines are skipped, a
    malformed line, an unknown split or a relevant list that does not fit the kind (empty
    except for ``nonsense``, which must have none) raises ValueError."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    queries: list[Query] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                query = Query(
                    row["query"],
                    row["kind"],
                    tuple(row["relevant"]),
                    row.get("note", ""),
                    row.get("split", "dev"),
                )
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: bad query line: {exc}") from exc
            if query.split not in SPLITS:
                raise ValueError(f"{path}:{number}: unknown split {query.split!r}")
            if problem := _relevant_problem(query):
                raise ValueError(f"{path}:{number}: {problem}")
            if split is None or query.split == split:
                queries.append(query)
    if not queries:
        raise ValueError(f"{path}: no queries" + (f" in split {split!r}" if split else ""))
    return queries


def _relevant_problem(query: Query) -> str | None:
    """Why the query's relevant list does not fit its kind, or None when it does."""
    if query.kind == NONSENSE_KIND:
        return f"a {NONSENSE_KIND} query has relevant ids" if query.relevant else None
    return None if query.relevant else f"empty relevant list for kind {query.kind!r}"


def artifact_info(manifest: dict[str, Any]) -> dict[str, Any]:
    """The parts of an artifact manifest that identify what was measured."""
    return {
        "version": manifest.get("version"),
        "created_at": manifest.get("created_at"),
        "code_version": manifest.get("code_version"),
        "encoder": manifest.get("encoder"),
        "index": manifest.get("index"),
        "counts": manifest.get("counts"),
    }


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    if hasattr(os, "getloadavg"):
        info["loadavg_1_5_15m"] = [round(x, 2) for x in os.getloadavg()]
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda_available"] = bool(torch.cuda.is_available())
    except ImportError:  # pragma: no cover - torch is a hard dependency of the engine
        pass
    return info


def add_query_encoder_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--query-encoder",
        default="auto",
        choices=("auto", "torch", "onnx", "onnx-int8"),
        help="how queries are encoded (RECSYS_QUERY_ENCODER; default auto: ONNX Runtime on "
        "CPU where the model allows, the service's default)",
    )


def run_header() -> dict[str, Any]:
    """Machine, command line and timestamp: the fields every result file starts with."""
    return {
        "command": shlex.join([Path(sys.executable).name, "-m", *_module_argv()]),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
    }


def _module_argv() -> list[str]:
    argv = list(sys.argv)
    if argv and argv[0].endswith(".py"):
        module = Path(argv[0]).with_suffix("").parts[-2:]
        argv[0] = ".".join(module)
    return argv


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in [0, 100]) of a non-empty list."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@contextmanager
def recsys_server(
    env: dict[str, str],
    port: int,
    ready_timeout_s: float = 180.0,
    cwd: Path | None = None,
    workers: int = 1,
    cpus: set[int] | None = None,
) -> Iterator[float]:
    """``recsys serve`` (the production entry point: bounded edge, signals) on 127.0.0.1:port
    with ``env``, from the checkout ``cwd`` (default: this one), pinned to ``cpus`` if
    given; yields seconds from spawn to the first /readyz 200 (with several workers: 10 in
    a row), then stops it (SIGTERM, so the exposure queue drains)."""
    command = [sys.executable, "-m", "pipelines.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    wanted = 1 if workers == 1 else 10
    started = time.perf_counter()
    server = subprocess.Popen(
        command,
        env={**env, "RECSYS_LOG_LEVEL": "warning"},
        cwd=cwd or Path(__file__).resolve().parent.parent,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    try:
        ready = 0
        while time.perf_counter() - started < ready_timeout_s:
            if server.poll() is not None:
                raise RuntimeError(f"server exited with code {server.returncode} before ready")
            try:
                url = f"http://127.0.0.1:{port}/readyz"
                ok = httpx.get(url, timeout=2).status_code == 200
            except httpx.TransportError:
                ok = False
            ready = ready + 1 if ok else 0
            if ready >= wanted:
                break
            time.sleep(0.05 if ok else 0.2)
        else:
            raise TimeoutError(f"/readyz not 200 within {ready_timeout_s:.0f} s")
        yield time.perf_counter() - started
    finally:
        stop_process(server, timeout_s=30)


SECRET_MARKERS = ("KEY", "SECRET", "TOKEN", "PASSWORD")


def server_settings(env: dict[str, str]) -> dict[str, str]:
    """The ``RECSYS_*`` settings a benchmarked server runs with, secrets left out."""
    return {
        k: v
        for k, v in sorted(env.items())
        if k.startswith("RECSYS_") and not any(m in k for m in SECRET_MARKERS)
    }


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    """SIGTERM (a server drains its queues), then SIGKILL if it is still there."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
