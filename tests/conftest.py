"""Shared fixtures (a real Neo4j server for the session, the llama.cpp server, a CLI runner) and
the fast tier: every test that needs a server, a browser or a Ray cluster is marked `slow` here,
so `pytest -m "not slow"` starts none of them."""

from __future__ import annotations

import os

import pytest

SERVER_FIXTURES = {
    "neo4j_uri": "neo4j",        # the session's Neo4j (neo4j_store and others build on it)
    "llama_server": "slow",      # the llama-cpp-python OpenAI-compatible server
    "own_server": "slow",        # a llama.cpp server a test stops and restarts
    "browser": "browser",        # headless Chromium through selenium
    "ray_cluster": "slow",       # a local Ray cluster
}
"""Fixtures that start a server, a browser or a cluster, and the marker each adds besides
`slow`. `item.fixturenames` is the closure of a test's fixtures, so a fixture built on one of
these (neo4j_store, or a module's own `store` on neo4j_store) counts too."""

PARAMETRISED_BACKENDS = {"each_store_uri": "neo4j"}
"""Fixtures that reach a server only for one parameter (through `request.getfixturevalue`)."""


def pytest_collection_modifyitems(config, items):
    """Mark the tests the fast tier (`-m "not slow"`) leaves out."""
    for item in items:
        markers = {SERVER_FIXTURES[name] for name in item.fixturenames if name in SERVER_FIXTURES}
        params = getattr(item, "callspec", None)
        for name, backend in PARAMETRISED_BACKENDS.items():
            if params is not None and params.params.get(name) == backend:
                markers.add(backend)
        if "neo4j" in item.keywords:  # marked by hand: starts the session's Neo4j too
            markers.add("neo4j")
        if markers:
            markers.add("slow")
        for marker in sorted(markers):
            if marker not in item.keywords:
                item.add_marker(marker)


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


@pytest.fixture(scope="module")
def runner():
    """typer's CliRunner for `kgx` commands (see kgx.testing.cli for invoke and fails)."""
    from typer.testing import CliRunner

    return CliRunner()
