"""Bearer tokens with read/write scopes, a per-client rate limit and a request body cap."""

from __future__ import annotations

import hmac
import ipaddress
import json
import math
import threading
import time
from dataclasses import dataclass

from kgx.errors import ConfigError

SCOPES = ("read", "write")
TOKENS_ENV = "KGX_API_TOKENS"
MAX_TRACKED_CLIENTS = 10_000


def parse_tokens(value: str | None) -> dict[str, str]:
    """`TOKEN:SCOPE,TOKEN:SCOPE` (from KGX_API_TOKENS) as token → scope."""
    tokens: dict[str, str] = {}
    for pair in (value or "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        token, sep, scope = pair.rpartition(":")
        if not sep or not token or scope not in SCOPES:
            raise ConfigError(f"{TOKENS_ENV} holds a bad entry (it is not shown here, it may be a "
                              "secret): write comma-separated TOKEN:SCOPE pairs with scope read "
                              "or write, e.g. abc123:read,def456:write")
        tokens[token] = scope
    return tokens


def is_loopback(host: str) -> bool:
    """True for localhost and addresses in 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AuthResult:
    """What a request may do: `status` is 0 when allowed, else the HTTP status to answer."""

    status: int
    message: str = ""


class TokenAuth:
    """Checks `Authorization: Bearer TOKEN` against the configured tokens and their scopes."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self.tokens = tokens

    @property
    def enabled(self) -> bool:
        return bool(self.tokens)

    def check(self, authorization: str | None, scope: str) -> AuthResult:
        if not self.tokens:
            return AuthResult(0)
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return AuthResult(401, "this server needs a token: send the header "
                                   "'Authorization: Bearer TOKEN' (tokens come from the server's "
                                   f"{TOKENS_ENV})")
        granted = self._scope_of(token.strip())
        if granted is None:
            return AuthResult(401, "unknown token: check the token you sent against the "
                                   f"server's {TOKENS_ENV}")
        if scope == "write" and granted != "write":
            return AuthResult(403, "this token has the read scope; writing needs a token with "
                                   "the write scope")
        return AuthResult(0)

    def _scope_of(self, token: str) -> str | None:
        found = None
        for known, scope in self.tokens.items():  # compare every token in constant time
            if hmac.compare_digest(known.encode(), token.encode()):
                found = scope
        return found


class RateLimiter:
    """A token bucket per client: `per_minute` requests a minute, bursts up to that many."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """0 if the request may go now, else the seconds to wait before the next one."""
        if self.per_minute <= 0:
            return 0
        rate = self.per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            self._forget_idle(now)
            tokens, last = self._buckets.get(client, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                return 0
            self._buckets[client] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / rate))

    def _forget_idle(self, now: float) -> None:
        """Drop clients idle for a minute (their buckets are full again), bounding memory."""
        if len(self._buckets) > MAX_TRACKED_CLIENTS:
            self._buckets = {c: b for c, b in self._buckets.items() if now - b[1] < 60}


class ApiError(Exception):
    """An HTTP error answered as JSON `{"error": message}`, with optional headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def access_refusal(limiter: RateLimiter, auth: TokenAuth, client: str,
                   authorization: str | None, scope: str) -> ApiError | None:
    """Why a request may not go on (429 first, then 401/403), or None when it may."""
    wait = limiter.retry_after(client)
    if wait:
        return ApiError(429, f"too many requests from this client; retry in {wait} s "
                             "(the server allows --rate-limit requests a minute)",
                        {"Retry-After": str(wait)})
    verdict = auth.check(authorization, scope)
    if verdict.status:
        headers = {"WWW-Authenticate": "Bearer"} if verdict.status == 401 else None
        return ApiError(verdict.status, verdict.message, headers)
    return None


class BodyLimitMiddleware:
    """Answers 413 to a request whose body is larger than `max_bytes`, declared or streamed."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await send_json(send, 413, self._message())
            return
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            await send_json(send, 413, self._message())

    def _message(self) -> str:
        return (f"the request body is larger than the server's limit of {self.max_bytes:,} "
                "bytes: send smaller files, or start the server with a larger --max-body-mb")


class _BodyTooLarge(Exception):
    pass


async def send_json(send, status: int, message: str, headers: dict[str, str] | None = None):
    """Answer `{"error": message}` on a raw ASGI `send`."""
    await send_body(send, status, json.dumps({"error": message}).encode(), headers)


async def send_body(send, status: int, body: bytes, headers: dict[str, str] | None = None):
    """Answer a JSON `body` (bytes) on a raw ASGI `send`."""
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
