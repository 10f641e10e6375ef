"""Neo4j Cypher for kgx's schema, as pure functions of schema names; values are always bound.

Labels, types and property names come from `graphdb.schema`, never from user input.
"""

from __future__ import annotations

from dataclasses import dataclass

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

BULK_IMPORT_LABEL = "KgxBulkImport"
"""The label of the one node `kgx load --bulk` adds: the import still needs `finish`ing."""
PENDING_BULK_IMPORT = (f"CALL db.labels() YIELD label WHERE label = '{BULK_IMPORT_LABEL}' "
                       "RETURN count(*) AS pending")  # no warning on stores without the label
# neo4j-admin cannot store an empty list (it leaves the property out, neo4j/neo4j#13566); the
# online writer always stores these two as lists.
EMPTY_LISTS_AFTER_BULK_IMPORT = (
    "MATCH (n:Entity) WHERE n.aliases IS NULL WITH n LIMIT $batch SET n.aliases = [] "
    "RETURN count(*) AS fixed",
    "MATCH ()-[r:MENTIONS]->() WHERE r.surfaces IS NULL WITH r LIMIT $batch "
    "SET r.surfaces = [] RETURN count(*) AS fixed",
)
FINISH_BULK_IMPORT = f"MATCH (m:{BULK_IMPORT_LABEL}) DELETE m"


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


# -- vector indexes: embeddings as an `embedding` property, searched natively ------------------

VECTOR_DIMENSIONS = 384  # all-MiniLM-L6-v2, kgx.embeddings


@dataclass(frozen=True)
class VectorTarget:
    """Where Neo4j keeps the vectors of one kind: a label or relationship type, and an index."""

    index: str
    label: str
    relationship: bool = False

    @property
    def pattern(self) -> str:
        return f"()-[n:{self.label}]->()" if self.relationship else f"(n:{self.label})"


VECTOR_TARGETS = {
    "chunks": VectorTarget("kgx_chunk_embedding", "Chunk"),
    "propositions": VectorTarget("kgx_proposition_embedding", "Proposition"),
    "relations": VectorTarget("kgx_relation_embedding", "RELATION", relationship=True),
    "entities": VectorTarget("kgx_entity_embedding", "Entity"),
}


def embedded_ids(target: VectorTarget) -> str:
    """Ids that already carry an embedding."""
    return f"MATCH {target.pattern} WHERE n.embedding IS NOT NULL RETURN n.id AS id"


def all_embeddings(target: VectorTarget) -> str:
    """Every id with its embedding."""
    return (f"MATCH {target.pattern} WHERE n.embedding IS NOT NULL "
            "RETURN n.id AS id, n.embedding AS embedding")


def set_embeddings(target: VectorTarget) -> str:
    """Store `$rows` ({id, vector}) as float32 vector properties."""
    procedure = ("db.create.setRelationshipVectorProperty" if target.relationship
                 else "db.create.setNodeVectorProperty")
    key = f"()-[n:{target.label} {{id: row.id}}]->()" if target.relationship else (
        f"(n:{target.label} {{id: row.id}})")
    return f"UNWIND $rows AS row MATCH {key} CALL {procedure}(n, 'embedding', row.vector)"


def create_vector_index(target: VectorTarget) -> str:
    """The cosine vector index of `target`, if missing."""
    on = (f"()-[n:{target.label}]-()" if target.relationship else f"(n:{target.label})")
    return (f"CREATE VECTOR INDEX {target.index} IF NOT EXISTS FOR {on} ON (n.embedding) "
            f"OPTIONS {{indexConfig: {{`vector.dimensions`: {VECTOR_DIMENSIONS}, "
            f"`vector.similarity_function`: 'cosine'}}}}")


AWAIT_INDEX = "CALL db.awaitIndex($index, 300)"


def query_vectors(target: VectorTarget) -> str:
    """The `$k` nearest ids to `$vector` in the index `$index`, with Neo4j's score."""
    if target.relationship:
        return ("CALL db.index.vector.queryRelationships($index, $k, $vector) "
                "YIELD relationship, score RETURN relationship.id AS id, score AS score")
    return ("CALL db.index.vector.queryNodes($index, $k, $vector) YIELD node, score "
            "RETURN node.id AS id, score AS score")
