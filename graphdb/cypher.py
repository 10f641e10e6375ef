"""Cypher both stores understand unchanged: reads and bookkeeping shared by every backend."""

from __future__ import annotations

from .schema import NODE_BY_LABEL, REL_BY_TYPE, RelTable

COMPLETED_DOCUMENTS = (
    "MATCH (d:Document) WHERE $key IN d.extracted_with RETURN d.id"
)

ALL_ENTITIES = "MATCH (e:Entity) RETURN e.id, e.name, e.type, e.aliases ORDER BY e.id"

SAVE_RUN = (
    "MERGE (r:Run {id: $id}) "
    "SET r.extractor = $extractor, r.status = $status, r.started_at = $started_at, "
    "r.finished_at = $finished_at, r.config = $config, r.documents = $documents, "
    "r.llm_usage = $llm_usage, r.added = $added, r.replaced = $replaced, r.deleted = $deleted, "
    "r.failures = $failures, r.retried = $retried"
)

_RUN_FIELDS = (
    "RETURN r.id, r.extractor, r.status, r.started_at, r.config, r.finished_at, r.documents, "
    "r.llm_usage, r.added, r.replaced, r.deleted, r.failures, r.retried "
    "ORDER BY r.started_at DESC, r.id DESC"
)
ALL_RUNS = f"MATCH (r:Run) {_RUN_FIELDS}"
EXTRACTOR_RUNS = f"MATCH (r:Run) WHERE r.extractor = $extractor {_RUN_FIELDS}"

def count_nodes(label: str) -> str:
    """Count the nodes of one label (a schema label, never user input)."""
    if label not in NODE_BY_LABEL:
        raise ValueError(f"unknown label {label!r}")
    return f"MATCH (n:{label}) RETURN count(n)"


def count_edges(rel_type: str) -> str:
    """Count the edges of one relationship type (a schema type, never user input)."""
    if rel_type not in REL_BY_TYPE:
        raise ValueError(f"unknown relationship type {rel_type!r}")
    return f"MATCH ()-[r:{rel_type}]->() RETURN count(r)"


# -- distillation: what a teacher extractor stored, per chunk ----------------------------------
TEACHER_CHUNKS = (
    "MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk) "
    "RETURN d.id AS doc, c.id AS chunk, c.position AS position, c.text AS text"
)
TEACHER_RELATIONS = (
    "MATCH (s:Entity)-[r:RELATION]->(o:Entity) WHERE r.extractor = $extractor "
    "RETURN r.chunk_id AS chunk, s.name AS s, r.predicate AS p, o.name AS o"
)
TEACHER_PROPOSITIONS = (
    "MATCH (p:Proposition) WHERE p.extractor = $extractor "
    "RETURN p.chunk_id AS chunk, p.text AS text"
)
TEACHER_MENTIONS = (
    "MATCH (c:Chunk)-[:MENTIONS]->(e:Entity) RETURN c.id AS chunk, e.name AS name"
)


# -- text2cypher: examples for the schema prompt, and rows back to chunks (values bound) --------
T2C_ENTITY_TYPES = (
    "MATCH (e:Entity) WHERE e.type IS NOT NULL "
    "RETURN e.type AS value, count(*) AS n ORDER BY n DESC, value LIMIT $limit"
)
T2C_PREDICATES = (
    "MATCH (:Entity)-[r:RELATION]->(:Entity) "
    "RETURN r.predicate AS value, count(*) AS n ORDER BY n DESC, value LIMIT $limit"
)
T2C_ENTITY_NAMES = (
    "MATCH (:Chunk)-[:MENTIONS]->(e:Entity) "
    "RETURN e.name AS value, count(*) AS n ORDER BY n DESC, value LIMIT $limit"
)
# Each returns a chunk, then the properties a row value may equal; kgx keeps those that do.
T2C_CHUNKS_BY_VALUE = (
    "MATCH (c:Chunk) WHERE c.id IN $values OR c.text IN $values "
    "RETURN c.id AS chunk, c.id AS v1, c.text AS v2"
)
T2C_DOCUMENT_CHUNKS_BY_VALUE = (
    "MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk) "
    "WHERE d.id IN $values OR d.external_id IN $values OR d.title IN $values "
    "RETURN c.id AS chunk, d.id AS v1, d.external_id AS v2, d.title AS v3"
)
T2C_PROPOSITION_CHUNKS_BY_VALUE = (
    "MATCH (p:Proposition)-[:FROM_CHUNK]->(c:Chunk) WHERE p.id IN $values OR p.text IN $values "
    "RETURN c.id AS chunk, p.id AS v1, p.text AS v2"
)
T2C_MENTIONING_CHUNKS_BY_VALUE = (
    "MATCH (c:Chunk)-[:MENTIONS]->(e:Entity) WHERE e.id IN $values OR e.name IN $values "
    "RETURN c.id AS chunk, e.id AS v1, e.name AS v2"
)
T2C_CHUNK_DETAILS = (
    "MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk) WHERE c.id IN $ids "
    "RETURN c.id AS chunk, c.doc_id AS doc_id, c.text AS text, d.title AS title, "
    "d.external_id AS external_id"
)


