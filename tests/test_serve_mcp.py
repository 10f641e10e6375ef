"""`kgx mcp`: the MCP tools through the SDK's own client, over stdio and streamable HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from kgx.testing.serve import build_sample_store, start_serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["ladybug", "neo4j"])
def sample_store(request, tmp_path_factory):
    """The sample corpus extracted into each store (module scope)."""
    if request.param == "ladybug":
        uri = str(tmp_path_factory.mktemp("mcp") / "store")
    else:
        from kgx.graphdb import open_store

        uri = request.getfixturevalue("neo4j_uri")
        with open_store(uri) as store:
            store.query("MATCH (n) DETACH DELETE n", write=True)
    build_sample_store(uri)
    return uri


async def call_tools(server) -> dict:
    """List the tools and call each once, as an agent would."""
    from mcp import Client

    async with Client(server, read_timeout_seconds=120) as client:
        tools = await client.list_tools()
        found = await client.call_tool("search_entities", {"query": "Ada Lovelace", "limit": 3})
        ada = next(h for h in found.structured_content["hits"] if h["name"] == "Ada Lovelace")
        return {
            "tools": sorted(tool.name for tool in tools.tools),
            "schema": (await client.call_tool("get_schema", {})).structured_content,
            "ada": ada,
            "entity": (await client.call_tool("get_entity", {"entity_id": ada["id"]})
                       ).structured_content,
            "query": (await client.call_tool("query_graph", {
                "cypher": "MATCH (e:Entity) WHERE e.name = $n RETURN e.type AS type",
                "params": {"n": "Ada Lovelace"}})).structured_content,
            "write": await client.call_tool("query_graph", {
                "cypher": "MATCH (e:Entity) DETACH DELETE e"}),
            "ask": (await client.call_tool("ask", {
                "question": "Whom did Ada Lovelace marry?", "retriever": "graph",
                "top_k": 2})).structured_content,
            "count": (await client.call_tool("query_graph", {
                "cypher": "MATCH (e:Entity) RETURN count(e) AS n"})).structured_content,
        }


def check_tool_results(results: dict) -> None:
    assert results["tools"] == ["ask", "get_entity", "get_schema", "query_graph",
                                "search_entities"]
    assert "Entity" in [n["label"] for n in results["schema"]["nodes"]]
    fact = next(f for f in results["entity"]["facts"] if f["object"]["name"] == "William King")
    prov = fact["provenance"]
    assert prov["chunk_text"][prov["span_start"]:prov["span_end"]] == fact["evidence"]
    assert results["query"]["rows"] == [["PERSON"]]
    assert results["write"].is_error
    assert "read-only" in results["write"].content[0].text
    assert results["count"]["rows"][0][0] > 900  # the refused write deleted nothing
    assert results["ask"]["passages"][0]["title"] == "ada_lovelace"
    # The graph answers (no LLM is configured beyond the bundled tiny model).
    assert results["ask"]["answerer"] == "graph"
    assert results["ask"]["answer"] == "William King"


def test_mcp_tools_over_stdio(sample_store):
    from mcp.client.stdio import StdioServerParameters

    env = {k: v for k, v in os.environ.items() if k.startswith(("NEO4J_", "KGX_", "PATH"))}
    server = StdioServerParameters(command=sys.executable,
                                   args=["-m", "kgx.cli", "mcp", "--store", sample_store],
                                   env=env)
    check_tool_results(asyncio.run(call_tools(server)))


def test_mcp_tools_over_streamable_http(sample_store, tmp_path):
    if not sample_store.startswith(("bolt", "neo4j")):
        pytest.skip("one backend is enough for the HTTP transport")
    process = start_serve(sample_store, "--transport", "http", command="mcp", log_dir=tmp_path)
    try:
        results = asyncio.run(call_tools(process.url + "/mcp"))
    finally:
        process.stop()
    check_tool_results(results)
    assert json.dumps(results["query"])
