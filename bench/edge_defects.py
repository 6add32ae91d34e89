"""The operations issue's defects, reproduced against a running ``recsys serve``.

    python -m bench.edge_defects --artifacts artifacts [--checkout DIR] [--out FILE]

Starts ``recsys serve`` from a checkout (``--checkout``: a baseline; default this one) with
an admin API key configured (a build without keys ignores it), then reproduces each defect
and records what happened: the answer or the effect, and whether it is fixed. Everything
runs on 127.0.0.1 against a private event store and request log.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import RESULTS_DIR, recsys_server, run_header, write_json
from bench.search_latency import free_port

ADMIN = "rk_bench_admin_key"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


def raw_exchange(port: int, payload: bytes, timeout: float = 15.0) -> tuple[bytes, float]:
    """What the server answers to raw bytes, and when the connection ended."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        try:
            conn.sendall(payload)
            data = conn.recv(4096)
        except OSError as exc:
            data = f"<{type(exc).__name__}>".encode()
    return data, round(time.monotonic() - started, 2)


def checks(base: str, port: int, work: Path, pid: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    client = httpx.Client(base_url=base, timeout=30)

    r = client.post(
        "/v1/events",
        json={"events": [{"event_id": "x1", "type": "play", "user_id": "u", "item_id": "1"}]},
    )
    out["events without a key"] = {"status": r.status_code, "fixed": r.status_code == 401}
    r = client.post(
        "/v1/events",
        content='{"events": [{"event_id": "x2", "type": "play", "user_id": "u", "item_id": "1"}]}',
        headers={"Content-Type": "text/plain", **AUTH},
    )
    out["events as text/plain (cross-site form)"] = {
        "status": r.status_code,
        "fixed": r.status_code == 415,
    }
    r = client.get("/v1/search", params={"q": "star", "variant": "treatment"})
    out["?variant= without the admin scope"] = {
        "status": r.status_code,
        "fixed": r.status_code in (401, 403),
    }
    future = {"event_id": "x3", "type": "play", "user_id": "u", "item_id": "1"}
    future["ts"] = "2099-01-01T00:00:00Z"
    r = client.post("/v1/events", json={"events": [future]}, headers=AUTH)
    out["event ts in 2099"] = {"status": r.status_code, "fixed": r.status_code == 422}
    r = client.get("/v1/search?q=%FF%FE", headers=AUTH)
    out["invalid UTF-8 in q"] = {"status": r.status_code, "fixed": r.status_code == 422}

    rid = {"X-Request-ID": "shared-request-id"}
    client.get(
        "/v1/search", params={"q": "star wars", "user_id": "victim"}, headers={**rid, **AUTH}
    )
    client.get("/v1/search", params={"q": "zzz", "user_id": "attacker"}, headers={**rid, **AUTH})
    time.sleep(1.5)  # the exposure logger writes in the background
    with sqlite3.connect(work / "events.sqlite3") as db:
        row = db.execute(
            "SELECT user_id, query FROM exposures WHERE request_id = ?", ("shared-request-id",)
        ).fetchone()
    out["X-Request-ID reused by another client"] = {
        "stored_exposure": row,
        "fixed": row is not None and row[0] == "victim",
    }

    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (20 << 20) + b"\r\n\r\n"
    answer, seconds = raw_exchange(port, head)
    out["20 MB request header"] = {
        "answer": answer[:40].decode("latin-1"),
        "fixed": not answer.startswith(b"HTTP/1.1 200"),
    }
    answer, seconds = raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", timeout=30)
    out["slowloris (head never finished)"] = {
        "connection_ended_after_s": seconds,
        "fixed": seconds < 29,
    }
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + ADMIN.encode() + b"\r\nContent-Length: 1000\r\n\r\n{"
        )
        time.sleep(0.3)
    time.sleep(0.5)
    metrics = client.get("/metrics", headers=AUTH).text
    events_500 = [
        line for line in metrics.splitlines() if '"/v1/events"' in line and 'status="500"' in line
    ]
    out["client leaves mid-body"] = {
        "events_500_series": events_500,
        "fixed": not any(line.split()[-1] != "0.0" for line in events_500),
    }

    modes = {}
    for name in ("events.sqlite3", "served.jsonl"):
        path = work / name
        modes[name] = oct(path.stat().st_mode & 0o777) if path.exists() else None
    out["file modes"] = {
        "modes": modes,
        "fixed": all(m is not None and int(m, 8) & 0o007 == 0 for m in modes.values()),
    }

    for signum in (signal.SIGHUP, signal.SIGUSR1):
        os.kill(pid, signum)
        time.sleep(2.0)
        try:
            alive = client.get("/healthz").status_code == 200
        except httpx.HTTPError:
            alive = False
        out[f"kill -{signum.name[3:]}"] = {"still_serving": alive, "fixed": alive}
        if not alive:
            break
    client.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--checkout", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "edge_defects.json")
    args = parser.parse_args(argv)

    header = run_header()
    work = Path(tempfile.mkdtemp(prefix="recsys-defects-"))
    port = free_port()
    env = {
        **os.environ,
        "RECSYS_ARTIFACTS_DIR": str(args.artifacts),
        "RECSYS_EVENTS_DB": str(work / "events.sqlite3"),
        "RECSYS_REQUEST_LOG": str(work / "served.jsonl"),
        "RECSYS_ADMIN_API_KEY": ADMIN,
    }
    with recsys_server(env, port, cwd=args.checkout) as startup_s:
        pid = _server_pid(port)
        results = checks(f"http://127.0.0.1:{port}", port, work, pid)
    fixed = sum(r["fixed"] for r in results.values())
    payload = {
        **header,
        "checkout": str(args.checkout or "this one"),
        "startup_s": round(startup_s, 1),
        "fixed": f"{fixed} of {len(results)}",
        "defects": results,
    }
    for name, result in results.items():
        detail = {k: v for k, v in result.items() if k != "fixed"}
        print(f"{'FIXED' if result['fixed'] else 'open ':<6} {name}: {detail}")
    write_json(args.out, payload)
    print(f"{payload['fixed']} fixed; wrote {args.out}")
    return 0


def _server_pid(port: int) -> int:
    """The pid listening on ``port`` (from /proc: no psutil needed)."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[1].endswith(f":{port:04X}") and parts[3] == "0A":  # LISTEN
                inode = parts[9]
    if inode is None:
        raise RuntimeError(f"nothing listens on port {port}")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) == f"socket:[{inode}]":
                    return int(proc.name)
        except OSError:
            continue
    raise RuntimeError(f"no process owns the socket on port {port}")


if __name__ == "__main__":
    raise SystemExit(main())
