"""Cypher both stores understand unchanged: reads and bookkeeping shared by every backend."""

from __future__ import annotations

from .schema import NODE_BY_LABEL, REL_BY_TYPE

COMPLETED_DOCUMENTS = (
    "MATCH (d:Document) WHERE $key IN d.extracted_with RETURN d.id"
)

ALL_ENTITIES = "MATCH (e:Entity) RETURN e.id, e.name, e.type, e.aliases ORDER BY e.id"

SAVE_RUN = (
    "MERGE (r:Run {id: $id}) "
    "SET r.extractor = $extractor, r.status = $status, r.started_at = $started_at, "
    "r.finished_at = $finished_at, r.config = $config, r.documents = $documents, "
    "r.llm_usage = $llm_usage"
)

_RUN_FIELDS = (
    "RETURN r.id, r.extractor, r.status, r.started_at, r.config, r.finished_at, r.documents, "
    "r.llm_usage "
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
