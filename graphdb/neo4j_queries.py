"""Neo4j Cypher for kgx's schema, as pure functions of schema names; values are always bound.

Labels, types and property names come from `graphdb.schema`, never from user input.
"""

from __future__ import annotations

from .schema import NODES, RelTable

_INDEXED_NODE_PROPERTIES = (("Entity", "name"), ("Entity", "type"), ("Chunk", "doc_id"))
_INDEXED_RELATION_PROPERTIES = ("id", "predicate")


def schema_statements() -> list[str]:
    """Uniqueness constraints on every node id, plus indexes on filtered properties."""
    statements = [
        f"CREATE CONSTRAINT kgx_{t.label.lower()}_id IF NOT EXISTS "
        f"FOR (n:{t.label}) REQUIRE n.id IS UNIQUE"
        for t in NODES
    ]
    statements += [
        f"CREATE INDEX kgx_{label.lower()}_{prop} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})"
        for label, prop in _INDEXED_NODE_PROPERTIES
    ]
    statements += [
        f"CREATE INDEX kgx_relation_{prop} IF NOT EXISTS FOR ()-[r:RELATION]-() ON (r.{prop})"
        for prop in _INDEXED_RELATION_PROPERTIES
    ]
    return statements


AWAIT_INDEXES = "CALL db.awaitIndexes(300)"


def merge_nodes(label: str) -> str:
    """Upsert `$rows` (maps with `id`) as nodes of `label`."""
    return f"UNWIND $rows AS row MERGE (n:{label} {{id: row.id}}) SET n += row"


def merge_edges(table: RelTable) -> str:
    """Upsert `$rows` ({src, dst, props}) as edges; keyed by `id` if the type has one.

    It returns how many rows found both endpoints, so a missing node is reported, not skipped.
    """
    key = " {id: row.props.id}" if "id" in table.properties else ""
    return (
        f"UNWIND $rows AS row "
        f"MATCH (a:{table.source} {{id: row.src}}) "
        f"MATCH (b:{table.target} {{id: row.dst}}) "
        f"MERGE (a)-[r:{table.type}{key}]->(b) SET r += row.props "
        f"RETURN count(r) AS written"
    )


ENTITY_ALIASES = "UNWIND $ids AS i MATCH (e:Entity {id: i}) RETURN e.id AS id, e.aliases AS aliases"

DOCUMENT_KEYS = (
    "UNWIND $ids AS i MATCH (d:Document {id: i}) RETURN d.id AS id, d.extracted_with AS keys"
)

SET_DOCUMENT_KEYS = (
    "UNWIND $rows AS row MATCH (d:Document {id: row.id}) SET d.extracted_with = row.extracted_with"
)
