"""The same Cypher gives the same answer on the embedded store and on Neo4j."""

from __future__ import annotations

import pytest

from kgx.export import export_graph
from kgx.graphdb.ladybug_store import LadybugStore
from kgx.testing.graphs import ada_batch

pytestmark = pytest.mark.neo4j

QUERIES = [
    ("MATCH (e:Entity) RETURN e.name, e.type, e.aliases ORDER BY e.name", {}),
    ("MATCH (a:Entity)-[r:RELATION]->(b:Entity) RETURN a.name, r.predicate, b.name, r.confidence "
     "ORDER BY r.predicate", {}),
    ("MATCH (e:Entity) WHERE e.name STARTS WITH $prefix RETURN e", {"prefix": "Ada"}),
    ("MATCH (a)-[r:RELATION]->(b) WHERE r.predicate = $p RETURN r", {"p": "designed"}),
    ("MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk)-[:MENTIONS]->(e:Entity) "
     "RETURN d.title, count(DISTINCT e) AS entities ORDER BY d.title", {}),
    ("MATCH (e:Entity)<-[:ABOUT]-(p:Proposition) RETURN p.text, collect(e.name) AS about", {}),
    ("MATCH (e:Entity {name: $n})-[:RELATION*1..2]->(x:Entity) RETURN DISTINCT x.name "
     "ORDER BY x.name", {"n": "Ada Lovelace"}),
    ("MATCH (n:Entity) RETURN count(n) AS n", {}),
]


@pytest.fixture
def both(tmp_path, neo4j_store):
    with LadybugStore(tmp_path / "embedded") as embedded:
        for store in (embedded, neo4j_store):
            store.upsert(ada_batch())
        yield embedded, neo4j_store


@pytest.mark.parametrize(("cypher", "params"), QUERIES)
def test_store_parity_same_query_same_answer(both, cypher, params):
    embedded, neo4j = both
    expected = embedded.query(cypher, params)
    got = neo4j.query(cypher, params)
    assert got.rows == expected.rows
    assert got.columns == expected.columns


def test_store_parity_exports_are_identical(both, tmp_path):
    embedded, neo4j = both
    for store, name in ((embedded, "a.jsonl"), (neo4j, "b.jsonl")):
        export_graph(store, "jsonl", tmp_path / name)
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()


def test_several_statements_are_one_clear_error_on_both_stores(each_store_uri):
    """Two statements in one query: a StoreError (HTTP 400 under kgx serve) that says to send
    one at a time, not a crash, and nothing written, even with write=True."""
    from kgx.errors import StoreError
    from kgx.graphdb import open_store

    with open_store(each_store_uri) as store:
        store.upsert(ada_batch())
        for write in (False, True):
            with pytest.raises(StoreError) as caught:
                store.query("MATCH (e:Entity) RETURN count(e) AS n; "
                            "CREATE (x:Entity {id: 'x', name: 'x'})", write=write)
            assert not isinstance(caught.value, AttributeError)
        assert store.query("MATCH (e:Entity {id: 'x'}) RETURN count(e) AS n").records() == [
            {"n": 0}]
        with pytest.raises(StoreError, match=r"one statement per query|statement|Invalid"):
            store.query("MATCH (e:Entity) RETURN count(e) AS n; "
                        "MATCH (d:Document) RETURN count(d) AS m")
