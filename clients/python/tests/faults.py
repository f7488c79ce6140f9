"""A proxy between the client and the real server that injects faults: answers `503` with a
`Retry-After` a number of times before passing requests on, or passes a write on and then
drops the connection without its answer (so the write is applied and its outcome unknown to
the client). Everything else goes to the real server and back unchanged."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import httpx

Fault = Literal["busy", "lose_answer"]


@contextmanager
def faulty_proxy(server_url: str, fault: Fault, times: int) -> Iterator[tuple[str, list[str]]]:
    """A proxy's URL, and the requests it saw (`METHOD path`); the first `times` requests get
    `fault`."""
    seen: list[str] = []
    left = [times]
    upstream = httpx.Client(base_url=server_url, timeout=30)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen.append(f"{self.command} {self.path}")
            faulty = left[0] > 0
            left[0] -= 1
            if faulty and fault == "busy":
                payload = b'{"error":{"code":"busy","message":"the server is busy; retry after a second"}}'
                self.send_response(503)
                self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            passed = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
            answer = upstream.request(self.command, self.path, content=body, headers=passed)
            if faulty and fault == "lose_answer":
                self.close_connection = True
                self.connection.close()
                return
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_PUT = do_POST = do_DELETE = _handle

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}", seen
    finally:
        proxy.shutdown()
        proxy.server_close()
        upstream.close()
