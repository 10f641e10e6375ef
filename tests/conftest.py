"""Shared fixtures: a real Neo4j server for the session (started here unless NEO4J_URI is set)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def neo4j_uri(tmp_path_factory):
    """Bolt URI of a real Neo4j 5.26; credentials are left in NEO4J_USERNAME / NEO4J_PASSWORD."""
    if os.environ.get("KGX_SKIP_NEO4J") == "1":
        pytest.skip("KGX_SKIP_NEO4J=1: Neo4j tests were switched off explicitly")
    if os.environ.get("NEO4J_URI"):
        yield os.environ["NEO4J_URI"]
        return
    from kgx.testing.neo4j_server import start_server

    server = start_server(tmp_path_factory.mktemp("neo4j"))
    saved = {k: os.environ.get(k) for k in ("NEO4J_USERNAME", "NEO4J_PASSWORD")}
    os.environ["NEO4J_USERNAME"], os.environ["NEO4J_PASSWORD"] = server.username, server.password
    try:
        yield server.uri
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def neo4j_store(neo4j_uri):
    """An empty Neo4jStore on the session server."""
    from kgx.graphdb.neo4j_store import Neo4jStore

    with Neo4jStore(neo4j_uri) as store:
        store.query("MATCH (n) DETACH DELETE n", write=True)
        yield store


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """A real llama-cpp-python OpenAI-compatible server with the bundled SmolLM2 on 127.0.0.1."""
    from kgx.testing.llama_server import start_llama_server

    server = start_llama_server(log_dir=tmp_path_factory.mktemp("llama"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["ladybug", "neo4j"])
def each_store_uri(request, tmp_path):
    """The URI of an empty store, once for each backend: a LadybugDB folder, then Neo4j."""
    if request.param == "ladybug":
        return str(tmp_path / "store")
    from kgx.graphdb import open_store

    uri = request.getfixturevalue("neo4j_uri")
    with open_store(uri) as store:
        store.query("MATCH (n) DETACH DELETE n", write=True)
    return uri


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster with 2 CPUs for the whole session; its GCS address, which a
    `kgx extract --engine ray --ray-address` subprocess joins."""
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'kgx-graph[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
