"""The lean load client: statuses and bodies read whole, keep-alive reuse, ``Connection:
close``, a stale pooled connection retried once, timeouts and connection errors told apart."""

from __future__ import annotations

import asyncio

from bench.http_load import CONNECTION_ERROR, TIMEOUT, LoadClient


async def _serve(behaviour: dict[str, int]) -> tuple[asyncio.Server, int, list[int]]:
    """A tiny HTTP/1.1 server. Paths: /ok (200, keep-alive), /close (503, Connection: close),
    /slow (never answers), /drop (closes after one answered request on the connection)."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ")[1].split(b"?")[0].decode()
                if path == "/slow":
                    await asyncio.sleep(10)
                if path == "/drop" and answered >= behaviour["drop_after"]:
                    break  # as a server whose keep-alive timeout closed the idle connection
                body = b'{"path": "%s"}' % path.encode()
                close = path == "/close"
                status = b"503 Service Unavailable" if close else b"200 OK"
                writer.write(
                    b"HTTP/1.1 "
                    + status
                    + b"\r\nContent-Length: %d\r\n" % len(body)
                    + (b"Connection: close\r\n" if close else b"")
                    + b"\r\n"
                    + body
                )
                await writer.drain()
                answered += 1
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port, connections


def test_lean_client() -> None:
    async def scenario() -> None:
        server, port, connections = await _serve({"drop_after": 1})
        client = LoadClient("127.0.0.1", port, timeout_s=0.5)
        try:
            statuses = [(await client.get("/ok", {"q": "a b"}))[0] for _ in range(5)]
            assert statuses == [200] * 5 and len(connections) == 1  # one kept-alive connection
            assert (await client.get("/close"))[0] == 503
            assert not client._idle  # the connection the server closed is not pooled again
            await client.aclose()
            assert (await client.get("/drop"))[0] == 200  # a new connection, answered once
            before = len(connections)
            assert (await client.get("/drop"))[0] == 200  # stale: retried on a fresh one
            assert len(connections) == before + 1
            status, ms = await client.get("/slow")
            assert status == TIMEOUT and 400 <= ms < 5000
        finally:
            await client.aclose()
            server.close()

    asyncio.run(scenario())


def test_refused_connection_is_minus_one() -> None:
    async def scenario() -> int:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        return (await LoadClient("127.0.0.1", port, timeout_s=1).get("/ok"))[0]

    assert asyncio.run(scenario()) == CONNECTION_ERROR
