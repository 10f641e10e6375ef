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
