"""Cypher behind `kgx serve`, `kgx mcp` and `kgx viz`: browsing entities, facts and documents.

Every query runs unchanged on Neo4j and LadybugDB, every column is aliased (LadybugDB needs it)
and every value is a bound parameter.
"""

from __future__ import annotations

ENTITY_COUNT = "MATCH (e:Entity) RETURN count(e) AS n"

ENTITY_BY_ID = (
    "MATCH (e:Entity) WHERE e.id = $id "
    "RETURN e.id AS id, e.name AS name, e.type AS type, e.aliases AS aliases"
)

# A fact is a RELATION edge with its two entities and the provenance the edge carries.
_FACT_COLUMNS = (
    "RETURN r.id AS id, r.predicate AS predicate, r.evidence AS evidence, "
    "r.confidence AS confidence, r.proposition_id AS proposition_id, "
    "s.id AS subject_id, s.name AS subject_name, s.type AS subject_type, "
    "o.id AS object_id, o.name AS object_name, o.type AS object_type, "
    "r.doc_id AS doc_id, r.chunk_id AS chunk_id, r.start_char AS start_char, "
    "r.end_char AS end_char, r.extractor AS extractor, r.extractor_version AS extractor_version, "
    "r.model AS model, r.prompt_version AS prompt_version, r.run_id AS run_id, r.page AS page"
)
ENTITY_FACTS = (
    "MATCH (s:Entity)-[r:RELATION]->(o:Entity) WHERE s.id = $id OR o.id = $id "
    f"{_FACT_COLUMNS} ORDER BY predicate, id LIMIT $limit"
)
FACT_BY_ID = f"MATCH (s:Entity)-[r:RELATION]->(o:Entity) WHERE r.id = $id {_FACT_COLUMNS}"

ENTITY_PROPOSITIONS = (
    "MATCH (p:Proposition)-[:ABOUT]->(e:Entity) WHERE e.id = $id "
    "RETURN p.id AS id, p.text AS text, p.doc_id AS doc_id, p.chunk_id AS chunk_id, "
    "p.start_char AS start_char, p.end_char AS end_char, p.extractor AS extractor, "
    "p.extractor_version AS extractor_version, p.model AS model, "
    "p.prompt_version AS prompt_version, p.run_id AS run_id, p.page AS page "
    "ORDER BY id LIMIT $limit"
)

ENTITY_MENTIONS = (
    "MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk)-[:MENTIONS]->(e:Entity) WHERE e.id = $id "
    "RETURN c.id AS chunk_id, d.id AS doc_id, d.title AS title, c.position AS position "
    "ORDER BY title, position LIMIT $limit"
)

# The source chunks of facts, to show each fact's evidence span inside its chunk.
CHUNKS_BY_ID = (
    "MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk) WHERE c.id IN $ids "
    "RETURN c.id AS chunk_id, c.text AS text, c.start_char AS start_char, "
    "c.end_char AS end_char, d.id AS doc_id, d.title AS title, d.external_id AS external_id"
)

NEIGHBOUR_EDGES = (
    "MATCH (s:Entity)-[r:RELATION]->(o:Entity) WHERE s.id IN $ids OR o.id IN $ids "
    "RETURN r.id AS id, r.predicate AS predicate, s.id AS source, s.name AS source_name, "
    "s.type AS source_type, o.id AS target, o.name AS target_name, o.type AS target_type "
    "ORDER BY id LIMIT $limit"
)

DOCUMENTS = (
    "MATCH (d:Document) OPTIONAL MATCH (d)-[:HAS_CHUNK]->(c:Chunk) "
    "RETURN d.id AS id, d.external_id AS external_id, d.title AS title, d.source AS source, "
    "d.extracted_with AS extracted_with, count(c) AS chunks "
    "ORDER BY title, id SKIP $skip LIMIT $limit"
)
DOCUMENT_COUNT = "MATCH (d:Document) RETURN count(d) AS n"
DOCUMENT_BY_ID = (
    "MATCH (d:Document) WHERE d.id = $id "
    "RETURN d.id AS id, d.external_id AS external_id, d.title AS title, d.source AS source, "
    "d.extracted_with AS extracted_with, d.text AS text"
)
DOCUMENT_CHUNKS = (
    "MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk) WHERE d.id = $id "
    "RETURN c.id AS id, c.position AS position, c.start_char AS start_char, "
    "c.end_char AS end_char, c.n_tokens AS n_tokens ORDER BY position"
)

ENTITY_TYPES = (
    "MATCH (e:Entity) WHERE e.type IS NOT NULL "
    "RETURN e.type AS value, count(*) AS n ORDER BY n DESC, value LIMIT $limit"
)
PREDICATES = (
    "MATCH (:Entity)-[r:RELATION]->(:Entity) "
    "RETURN r.predicate AS value, count(*) AS n ORDER BY n DESC, value LIMIT $limit"
)
