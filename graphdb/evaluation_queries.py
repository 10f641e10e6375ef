"""The read-only Cypher the evaluations run, as parameterised functions over any `GraphStore`.

The queries use only Cypher both backends speak (no `type(r)`), and alias every column.
"""

from __future__ import annotations

from collections.abc import Sequence

from .protocol import GraphStore

Triple = tuple[str, str, str]

_DOCUMENTS_BY_KEY = """
MATCH (d:Document)
WHERE d.external_id IN $keys OR d.title IN $keys
RETURN d.id AS id, d.external_id AS external_id, d.title AS title
"""

_ALL_DOCUMENTS = """
MATCH (d:Document)
RETURN d.id AS id, d.external_id AS external_id, d.title AS title, d.text AS text
"""

_TRIPLES_OF_DOCUMENTS = """
MATCH (a:Entity)-[r:RELATION]->(b:Entity)
WHERE r.doc_id IN $doc_ids
RETURN r.doc_id AS doc_id, a.id AS subject_id, a.name AS subject, r.predicate AS predicate,
       b.id AS object_id, b.name AS object
"""

_ENTITIES_OF_DOCUMENTS = """
MATCH (d:Document)-[:HAS_CHUNK]->(:Chunk)-[:MENTIONS]->(e:Entity)
WHERE d.id IN $doc_ids
RETURN DISTINCT d.id AS doc_id, e.id AS id, e.name AS name
"""


def documents_by_key(store: GraphStore, keys: Sequence[str]) -> list[dict[str, str]]:
    """Documents whose `external_id` or `title` is one of `keys`."""
    return store.query(_DOCUMENTS_BY_KEY, {"keys": list(keys)}).records()


def all_documents(store: GraphStore) -> list[dict[str, str]]:
    """Every document with its text."""
    return store.query(_ALL_DOCUMENTS).records()


def triples_by_document(store: GraphStore, doc_ids: Sequence[str]) -> dict[str, list[Triple]]:
    """The (subject, predicate, object) names of each document's RELATION edges."""
    found: dict[str, list[Triple]] = {doc_id: [] for doc_id in doc_ids}
    for row in relation_rows(store, doc_ids):
        found[row["doc_id"]].append((row["subject"], row["predicate"], row["object"]))
    return found


def relation_rows(store: GraphStore, doc_ids: Sequence[str]) -> list[dict[str, str]]:
    """Every RELATION edge extracted from `doc_ids`, with both entities' ids and names."""
    if not doc_ids:
        return []
    return store.query(_TRIPLES_OF_DOCUMENTS, {"doc_ids": list(doc_ids)}).records()


def entities_by_document(store: GraphStore, doc_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """Per document, the entities its chunks mention, as an id → name map."""
    found: dict[str, dict[str, str]] = {doc_id: {} for doc_id in doc_ids}
    if doc_ids:
        for row in store.query(_ENTITIES_OF_DOCUMENTS, {"doc_ids": list(doc_ids)}).records():
            found[row["doc_id"]][row["id"]] = row["name"]
    return found
