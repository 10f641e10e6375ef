"""Neo4j Cypher for kgx's schema, as pure functions of schema names; values are always bound.

Labels, types and property names come from `graphdb.schema`, never from user input.
"""

from __future__ import annotations

from .schema import NODES, RelTable

_INDEXED_NODE_PROPERTIES = (("Entity", "name"), ("Entity", "type"), ("Chunk", "doc_id"),
                            ("Proposition", "doc_id"), ("Document", "source"),
                            ("Document", "external_id"))
_INDEXED_RELATION_PROPERTIES = ("id", "predicate", "doc_id")


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
    """Upsert `$rows` (maps with `id`) as nodes of `label`; entity aliases are unioned, sorted."""
    if label == "Entity":
        return (
            "UNWIND $rows AS row MERGE (n:Entity {id: row.id}) "
            "SET n.name = row.name, n.type = row.type, n.aliases = COLLECT { "
            "UNWIND coalesce(n.aliases, []) + row.aliases AS a RETURN DISTINCT a ORDER BY a }"
        )
    return f"UNWIND $rows AS row MERGE (n:{label} {{id: row.id}}) SET n += row"


def merge_edges(table: RelTable) -> str:
    """Upsert `$rows` ({src, dst, …properties}) as edges; keyed by `id` if the type has one.

    The endpoints are dropped from the properties with a null in the map projection. It returns
    how many rows found both endpoints, so a missing node is reported, not skipped.
    """
    keyed = "id" in table.properties
    merge = f"MERGE (a)-[r:{table.type}{' {id: row.id}' if keyed else ''}]->(b) "
    properties = "SET r += row {.*, src: null, dst: null} " if table.properties else ""
    if table.type == "MENTIONS":  # surface forms from several extractors add up
        properties = ("SET r.surfaces = COLLECT { UNWIND coalesce(r.surfaces, []) + "
                      "row.surfaces AS s RETURN DISTINCT s ORDER BY s } ")
    return (
        f"UNWIND $rows AS row "
        f"MATCH (a:{table.source} {{id: row.src}}) "
        f"MATCH (b:{table.target} {{id: row.dst}}) "
        f"{merge}{properties}RETURN count(r) AS written"
    )


DOCUMENT_KEYS = (
    "UNWIND $ids AS i MATCH (d:Document {id: i}) RETURN d.id AS id, d.extracted_with AS keys"
)

SET_DOCUMENT_KEYS = (
    "UNWIND $rows AS row MATCH (d:Document {id: row.id}) SET d.extracted_with = row.extracted_with"
)
