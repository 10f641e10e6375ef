"""`kgx mcp`: the graph as MCP tools for agents, on the official MCP Python SDK.

Tools: get_schema, query_graph (read-only Cypher), search_entities, get_entity, ask. They return
the same typed models as the HTTP API.
"""

from __future__ import annotations

from typing import Any, Literal

from kgx.retrieval import DEFAULT_RETRIEVER

from . import models as m
from .ask import AskService
from .graph import GraphService

INSTRUCTIONS = (
    "A kgx knowledge graph extracted from documents. Entities (:Entity {id, name, type, aliases}) "
    "are linked by (:Entity)-[:RELATION {predicate, evidence, doc_id, chunk_id}]->(:Entity); "
    "(:Document)-[:HAS_CHUNK]->(:Chunk)-[:MENTIONS]->(:Entity). Start with search_entities or "
    "get_schema; query_graph runs read-only Cypher with $parameters."
)


def build_mcp_server(graph: GraphService, asker: AskService):
    """An `MCPServer` whose tools read `graph` and answer with `asker`."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(name="kgx", instructions=INSTRUCTIONS, log_level="WARNING")
    tool = _tool_registrar(server)

    @tool
    def get_schema() -> m.Schema:
        """The graph schema (labels, relationship types, properties) with the most frequent
        entity types and predicates of this graph."""
        return graph.schema()

    @tool
    def query_graph(cypher: str, params: dict[str, Any] | None = None) -> m.QueryResponse:
        """Run read-only Cypher; pass values as $name in `params`. Writes are refused; rows are
        capped and slow queries are stopped."""
        return graph.query(cypher, params or {})

    @tool
    def search_entities(query: str, limit: int = 10) -> m.SearchResults:
        """Entities whose name or alias fuzzily matches `query`, best first, with their ids."""
        return graph.search(query, limit)

    @tool
    def get_entity(entity_id: str) -> m.EntityDetail:
        """An entity (by id from search_entities), its aliases and facts, each with the source
        document, chunk text, evidence span, extractor, model and run."""
        return graph.entity(entity_id, fact_limit=100)

    @tool
    def ask(question: str,
            retriever: Literal["dense", "bm25", "graph", "ppr", "hipporag2", "hybrid",
                               "text2cypher"] = DEFAULT_RETRIEVER,
            top_k: int = 5, answer: bool = True,
            answerer: Literal["graph", "llm"] | None = None) -> m.AskResponse:
        """Answer a question from the graph as `kgx ask` does: the answer (answer=false: none;
        null with abstained=true when the graph does not hold it), who answered (graph: no LLM;
        llm: grounded in the passages), the confidence, the evidence path and facts, and the
        passages retrieved with the facts and entity paths that led to them."""
        return asker.ask(m.AskRequest(question=question, retriever=retriever, top_k=top_k,
                                      answer=answer, answerer=answerer))

    return server


def _tool_registrar(server):
    """`server.tool()` for functions whose kgx errors reach the agent as their message."""
    import functools

    from mcp.server.mcpserver.exceptions import ToolError

    from kgx.errors import KgxError

    def register(function):
        @functools.wraps(function)
        def wrapped(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except KgxError as e:  # the SDK hides other exceptions' text from the client
                raise ToolError(str(e)) from e

        return server.tool()(wrapped)

    return register


def run_mcp(store_uri: str | None, *, transport: str, host: str, port: int, max_rows: int,
            query_timeout_s: float, llm_spec: str) -> None:
    """Serve the MCP tools over stdio or streamable HTTP (at /mcp) until stopped."""
    from kgx.graphdb import open_store

    store = open_store(store_uri, read_only=True)
    store.connect()
    graph = GraphService(store, max_rows=max_rows, query_timeout_s=query_timeout_s)
    asker = AskService(graph.store, llm_spec=llm_spec)
    server = build_mcp_server(graph, asker)
    try:
        if transport == "stdio":
            server.run("stdio")
        else:
            server.run("streamable-http", host=host, port=port)
    finally:
        asker.close()
        store.close()
