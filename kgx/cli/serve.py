"""`kgx serve`, `kgx mcp` and `kgx viz`: the graph over HTTP, to MCP agents, as one HTML file."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from kgx.cli.options import EXTRACTOR_METAVAR, LLMOption, StoreOption, extractor_name
from kgx.errors import ConfigError, require


def serve(
    store: StoreOption = None,
    host: Annotated[str, typer.Option(help="Address to bind; without KGX_API_TOKENS only a "
                                           "loopback address is allowed (see --insecure)")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on")] = 8765,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Allow a non-loopback --host without tokens: anyone who reaches "
                           "the port can read and write the graph")] = False,
    read_only: Annotated[bool, typer.Option(
        "--read-only", help="No uploads; the embedded store is opened read-only")] = False,
    max_rows: Annotated[int, typer.Option(min=1, help="Row cap of POST /query")] = 1000,
    query_timeout: Annotated[float, typer.Option(
        min=0.01, help="Seconds a POST /query may run before it is stopped")] = 10.0,
    max_body_mb: Annotated[float, typer.Option(
        min=0.001, help="Largest request body (uploads) in MB; larger ones get 413")] = 20.0,
    rate_limit: Annotated[int, typer.Option(
        min=0, help="Requests a minute per client before 429 (0: no limit)")] = 600,
    cors_origin: Annotated[list[str] | None, typer.Option(
        "--cors-origin", help="Allow browser calls from this origin (repeatable); CORS is off "
                              "by default")] = None,
    extractor: Annotated[str, typer.Option(
        parser=extractor_name, metavar=EXTRACTOR_METAVAR,
        help="Extractor of uploaded documents")] = "spacy",
    llm: LLMOption = "local",
) -> None:
    """Serve the graph over HTTP: a JSON API (OpenAPI at /docs) and the graph explorer at /.

    Tokens come from the environment only: KGX_API_TOKENS=TOKEN:read,TOKEN:write. With tokens
    set, every endpoint but /health needs 'Authorization: Bearer TOKEN', and writing (POST and
    DELETE /documents, GET /jobs) needs a write token. POST /query is read-only whatever the
    token.

    Example: KGX_API_TOKENS=s3cret:write kgx serve --store ./kgx-store --port 8765
    """
    require("fastapi", "serve")
    uvicorn = require("uvicorn", "serve")
    from kgx.serve.app import ServeSettings, create_app
    from kgx.serve.security import TOKENS_ENV, is_loopback, parse_tokens

    tokens = parse_tokens(os.environ.get(TOKENS_ENV))
    if not tokens and not is_loopback(host) and not insecure:
        raise ConfigError(f"--host {host} is not a loopback address and {TOKENS_ENV} is not set, "
                          "so anyone who reaches the port could use the graph. Set "
                          f"{TOKENS_ENV}=TOKEN:read,TOKEN:write, bind 127.0.0.1, or pass "
                          "--insecure if you mean it.")
    settings = ServeSettings(
        store=store, read_only=read_only, max_rows=max_rows, query_timeout_s=query_timeout,
        max_body_bytes=int(max_body_mb * 1_000_000), rate_limit_per_minute=rate_limit,
        cors_origins=cors_origin or [], extractor=extractor, llm=llm)
    app = create_app(settings, tokens)
    typer.echo(f"kgx serve: http://{_url_host(host)}:{port}/ (API docs at /docs)"
               + (f", {len(tokens)} tokens" if tokens else ", no tokens: loopback only"),
               err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Transport(str, Enum):
    """How `kgx mcp` talks to its client."""

    stdio = "stdio"
    http = "http"


def mcp(
    store: StoreOption = None,
    transport: Annotated[Transport, typer.Option(
        help="stdio (the client starts kgx mcp) or http (streamable HTTP at /mcp)")
    ] = Transport.stdio,
    host: Annotated[str, typer.Option(help="Address for --transport http (loopback only)")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port for --transport http")
                    ] = 8766,
    max_rows: Annotated[int, typer.Option(min=1, help="Row cap of query_graph")] = 200,
    query_timeout: Annotated[float, typer.Option(
        min=0.01, help="Seconds a query_graph call may run")] = 10.0,
    llm: LLMOption = "local",
) -> None:
    """Serve the graph to agents over MCP: get_schema, query_graph (read-only),
    search_entities, get_entity and ask.

    Example (Claude Desktop and other clients start it): kgx mcp --store ./kgx-store
    """
    require("mcp", "serve")
    from kgx.serve.mcp_server import run_mcp
    from kgx.serve.security import is_loopback

    if transport is Transport.http and not is_loopback(host):
        raise ConfigError(f"kgx mcp has no authentication, so --host must be a loopback "
                          f"address, not {host}; put an authenticating proxy in front for more")
    run_mcp(store, transport=transport.value, host=host, port=port, max_rows=max_rows,
            query_timeout_s=query_timeout, llm_spec=llm)


def viz(
    out: Annotated[Path, typer.Argument(help="The HTML file to write")],
    store: StoreOption = None,
    entity: Annotated[str | None, typer.Option(
        "--entity", "-e", help="Draw the neighbourhood of the entity best matching this name")
    ] = None,
    hops: Annotated[int, typer.Option(min=1, max=3, help="Hops around --entity")] = 2,
    query: Annotated[str | None, typer.Option(
        "--query", "-q", help="Draw the nodes, edges and paths a read-only Cypher query returns")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many edges (or rows)")] = 300,
) -> None:
    """Write a self-contained HTML page drawing a subgraph, to share without a server.

    The graph library (cytoscape.js) is inlined, so the file opens offline in any browser.
    Example: kgx viz ada.html --entity "Ada Lovelace" --hops 2
    """
    if (entity is None) == (query is None):
        raise ConfigError("pass exactly one of --entity NAME or --query CYPHER")
    from kgx.graphdb import open_store
    from kgx.serve.viz import subgraph_from_entity, subgraph_from_query, write_html

    with open_store(store, read_only=True) as graph:
        if entity is not None:
            subgraph = subgraph_from_entity(graph, entity, hops=hops, limit=limit)
        else:
            subgraph = subgraph_from_query(graph, query, limit=limit)
    write_html(out, subgraph)
    typer.echo(f"wrote {out}: {subgraph.summary()} ({subgraph.title})")
