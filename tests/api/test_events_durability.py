"""An event acknowledged with a 2xx survives a ``kill -9`` of the server right after.

Runs the real app under uvicorn in a subprocess (``tests/api/events_server.py``), posts
batches, SIGKILLs the process the moment the last 200 arrives (no shutdown hook runs), then
opens the store cold (the SQLite file, or the PostgreSQL database on a server the tests
started) and looks for every acknowledged event.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from recsys.events.store import open_event_store

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(proc: subprocess.Popen[bytes], base: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early with code {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("server did not come up")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_acknowledged_events_survive_kill_9(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    db = str(tmp_path / "events.sqlite3")
    if backend == "postgres":
        db = request.getfixturevalue("postgres_url")
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.api.events_server", db, str(port)], cwd=REPO, env=env
    )
    acknowledged: list[str] = []
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(proc, base)
        with httpx.Client(base_url=base, timeout=10.0) as client:
            for batch in range(10):
                ids = [f"b{batch}-e{i}" for i in range(50)]
                events = [
                    {"event_id": event_id, "type": "play", "user_id": "u1", "item_id": "m1"}
                    for event_id in ids
                ]
                response = client.post("/v1/events", json={"events": events})
                assert response.status_code == 200, response.text
                assert response.json()["accepted"] == 50
                acknowledged.extend(ids)
        os.kill(proc.pid, signal.SIGKILL)  # right after the last 2xx: no graceful shutdown
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    store = open_event_store(db, create=False)
    try:
        stored = set(store.read_events()["event_id"])
    finally:
        store.close()
    assert set(acknowledged) <= stored
    assert len(stored) == len(acknowledged) == 500
