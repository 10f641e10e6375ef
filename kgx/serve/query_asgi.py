"""POST /query answered in plain ASGI in front of FastAPI: the same checks, a fraction of the cost.

FastAPI's request handling (routing, dependency injection, body parsing, exception handlers)
costs more per request than an embedded query takes. `QueryFastPath` answers POST /query itself,
with the guarantees of the FastAPI route it shadows: the rate limit and a bearer token with the
read scope (`access_refusal`, as every read route), the body limit (`BodyLimitMiddleware` around
it), the request validated against `QueryRequest` (422 as JSON), then `GraphService.query`:
read-only Cypher, bound parameters, the row cap and the time limit, a `QueryResponse`. The
FastAPI route stays, for OpenAPI (/docs) and for an app used without this layer.
"""

from __future__ import annotations

from pydantic import ValidationError

from kgx.errors import ConfigError, KgxError, QueryTimeoutError, ReadOnlyQueryError

from . import models as m
from .graph import NotFoundError
from .security import ApiError, access_refusal, send_body, send_json

QUERY_PATH = "/query"
_KGX_STATUS = ((NotFoundError, 404), (ReadOnlyQueryError, 403), (QueryTimeoutError, 504),
               (ConfigError, 422), (KgxError, 400))
_JSON_NEEDED = ("POST /query takes JSON: send 'Content-Type: application/json' and a body like "
                '{"cypher": "MATCH (e:Entity) RETURN e.name LIMIT 5", "params": {}}')


def status_of(error: KgxError) -> int:
    """The HTTP status of a kgx error: 404 no such id, 403 a write, 504 too slow, 422, else 400."""
    return next(code for kind, code in _KGX_STATUS if isinstance(error, kind))


def validation_message(errors: list) -> str:
    """A 422's message: the first five problems, each as `where: what`."""
    problems = "; ".join(f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}"
                         for item in errors[:5])
    return f"invalid request ({problems}); see /docs for the expected shape"


def parse_query_request(body: bytes, content_type: str | None) -> m.QueryRequest:
    """The body as a `QueryRequest` (JSON, as FastAPI reads it), or a 422 `ApiError`."""
    if content_type is not None and not _is_json(content_type):
        raise ApiError(422, _JSON_NEEDED)
    try:
        return m.QueryRequest.model_validate_json(body)
    except ValidationError as e:
        errors = [{**item, "loc": ("body", *item["loc"])} for item in e.errors()]
        raise ApiError(422, validation_message(errors)) from e


def _is_json(content_type: str) -> bool:
    kind = content_type.partition(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/")
                                          and kind.endswith("+json"))


class QueryFastPath:
    """ASGI middleware that answers POST /query; every other request goes on to `app`.

        app.add_middleware(QueryFastPath, state=app.state)  # state: limiter, auth, services
    """

    def __init__(self, app, *, state) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != QUERY_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._answer(scope, receive)
        except ApiError as e:
            await send_json(send, e.status, e.message, e.headers)
        except KgxError as e:
            await send_json(send, status_of(e), str(e))
        except _Disconnected:
            pass  # nobody to answer
        else:
            await send_body(send, 200, body)

    async def _answer(self, scope, receive) -> bytes:
        authorization, content_type = _two_headers(scope["headers"])
        client = scope["client"][0] if scope.get("client") else "unknown"
        refusal = access_refusal(self.state.limiter, self.state.auth, client, authorization,
                                 "read")
        if refusal is not None:
            raise refusal
        request = parse_query_request(await _read_body(receive), content_type)
        return await self.state.services.queries.run(request)


def _two_headers(headers) -> tuple[str | None, str | None]:
    """The first Authorization and Content-Type headers (ASGI names are lower-case)."""
    authorization = content_type = None
    for name, value in headers:
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"content-type" and content_type is None:
            content_type = value.decode("latin-1")
    return authorization, content_type


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class _Disconnected(Exception):
    pass

