"""The FastAPI app of `kgx serve`: read endpoints, uploads as background jobs, the explorer page.

    app = create_app(ServeSettings(store="./kgx-store"))
    uvicorn.run(app, host="127.0.0.1", port=8765)
"""

from __future__ import annotations

import functools
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from kgx.errors import KgxError

from . import STATIC
from . import models as m
from .graph import NotFoundError
from .query_asgi import QueryFastPath, status_of, validation_message
from .query_runner import QueryRunner
from .security import ApiError, BodyLimitMiddleware, RateLimiter, TokenAuth, access_refusal

ERRORS = {401: {"model": m.ErrorBody}, 403: {"model": m.ErrorBody}, 404: {"model": m.ErrorBody},
          422: {"model": m.ErrorBody}, 429: {"model": m.ErrorBody}}


class ServeSettings(BaseModel):
    """Everything `kgx serve` takes; tokens come from KGX_API_TOKENS, never from here."""

    model_config = ConfigDict(extra="forbid")

    store: str | None = None
    read_only: bool = False
    max_rows: int = Field(1000, ge=1)
    query_timeout_s: float = Field(10.0, gt=0)
    max_body_bytes: int = Field(20_000_000, ge=1)
    rate_limit_per_minute: int = Field(600, ge=0, description="0: no limit")
    cors_origins: list[str] = []
    extractor: str = "spacy"
    llm: str = "local"


class Services:
    """The store and what serves it, opened at startup and closed at shutdown."""

    def __init__(self, settings: ServeSettings) -> None:
        from kgx.graphdb import open_store
        from kgx.pipeline import ExtractConfig

        from .ask import AskService
        from .graph import GraphService
        from .jobs import JobRunner

        store = open_store(settings.store, read_only=settings.read_only)
        store.connect()
        self.graph = GraphService(store, max_rows=settings.max_rows,
                                  query_timeout_s=settings.query_timeout_s)
        self.ask = AskService(self.graph.store, llm_spec=settings.llm)
        self.jobs = None if settings.read_only else JobRunner(
            self.graph.store, ExtractConfig(extractor=settings.extractor),
            on_complete=self.forget_cached)
        self.queries = QueryRunner(self.graph, inline=self.graph.backend == "ladybug")

    def forget_cached(self) -> None:
        self.graph.forget_cached()
        self.ask.forget_cached()

    def close(self) -> None:
        if self.jobs is not None:
            self.jobs.close()
        self.queries.close()
        self.ask.close()
        self.graph.store.close()


def create_app(settings: ServeSettings, tokens: dict[str, str]):
    """The ASGI app over `settings.store`: the FastAPI app behind the body limit, CORS when
    asked for, and POST /query's fast path (`QueryFastPath`, which FastAPI's own middleware
    and routing would slow more than an embedded query takes). The store opens when the app
    starts."""
    api = _create_api(settings, tokens)
    app = QueryFastPath(api, state=api.state)
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app = CORSMiddleware(app, allow_origins=settings.cors_origins,
                             allow_methods=["GET", "POST"],
                             allow_headers=["Authorization", "Content-Type"])
    return BodyLimitMiddleware(app, max_bytes=settings.max_body_bytes)


def _create_api(settings: ServeSettings, tokens: dict[str, str]) -> FastAPI:
    auth, limiter = TokenAuth(tokens), RateLimiter(settings.rate_limit_per_minute)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.services = Services(settings)
        try:
            yield
        finally:
            app.state.services.close()

    app = FastAPI(title="kgx", version=_version(), lifespan=lifespan, docs_url=None,
                  redoc_url=None,
                  description="Read a kgx knowledge graph, run read-only Cypher, ask questions, "
                              "and upload documents to extract (write scope).")
    app.state.settings = settings
    app.state.auth = auth
    app.state.limiter = limiter
    _add_error_handlers(app)
    _add_routes(app)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


def _guard(scope: str):
    async def check(request: Request) -> None:  # async: no thread hop for a few dict look-ups
        state = request.app.state
        refusal = access_refusal(state.limiter, state.auth, _client(request),
                                 request.headers.get("authorization"), scope)
        if refusal is not None:
            raise refusal

    return Depends(check)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


READ, WRITE = _guard("read"), _guard("write")


async def _services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(_services)]


