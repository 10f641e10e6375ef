"""`kgx load --bulk` with the real neo4j-admin of the Maven-fetched Neo4j 5.26: the bulk-loaded
database holds the online writer's graph (same export, stats, query answers and run records),
gets kgx's constraints and indexes, and a database in use or holding a graph is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgx.graphdb.neo4j_store import Neo4jStore
from kgx.testing.corpora import extract, snapshot
from kgx.testing.neo4j_server import start_server

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "corpus"
QUESTIONS = (
    "MATCH (a:Entity {name: 'Marie Curie'})-[r:RELATION]-(b:Entity) "
    "RETURN r.predicate, b.name, r.doc_id, r.evidence ORDER BY r.predicate, b.name, r.doc_id",
    "MATCH ()-[r:RELATION]->() RETURN r.predicate, count(*) AS n ORDER BY n DESC, r.predicate "
    "LIMIT 10",
)


def _answers(store) -> list:
    return [store.query(question).rows for question in QUESTIONS]


def _load(runner, export: Path, server_dir: Path) -> object:
    from kgx.cli import app

    return runner.invoke(app, ["load", str(export), "--bulk", "--neo4j-home",
                               str(server_dir / "home"), "--neo4j-conf", str(server_dir)])


def test_bulk_load_holds_the_online_writers_graph(neo4j_store, neo4j_uri, tmp_path):
    from kgx.cli import app

    runner = CliRunner()
    extract(neo4j_store, SAMPLES)  # the online writer, over Bolt
    online = (neo4j_store.counts(), snapshot(neo4j_store), _answers(neo4j_store),
              neo4j_store.runs())
    export = tmp_path / "export"
    done = runner.invoke(app, ["export", str(export), "--format", "neo4j-import",
                               "--store", neo4j_uri])
    assert done.exit_code == 0, done.output

    server = start_server(tmp_path / "bulk")  # a new server: its empty database is the target
    try:
        in_use = _load(runner, export, server.directory)
        assert in_use.exit_code == 1 and "stop the Neo4j server" in str(in_use.exception)
    finally:
        server.stop()
    loaded = _load(runner, export, server.directory)
    assert loaded.exit_code == 0, (loaded.output, loaded.exception)
    nodes = sum(online[0][k] for k in ("Document", "Chunk", "Entity")) + len(online[3])
    assert f"{nodes:,} nodes" in loaded.output.replace("\n", " ")  # with the run record

    server = start_server(server.directory, keep_data=True)
    try:
        with Neo4jStore(server.uri, username=server.username, password=server.password) as bulk:
            constraints = {row[0] for row in bulk.query("SHOW CONSTRAINTS YIELD name").rows}
            assert {"kgx_entity_id", "kgx_document_id", "kgx_chunk_id"} <= constraints
            assert (bulk.counts(), snapshot(bulk), _answers(bulk), bulk.runs()) == online
            assert all(online[2]), "each question has answers"
            assert len(online[3]) == 1, "the run record came along"
    finally:
        server.stop()

    again = _load(runner, export, server.directory)
    assert again.exit_code == 1 and "already holds a graph" in str(again.exception)


def test_bulk_load_needs_an_export_folder(tmp_path):
    runner = CliRunner()
    result = _load(runner, tmp_path, tmp_path / "server")
    assert result.exit_code == 1 and "kgx export --format neo4j-import" in str(result.exception)


def test_bulk_load_runs_neo4j_admin_on_unsigned_copies_of_signed_jars(tmp_path):
    """The jars kgx starts neo4j-admin from: a signed jar is replaced by a copy without its
    signature (same classes), made once; unsigned jars are used as they are."""
    import os
    import zipfile

    from kgx.bulk_import import admin_classpath

    lib = tmp_path / "lib"
    lib.mkdir()
    with zipfile.ZipFile(lib / "signed.jar", "w") as jar:
        for name in ("META-INF/MANIFEST.MF", "META-INF/ECLIPSE_.SF", "META-INF/ECLIPSE_.RSA",
                     "org/x/A.class"):
            jar.writestr(name, name)
    with zipfile.ZipFile(lib / "plain.jar", "w") as jar:
        jar.writestr("org/y/B.class", "B")
    assert admin_classpath(lib).split(os.pathsep) == [str(tmp_path / "admin-lib" / "*"),
                                                      str(lib / "plain.jar")]
    with zipfile.ZipFile(tmp_path / "admin-lib" / "signed.jar") as copy:
        assert copy.namelist() == ["META-INF/MANIFEST.MF", "org/x/A.class"]
        assert copy.read("org/x/A.class") == b"org/x/A.class"
    made = (tmp_path / "admin-lib" / "signed.jar").stat().st_mtime_ns
    assert admin_classpath(lib) == admin_classpath(lib)  # made once
    assert (tmp_path / "admin-lib" / "signed.jar").stat().st_mtime_ns == made
    (lib / "signed.jar").unlink()  # a new fetch: no signed jar left
    assert admin_classpath(lib) == str(lib / "*")
