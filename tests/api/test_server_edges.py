"""The HTTP edge under a real uvicorn (api.server): header size bound, a request that
trickles in is cut off, a client that leaves mid-body is a 499, not a 500."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from api.app import create_app
from api.server import GuardedHttpToolsProtocol
from tests.api.conftest import FakeService, make_settings

READ_TIMEOUT = 0.5


@pytest.fixture
def server() -> Iterator[tuple[int, object]]:
    app = create_app(make_settings(max_header_bytes=4096), lambda _s: FakeService())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    protocol = type(
        "Guarded",
        (GuardedHttpToolsProtocol,),
        {"read_timeout_s": READ_TIMEOUT, "max_head_bytes": 4096},
    )
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        http=protocol,
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield port, app
    uv.should_exit = True
    thread.join(10)


def exchange(port: int, payload: bytes, wait: float = 2.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as conn:
        conn.sendall(payload)
        chunks = []
        try:
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def test_oversized_headers_are_refused(server: tuple[int, object]) -> None:
    port, _ = server
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n"
    answer = exchange(port, head)  # a whole head at once: the app-level guard
    assert answer.startswith(b"HTTP/1.1 431") and b"headers_too_large" in answer
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        for _ in range(20):  # a head that keeps growing: the parser stops at the limit
            try:
                conn.sendall(b"a" * 1024)
            except OSError:
                break
            time.sleep(0.01)
        assert conn.recv(1024).startswith(b"HTTP/1.1 400")
    ok = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200")


def test_a_trickling_request_is_cut_off(server: tuple[int, object]) -> None:
    port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        started = time.monotonic()
        assert conn.recv(1024) == b""  # closed by the server
        assert time.monotonic() - started < READ_TIMEOUT + 2


def test_a_client_leaving_mid_body_is_a_499(server: tuple[int, object]) -> None:
    port, app = server
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"events": ['
        )
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    metrics = app.state.metrics  # type: ignore[attr-defined]
    text = ""
    while time.monotonic() < deadline:
        text = metrics.render()[0].decode()
        if 'status="499"' in text:
            break
        time.sleep(0.05)
    assert 'route="/v1/events",status="499"' in text.replace('method="POST",', "")
    assert 'status="500"' not in text


def test_keep_alive_and_large_bodies_still_work(server: tuple[int, object]) -> None:
    port, _ = server
    events = ",".join(
        f'{{"event_id": "e{n}", "type": "click", "user_id": "u1", "item_id": "m1"}}'
        for n in range(150)
    )
    body = ('{"events": [' + events + "]}").encode()
    assert len(body) > 4096  # bigger than the head limit, in the same packet as the head
    post = (
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        for payload in (post, get, get):  # one connection, three requests
            conn.sendall(payload)
            answer = conn.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
            time.sleep(READ_TIMEOUT / 2)  # idle between requests is not a slow request
