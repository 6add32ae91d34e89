"""A lean HTTP/1.1 load client for benchmarks that share the machine with the server.

httpx spends about a millisecond of CPU per request; offered 190 requests/s it took 0.28 of
the 2 cores the server also runs on (``bench/README.md``, "Overload"), so it measured its
own cost as much as the server's. This client keeps a pool of keep-alive connections over
plain asyncio streams, sends pre-encoded GET requests and reads only the status line, the
headers it needs (``Content-Length``, ``Connection``) and the body's bytes.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode

TIMEOUT = -1
CONNECTION_ERROR = -2


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def get(self, request: bytes) -> tuple[int, bool]:
        """(status, keep-alive) after reading one whole response."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, keep_alive = 0, True
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                keep_alive = False
        if length:
            await self.reader.readexactly(length)
        return status, keep_alive

    def close(self) -> None:
        self.writer.close()


class LoadClient:
    """``await client.get(path, params)`` -> (status, milliseconds); status ``TIMEOUT`` (-1)
    when no whole response came within ``timeout_s``, ``CONNECTION_ERROR`` (-2) when the
    connection failed or closed early. Connections are reused; at most ``max_connections``
    are open at once."""

    def __init__(self, host: str, port: int, timeout_s: float, max_connections: int = 1000):
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._idle: list[Connection] = []
        self._open = asyncio.Semaphore(max_connections)

    def request(self, path: str, params: dict[str, str] | None = None) -> bytes:
        target = f"{path}?{urlencode(params)}" if params else path
        return f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()

    async def get(self, path: str, params: dict[str, str] | None = None) -> tuple[int, float]:
        return await self.send(self.request(path, params))

    async def send(self, request: bytes) -> tuple[int, float]:
        started = time.perf_counter()
        async with self._open:
            status = await self._send(request, retry_stale=True)
        return status, (time.perf_counter() - started) * 1000

    async def _send(self, request: bytes, retry_stale: bool) -> int:
        """A pooled connection the server closed while idle (its keep-alive timeout) fails
        before any byte of the response: that one is retried once on a fresh connection, as
        HTTP clients do for idempotent requests."""
        reused = bool(self._idle)
        conn = self._idle.pop() if reused else None
        try:
            if conn is None:
                conn = Connection(*await asyncio.open_connection(self.host, self.port))
            status, keep_alive = await asyncio.wait_for(conn.get(request), self.timeout_s)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            if conn is not None:
                conn.close()
            partial = getattr(exc, "partial", b"")
            if reused and retry_stale and not partial:
                return await self._send(request, retry_stale=False)
            return CONNECTION_ERROR
        except TimeoutError:
            if conn is not None:
                conn.close()
            return TIMEOUT
        except (OSError, ValueError, IndexError):
            if conn is not None:
                conn.close()
            return CONNECTION_ERROR
        if keep_alive:
            self._idle.append(conn)
        else:
            conn.close()
        return status

    async def aclose(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
