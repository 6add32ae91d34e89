"""Model swaps under steady load: publish (point `current` at) another version, roll back,
then point at a corrupt version, while clients keep searching over HTTP.

    python -m bench.swap_under_load --artifacts artifacts [--seconds 60] [--clients 2]

The artifact root is copied to a temporary directory (at least two published versions are
needed there); the service runs ``recsys serve`` on it with the watcher polling every
second. Timeline: at 20% of the run ``current`` moves to the previous version, at 45% back
(``recsys rollback``'s ``set_current``), at 70% to a copy of the serving version whose
vectors hold NaN with a matching checksum (corrupt but checksum-valid: only the validation
can refuse it). Reported: requests, failures (anything but 200), latency p50/p99 overall and
in the 5 s after each pointer move, which version answered over time, each reload's outcome
and duration, and whether the corrupt version was refused while the old one kept serving.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

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
from recsys.core.artifacts import MANIFEST, list_versions, set_current, sha256_file


def corrupt_copy(root: Path, source: str, name: str) -> None:
    """A copy of version ``source`` whose vectors are NaN and whose manifest checksum matches
    them: it passes the checksum check and must be refused by validation."""
    target = root / name
    shutil.copytree(root / source, target)
    vectors = np.load(target / "vectors.npy")
    vectors[:] = np.nan
    np.save(target / "vectors.npy", vectors)
    manifest = json.loads((target / MANIFEST).read_text())
    manifest["version"] = name
    manifest["files"]["vectors.npy"] = {
        "sha256": sha256_file(target / "vectors.npy"),
        "bytes": (target / "vectors.npy").stat().st_size,
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2))


def load(
    base: str, queries: list[str], stop: threading.Event, out: list[tuple[float, int, float, str]]
) -> None:
    with httpx.Client(timeout=30) as client:
        n = 0
        while not stop.is_set():
            q = queries[n % len(queries)]
            n += 1
            started = time.perf_counter()
            try:
                r = client.get(f"{base}/v1/search", params={"q": q, "k": 10})
                version = r.json().get("model_version", "") if r.status_code == 200 else ""
                status = r.status_code
            except httpx.HTTPError:
                status, version = -1, ""
            out.append((time.monotonic(), status, (time.perf_counter() - started) * 1000, version))


def summarize(rows: list[tuple[float, int, float, str]]) -> dict[str, Any]:
    latencies = [ms for _, status, ms, _ in rows if status == 200]
    return {
        "requests": len(rows),
        "failed": sum(1 for _, status, _, _ in rows if status != 200),
        "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "swap_under_load.json")
    args = parser.parse_args(argv)

    header = run_header()
    work = Path(tempfile.mkdtemp(prefix="recsys-swap-"))
    root = work / "artifacts"
    root.mkdir()
    names = list_versions(args.artifacts)
    if len(names) < 2:
        raise SystemExit(f"{args.artifacts} needs two published versions (has {len(names)})")
    old, new = names[-2], names[-1]
    for name in (old, new):
        shutil.copytree(args.artifacts / name, root / name)
    set_current(root, new)
    corrupt = "99991231T000000000000Z-corrupt0"
    corrupt_copy(root, new, corrupt)

    port = free_port()
    env = {
        **os.environ,
        "RECSYS_ARTIFACTS_DIR": str(root),
        "RECSYS_RELOAD_INTERVAL_S": "1",
        "RECSYS_EVENTS_DB": str(work / "events.sqlite3"),
    }
    base = f"http://127.0.0.1:{port}"
    queries = [q.query for q in load_queries(DEFAULT_QUERIES, "test") if q.kind != "nonsense"]
    with recsys_server(env, port) as startup_s:
        rows: list[tuple[float, int, float, str]] = []
        stop = threading.Event()
        threads = [
            threading.Thread(target=load, args=(base, queries, stop, rows))
            for _ in range(args.clients)
        ]
        t0 = time.monotonic()
        for thread in threads:
            thread.start()
        moves: list[dict[str, Any]] = []
        for share, target in ((0.2, old), (0.45, new), (0.7, corrupt)):
            time.sleep(max(0.0, t0 + share * args.seconds - time.monotonic()))
            if target == corrupt:
                (root / "current").write_text(corrupt + "\n")  # set_current would refuse it
            else:
                set_current(root, target)
            moves.append({"at_s": round(time.monotonic() - t0, 1), "current": target})
        time.sleep(max(0.0, t0 + args.seconds - time.monotonic()))
        stop.set()
        for thread in threads:
            thread.join(60)
        admin = httpx.get(f"{base}/v1/admin/versions", timeout=10).json()
        ready = httpx.get(f"{base}/readyz", timeout=10).json()
    shutil.rmtree(work, ignore_errors=True)

    windows = {}
    for move in moves:
        start = t0 + move["at_s"]
        windows[f"5 s after current -> {move['current']}"] = summarize(
            [r for r in rows if start <= r[0] < start + 5]
        )
    timeline: list[dict[str, Any]] = []
    for ts, status, _, version in sorted(rows):
        if status == 200 and (not timeline or timeline[-1]["version"] != version):
            timeline.append({"from_s": round(ts - t0, 2), "version": version})
    report = {
        **header,
        "source": str(args.artifacts),
        "versions": {"old": old, "new": new, "corrupt": corrupt},
        "clients": args.clients,
        "seconds": args.seconds,
        "startup_s": startup_s,
        "overall": summarize(rows),
        "windows": windows,
        "moves": moves,
        "served_timeline": timeline,
        "last_reload": admin.get("last_reload"),
        "refused": ready.get("refused_version"),
        "serving_at_end": ready.get("model_version"),
    }
    print(json.dumps({k: report[k] for k in ("overall", "windows", "served_timeline")}, indent=2))
    print("refused:", report["refused"])
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
