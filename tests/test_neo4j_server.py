"""The local Neo4j test server: Bolt answers, APOC is loaded, the version is 5.26.x."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kgx.testing import neo4j_server


@pytest.mark.neo4j
def test_server_answers_with_apoc_on_5_26(neo4j_uri):
    """`neo4j_uri` is NEO4J_URI, or a server started with `start_server` (see conftest.py)."""
    neo4j = pytest.importorskip("neo4j")
    auth = (os.environ.get("NEO4J_USERNAME", "neo4j"), os.environ["NEO4J_PASSWORD"])
    with neo4j.GraphDatabase.driver(neo4j_uri, auth=auth) as driver:
        assert driver.execute_query("RETURN 1 AS one").records[0]["one"] == 1
        # apoc.version is a function, so it is RETURNed, not CALLed.
        apoc = driver.execute_query("RETURN apoc.version() AS v").records[0]["v"]
        components = driver.execute_query(
            "CALL dbms.components() YIELD name, versions RETURN name, versions").records
        merged = driver.execute_query(
            "CALL apoc.merge.node(['KgxServerCheck'], {id: 1}) YIELD node "
            "WITH node DETACH DELETE node RETURN count(*) AS n").records[0]["n"]
    kernel = next(r["versions"][0] for r in components if r["name"] == "Neo4j Kernel")
    assert kernel.startswith("5.26."), kernel
    assert apoc.startswith("5.26."), apoc
    assert merged == 1


def test_stale_state_is_cleaned_up(tmp_path):
    """A state.json left by a crashed run (dead pid) reads as not running and is removed."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = tmp_path / neo4j_server.STATE_FILE
    state.write_text(json.dumps({"pid": dead.pid, "uri": "bolt://127.0.0.1:1",
                                 "username": "neo4j", "password": "not-a-real-one"}))
    assert neo4j_server.server_status(tmp_path) is None
    assert not state.exists()
    state.write_text(json.dumps({"pid": dead.pid, "uri": "bolt://127.0.0.1:1"}))
    assert neo4j_server.stop_server(tmp_path) is False
    assert not state.exists()


def test_neo4j_server_launcher_ships_with_the_package():
    """The pom and the Java launcher are package data of kgx.testing, not checkout files."""
    assert (neo4j_server.SOURCE_DIR / "pom.xml").is_file()
    assert (neo4j_server.SOURCE_DIR / "Launcher.java").is_file()
    assert neo4j_server.SOURCE_DIR.parent == Path(neo4j_server.__file__).parent
    assert neo4j_server.pinned_version().startswith("5.26.")


def test_neo4j_server_outside_a_checkout_keeps_jars_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("KGX_NEO4J_HOME", raising=False)
    monkeypatch.setattr(neo4j_server, "REPO_ROOT", tmp_path / "site-packages")
    monkeypatch.setenv("KGX_CACHE_DIR", str(tmp_path / "cache"))
    assert neo4j_server._home() == (tmp_path / "cache" / "neo4j",
                                    tmp_path / "cache" / "neo4j" / "server")
    monkeypatch.setenv("KGX_NEO4J_HOME", str(tmp_path / "jars"))
    assert neo4j_server._home() == (tmp_path / "jars", tmp_path / "jars" / "server")


def test_neo4j_cli_status_and_env_without_a_server(runner, tmp_path):
    from kgx.cli import app

    result = runner.invoke(app, ["neo4j", "status", "--dir", str(tmp_path)])
    assert result.exit_code == 1 and "not running" in result.output
    result = runner.invoke(app, ["neo4j", "env", "--dir", str(tmp_path)])
    assert result.exit_code == 1
