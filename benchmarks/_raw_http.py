"""Minimal HTTP/1.1 keep-alive clients for load tests: so the client's cost stays small.

On a 2-core machine the load generator shares the cores with the server, so a heavy client
(httpx spends about 0.5 ms of Python per request) shows up as server latency. These write the
request bytes themselves and read the reply by its Content-Length (the server always sends one):
real HTTP over TCP, without a general client's features.

    with RawConnection("127.0.0.1", 8765) as http:
        status, body = http.request("GET", "/health")
"""

from __future__ import annotations

import asyncio
import socket

_END = b"\r\n\r\n"


def request_bytes(method: str, path: str, host: str, body: bytes = b"",
                  headers: dict[str, str] | None = None) -> bytes:
    """One HTTP/1.1 request, keep-alive, with a Content-Length when there is a body."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_head(head: bytes) -> tuple[int, int]:
    """The status and Content-Length of a response head (without the blank line)."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return status, int(value)
    raise RuntimeError(f"a reply without Content-Length (status {status}): this client "
                       "cannot read chunked bodies")


class RawConnection:
    """One blocking keep-alive connection (TCP_NODELAY)."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host = f"{host}:{port}"
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        self.sock.sendall(request_bytes(method, path, self.host, body, headers))
        while _END not in self._buffer:
            self._buffer += self._recv()
        head, _, rest = self._buffer.partition(_END)
        status, length = parse_head(head)
        while len(rest) < length:
            rest += self._recv()
        self._buffer = rest[length:]
        return status, rest[:length]

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncRawConnection:
    """One asyncio keep-alive connection; `await connect()` first."""

    def __init__(self, host: str, port: int) -> None:
        self.address, self.host = (host, port), f"{host}:{port}"
        self.reader = self.writer = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(*self.address)
        self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP,
                                                        socket.TCP_NODELAY, 1)

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        self.writer.write(request_bytes(method, path, self.host, body, headers))
        head = await self.reader.readuntil(_END)
        status, length = parse_head(head[:-len(_END)])
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()
