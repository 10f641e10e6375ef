"""The one graph schema both stores share: node labels, relationship types and their properties.

LadybugDB has no schemaless properties, so every property is declared here; Neo4j gets the same
names, uniqueness constraints on every node id and indexes on the properties people filter by.
"""

from __future__ import annotations

from dataclasses import dataclass

STRING, INT, FLOAT, STRING_LIST, INT_LIST = "STRING", "INT64", "DOUBLE", "STRING[]", "INT64[]"

PROVENANCE = {
    "doc_id": STRING,
    "chunk_id": STRING,
    "start_char": INT,
    "end_char": INT,
    "page": INT,  # 1-based page where the evidence starts; null for formats without pages
    "extractor": STRING,
    "extractor_version": STRING,
    "model": STRING,
    "prompt_version": STRING,
    "run_id": STRING,
}


@dataclass(frozen=True)
class NodeTable:
    """A node label with its declared properties; `id` is the primary key."""

    label: str
    properties: dict[str, str]


@dataclass(frozen=True)
class RelTable:
    """A relationship type between two labels with its declared properties."""

    type: str
    source: str
    target: str
    properties: dict[str, str]


NODES = (
    NodeTable("Document", {
        "id": STRING, "external_id": STRING, "title": STRING, "source": STRING, "text": STRING,
        "extracted_with": STRING_LIST, "run_id": STRING, "page_starts": INT_LIST,
    }),
    NodeTable("Chunk", {
        "id": STRING, "doc_id": STRING, "position": INT, "text": STRING, "start_char": INT,
        "end_char": INT, "n_tokens": INT,
    }),
    NodeTable("Entity", {"id": STRING, "name": STRING, "type": STRING, "aliases": STRING_LIST}),
    NodeTable("Proposition", {"id": STRING, "text": STRING, **PROVENANCE}),
    NodeTable("Run", {
        "id": STRING, "extractor": STRING, "status": STRING, "started_at": STRING,
        "finished_at": STRING, "config": STRING, "documents": INT, "llm_usage": STRING,
        "added": INT, "replaced": INT, "deleted": INT, "failures": STRING, "retried": STRING,
    }),
    # NesyCD knowledge base (kgx.kb): what a teacher wrote about one mistake of a student.
    NodeTable("KnowledgeEntry", {
        "id": STRING, "problem": STRING, "summary": STRING, "knowledge": STRING,
        "concepts": STRING_LIST, "student_answer": STRING, "gold_answer": STRING,
        "source": STRING, "student": STRING, "teacher": STRING, "prompt_version": STRING,
        "created_at": STRING,
    }),
)

RELATIONSHIPS = (
    RelTable("HAS_CHUNK", "Document", "Chunk", {}),
    # `surfaces`: how the chunk names the entity, so deleting a document can drop the aliases
    # that only it contributed.
    RelTable("MENTIONS", "Chunk", "Entity", {"surfaces": STRING_LIST}),
    RelTable("RELATION", "Entity", "Entity", {
        "id": STRING, "predicate": STRING, "evidence": STRING, "confidence": FLOAT,
        "proposition_id": STRING, **PROVENANCE,
    }),
    RelTable("FROM_CHUNK", "Proposition", "Chunk", {}),
    RelTable("ABOUT", "Proposition", "Entity", {}),
)

# The knowledge base links entries to the entities of their concepts. Its edges stay out of
# RELATIONSHIPS, which lists what graph stats and exports cover.
KB_RELATIONSHIPS = (RelTable("KB_ABOUT", "KnowledgeEntry", "Entity", {}),)
ALL_RELATIONSHIPS = RELATIONSHIPS + KB_RELATIONSHIPS

NODE_BY_LABEL = {table.label: table for table in NODES}
REL_BY_TYPE = {table.type: table for table in ALL_RELATIONSHIPS}

# Extraction output only; Run nodes (bookkeeping) and KnowledgeEntry nodes (the NesyCD knowledge
# base, exported with `kgx kb export`) stay out of stats and exports of the graph.
GRAPH_LABELS = ("Document", "Chunk", "Entity", "Proposition")
