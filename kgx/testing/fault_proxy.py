"""A real HTTP proxy on 127.0.0.1 that injects faults in front of a real LLM server.

It forwards requests to the upstream server unchanged, except for the faults queued on it:
an HTTP status (429 with Retry-After, 503, ...) or a delay. Tests use it for the faults a
stopped or paused server cannot produce, such as rate limiting.

    with FaultProxy(server.url) as proxy:
        proxy.fail_next(2, status=429, retry_after=0.2)
        backend = OpenAICompatibleLLM(server.model, proxy.url)    # retried, then answered
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from kgx.testing.neo4j_server import HOST


@dataclass(frozen=True)
class Fault:
    """What to do instead of (or before) forwarding one request."""

    status: int | None = None
    retry_after: float | None = None
    delay_s: float = 0.0


class FaultProxy:
    """Forwards to `upstream` (an http://host:port/v1 URL) with queued faults; counts requests."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = f"{parts.scheme}://{parts.netloc}"
        self.prefix = parts.path.rstrip("/")
        self.faults: deque[Fault] = deque()
        self.requests = 0
        self.posts = 0
        """POST requests (completions), faulted ones included."""
        self.last_authorization: str | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((HOST, 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://{HOST}:{self._server.server_port}{self.prefix}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def fail_next(self, count: int, *, status: int, retry_after: float | None = None) -> None:
        """Answer the next `count` requests with `status` instead of forwarding them."""
        with self._lock:
            self.faults.extend(Fault(status, retry_after) for _ in range(count))

    def delay_next(self, count: int, seconds: float) -> None:
        """Hold the next `count` requests for `seconds` before forwarding them."""
        with self._lock:
            self.faults.extend(Fault(delay_s=seconds) for _ in range(count))

    def _next_fault(self) -> Fault | None:
        with self._lock:
            self.requests += 1
            return self.faults.popleft() if self.faults else None

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                with proxy._lock:
                    proxy.posts += 1
                length = int(self.headers.get("content-length") or 0)
                self._forward(self.rfile.read(length))

            def _forward(self, body: bytes | None) -> None:
                proxy.last_authorization = self.headers.get("authorization")
                proxy._enter()
                try:
                    self._forward_or_fail(body)
                finally:
                    proxy._leave()

            def _forward_or_fail(self, body: bytes | None) -> None:
                fault = proxy._next_fault()
                if fault is not None and fault.status is not None:
                    self._reply(fault.status, b'{"error": {"message": "injected fault"}}',
                                fault.retry_after)
                    return
                if fault is not None:
                    time.sleep(fault.delay_s)
                request = urllib.request.Request(proxy.upstream + self.path, data=body,
                                                 method=self.command,
                                                 headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=300) as reply:
                        self._reply(reply.status, reply.read())
                except urllib.error.HTTPError as e:
                    self._reply(e.code, e.read())
                except (urllib.error.URLError, OSError):
                    self._reply(502, b'{"error": {"message": "upstream unreachable"}}')

            def _reply(self, status: int, payload: bytes, retry_after: float | None = None
                       ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if retry_after is not None:
                    self.send_header("Retry-After", f"{retry_after:g}")
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