# -- retrieval: the snapshot `kgx.retrieval` loads (every column aliased for LadybugDB) ---------
RETRIEVAL_CHUNKS = (
    "MATCH (c:Chunk) OPTIONAL MATCH (d:Document)-[:HAS_CHUNK]->(c) "
    "RETURN c.id AS id, c.doc_id AS doc_id, c.position AS position, c.text AS text, "
    "d.external_id AS external_id, d.title AS title, c.start_char AS start_char, "
    "d.page_starts AS page_starts"
)
RETRIEVAL_ENTITIES = (
    "MATCH (e:Entity) RETURN e.id AS id, e.name AS name, e.aliases AS aliases, e.type AS type"
)
RETRIEVAL_MENTIONS = "MATCH (c:Chunk)-[:MENTIONS]->(e:Entity) RETURN c.id AS chunk, e.id AS entity"
RETRIEVAL_RELATIONS = (
    "MATCH (s:Entity)-[r:RELATION]->(o:Entity) "
    "RETURN r.id AS id, s.id AS subject, r.predicate AS predicate, o.id AS object, "
    "r.chunk_id AS chunk"
)
RETRIEVAL_PROPOSITIONS = (
    "MATCH (p:Proposition) RETURN p.id AS id, p.text AS text, p.chunk_id AS chunk"
)
RETRIEVAL_ABOUT = (
    "MATCH (p:Proposition)-[:ABOUT]->(e:Entity) RETURN p.id AS proposition, e.id AS entity"
)


# -- deleting documents (graphdb.deletion): every statement takes the document ids as $ids -----
# Ids are looked up one by one with UNWIND, which uses the id index (LadybugDB's primary key);
# `WHERE n.id IN $ids` scans every node on LadybugDB.
DOCUMENTS_BY_ID = "UNWIND $ids AS i MATCH (d:Document {id: i}) RETURN d.id"
DOCUMENT_LIST = (
    "MATCH (d:Document) RETURN d.id, d.source, d.external_id, d.extracted_with, d.run_id"
)
DOCUMENT_MENTIONS = (
    "MATCH (c:Chunk)-[m:MENTIONS]->(e:Entity) WHERE c.doc_id IN $ids RETURN e.id, m.surfaces"
)
DOCUMENT_FACT_ENTITIES = (
    "MATCH (s:Entity)-[r:RELATION]->(o:Entity) WHERE r.doc_id IN $ids "
    "RETURN s.id AS a, o.id AS b "
    "UNION ALL "
    "MATCH (p:Proposition)-[:ABOUT]->(e:Entity) WHERE p.doc_id IN $ids RETURN e.id AS a, e.id AS b"
)
COUNT_DOCUMENT_RELATIONS = "MATCH ()-[r:RELATION]->() WHERE r.doc_id IN $ids RETURN count(r)"
COUNT_DOCUMENT_PROPOSITIONS = "MATCH (p:Proposition) WHERE p.doc_id IN $ids RETURN count(p)"
COUNT_DOCUMENT_CHUNKS = "MATCH (c:Chunk) WHERE c.doc_id IN $ids RETURN count(c)"
DELETE_DOCUMENT_GRAPH = (
    "MATCH ()-[r:RELATION]->() WHERE r.doc_id IN $ids DELETE r",
    "MATCH (p:Proposition) WHERE p.doc_id IN $ids DETACH DELETE p",
    "MATCH (c:Chunk) WHERE c.doc_id IN $ids DETACH DELETE c",
    "UNWIND $ids AS i MATCH (d:Document {id: i}) DETACH DELETE d",
)
# An entity a knowledge-base entry is about stays: `kgx kb` entries are never touched.
ORPHAN_ENTITIES = (
    "UNWIND $ids AS i MATCH (e:Entity {id: i}) "
    "WHERE NOT EXISTS { MATCH (e)<-[:MENTIONS]-(:Chunk) } "
    "AND NOT EXISTS { MATCH (e)-[:RELATION]-(:Entity) } "
    "AND NOT EXISTS { MATCH (e)<-[:ABOUT]-(:Proposition) } "
    "AND NOT EXISTS { MATCH (e)<-[:KB_ABOUT]-(:KnowledgeEntry) } "
    "RETURN e.id"
)
DELETE_ENTITIES = "UNWIND $ids AS i MATCH (e:Entity {id: i}) DETACH DELETE e"
ENTITY_SURFACES = (
    "UNWIND $ids AS i MATCH (:Chunk)-[m:MENTIONS]->(e:Entity {id: i}) RETURN e.id, m.surfaces"
)
ENTITY_ALIASES_BY_ID = "UNWIND $ids AS i MATCH (e:Entity {id: i}) RETURN e.id, e.aliases"
SET_ENTITY_ALIASES = "MATCH (e:Entity {id: $id}) SET e.aliases = $aliases"


# -- export: nodes and edges page by page, in a stable order -------------------------------------


def export_nodes(label: str, names: list[str]) -> str:
    """Page `$skip`/`$limit` of the nodes of `label`, their `names` properties, in id order."""
    columns = ", ".join(f"n.{name}" for name in names)
    return f"MATCH (n:{label}) RETURN {columns} ORDER BY n.id SKIP $skip LIMIT $limit"


def export_edges(table: RelTable) -> str:
    """Page `$skip`/`$limit` of the edges of a type: both ends' ids, then every property."""
    columns = "".join(f", r.{name}" for name in table.properties)
    # LadybugDB cannot order by a list; MENTIONS, the one type with a list, is unique per pair.
    order = "".join(f", r.{name}" for name, kind in table.properties.items()
                    if not kind.endswith("[]"))
    return (f"MATCH (a:{table.source})-[r:{table.type}]->(b:{table.target}) "
            f"RETURN a.id, b.id{columns} ORDER BY a.id, b.id{order} SKIP $skip LIMIT $limit")