def _add_routes(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def explorer() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        """Swagger UI from the package (vendored from npm), so /docs works offline."""
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url="/openapi.json", title="kgx API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="data:,")

    @app.get("/health", response_model=m.Health, tags=["read"])
    def health(request: Request, services: ServicesDep) -> m.Health:
        """Liveness: the store's URI and backend, whether tokens are needed. No token needed."""
        return m.Health(store=services.graph.store.uri, backend=services.graph.backend,
                        version=_version(), auth_required=request.app.state.auth.enabled,
                        writable=services.jobs is not None)

    @app.get("/stats", response_model=m.Stats, dependencies=[READ], responses=ERRORS,
             tags=["read"])
    def stats(services: ServicesDep) -> Response:
        """Nodes per label and edges per relationship type."""
        return _json(services.graph.stats())

    @app.get("/schema", response_model=m.Schema, dependencies=[READ], responses=ERRORS,
             tags=["read"])
    def schema(services: ServicesDep) -> Response:
        """Labels, relationship types and properties; the most frequent types and predicates."""
        return _json(services.graph.schema())

    @app.post("/query", response_model=m.QueryResponse, dependencies=[READ], tags=["read"],
              responses={**ERRORS, **{code: {"model": m.ErrorBody} for code in (400, 413, 504)}})
    async def query(body: m.QueryRequest, services: ServicesDep) -> Response:
        """Read-only Cypher; `params` are bound as $name. Rows are capped, time is limited."""
        # Served by QueryFastPath in front of FastAPI, with the same checks; this route
        # documents it and answers when the FastAPI app runs without that layer.
        return Response(await services.queries.run(body), media_type="application/json")

    @app.get("/entities", response_model=m.SearchResults, dependencies=[READ],
             responses=ERRORS, tags=["read"])
    def search(services: ServicesDep,
               q: Annotated[str, Query(min_length=1, max_length=200)],
               limit: Annotated[int, Query(ge=1, le=100)] = 20) -> Response:
        """Fuzzy search over entity names and aliases, best first."""
        return _json(services.graph.search(q, limit))

    @app.get("/entities/{entity_id}", response_model=m.EntityDetail, dependencies=[READ],
             responses=ERRORS, tags=["read"])
    def entity(entity_id: str, services: ServicesDep) -> Response:
        """The entity, its aliases, and its facts with full provenance."""
        return _json(services.graph.entity(entity_id))

    @app.get("/entities/{entity_id}/neighbourhood", response_model=m.Neighbourhood,
             dependencies=[READ], responses=ERRORS, tags=["read"])
    def neighbourhood(entity_id: str, services: ServicesDep,
                      hops: Annotated[int, Query(ge=1, le=3)] = 1,
                      limit: Annotated[int, Query(ge=1, le=2000)] = 200) -> Response:
        """Entities and RELATION edges within `hops` of the entity, at most `limit` edges."""
        return _json(services.graph.neighbourhood(entity_id, hops, limit))

    @app.get("/facts/{fact_id}", response_model=m.Fact, dependencies=[READ], responses=ERRORS,
             tags=["read"])
    def fact(fact_id: str, services: ServicesDep) -> Response:
        """One fact (a RELATION edge) with its provenance."""
        return _json(services.graph.fact(fact_id))

    @app.get("/documents", response_model=m.DocumentList, dependencies=[READ],
             responses=ERRORS, tags=["read"])
    def documents(services: ServicesDep, skip: Annotated[int, Query(ge=0)] = 0,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Response:
        """Documents by title, with their chunk counts and the extractors that ran on them."""
        return _json(services.graph.documents(skip, limit))

    @app.get("/documents/{doc_id}", response_model=m.DocumentDetail, dependencies=[READ],
             responses=ERRORS, tags=["read"])
    def document(doc_id: str, services: ServicesDep) -> Response:
        """A document's text and chunks."""
        return _json(services.graph.document(doc_id))

    @app.post("/ask", response_model=m.AskResponse, dependencies=[READ], responses=ERRORS,
              tags=["read"])
    def ask(body: m.AskRequest, services: ServicesDep) -> Response:
        """The answer, the cited passages and the entity paths, as `kgx ask` gives them."""
        return _json(services.ask.ask(body))

    @app.post("/documents", response_model=m.Job, status_code=202, dependencies=[WRITE],
              responses={**ERRORS, 413: {"model": m.ErrorBody}}, tags=["write"])
    async def upload(services: ServicesDep,
                     file: Annotated[list[UploadFile] | None, File()] = None,
                     text: Annotated[str | None, Form()] = None,
                     title: Annotated[str | None, Form(max_length=200)] = None) -> m.Job:
        """Upload files (field `file`, repeatable) or `text`; extraction runs as a job."""
        jobs = _writable(services)
        uploads = {(f.filename or "upload.txt"): await f.read() for f in file or []}
        if text:
            uploads[f"{_safe_name(title or 'text')}.txt"] = text.encode()
        if not uploads:
            raise ApiError(422, "nothing to extract: send files in the multipart field `file` "
                                "(any format `kgx extract` reads), or a `text` field")
        return jobs.submit(uploads)

    @app.delete("/documents/{doc_id}", response_model=m.DeletedDocument, dependencies=[WRITE],
                responses={**ERRORS, 409: {"model": m.ErrorBody}}, tags=["write"])
    def delete_document(doc_id: str, services: ServicesDep) -> m.DeletedDocument:
        """Delete a document with its chunks, facts, mentions and orphan entities."""
        jobs = _writable(services)
        if jobs.busy():
            raise ApiError(409, "an extraction job is queued or running; delete once GET "
                                "/jobs/{id} says it is complete", {"Retry-After": "5"})
        return jobs.delete_document(doc_id)

    @app.get("/jobs/{job_id}", response_model=m.Job, dependencies=[WRITE], responses=ERRORS,
             tags=["write"])
    def job(job_id: str, services: ServicesDep) -> m.Job:
        """A job's status (queued, running, complete, failed), progress, counts and skips."""
        if services.jobs is None:
            raise NotFoundError(f"no job {job_id!r}: this server is read-only")
        return services.jobs.get(job_id)


def _writable(services: Services):
    if services.jobs is None:
        raise ApiError(403, "this server was started with --read-only; restart it without that "
                            "flag to upload or delete documents")
    return services.jobs


def _json(model: BaseModel) -> Response:
    """The model as JSON, serialised once by pydantic-core: FastAPI would validate it again
    against the declared response_model (the same class) before dumping it."""
    return Response(model.model_dump_json(), media_type="application/json")


def _add_error_handlers(app: FastAPI) -> None:
    def error(status: int, message: str, headers=None) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError):
        return error(e.status, e.message, e.headers)

    @app.exception_handler(KgxError)
    async def kgx_error(request: Request, e: KgxError):
        return error(status_of(e), str(e))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError):
        return error(422, validation_message(e.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException):
        return error(e.status_code, str(e.detail), getattr(e, "headers", None))


def _safe_name(title: str) -> str:
    name = "".join(c if c.isalnum() or c in " -_" else "_" for c in title).strip()
    return name[:80] or "text"


@functools.cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kgx-graph")
    except PackageNotFoundError:
        return "unknown"
