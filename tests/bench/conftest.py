"""A tiny threaded HTTP server for the load benches' tests: it answers one search at a time
(20 ms each) and sheds the rest with 503, like the service at its in-flight limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class OneAtATime(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    busy = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 (the http.server naming)
        if self.path.startswith("/metrics"):
            self._answer(200, b'recsys_requests_in_flight{route_class="read"} 0\n')
        elif not self.busy.acquire(blocking=False):
            self._answer(503, b"{}")
        else:
            try:
                time.sleep(0.02)
                self._answer(200, b"{}")
            finally:
                self.busy.release()

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), OneAtATime)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
