"""A throwaway PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` into a temp dir (Debian's
``postgresql`` package; ``.ci/run`` installs it), on a free local port, trust auth, fsync on.

As root (CI), the server runs as the ``postgres`` user through ``runuser``: PostgreSQL refuses
to run as root. Without the binaries the tests that need a server skip, unless
``TESTS_REQUIRE_POSTGRES=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REQUIRE_ENV = "TESTS_REQUIRE_POSTGRES"


def find_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="recsys-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "recsys", "--auth=trust", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql://recsys@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=on"
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def kill9(self) -> None:
        """SIGKILL the postmaster and every backend (a crash, not a shutdown)."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        listed = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        for victim in [pid, *(int(p) for p in listed.stdout.split())]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        (self.data / "postmaster.pid").unlink(missing_ok=True)

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
