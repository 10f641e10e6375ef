"""Knowledge entries in a graph store: batched idempotent upserts, reads, and what is covered.

    with open_store("./kgx-store") as store:
        save_entries(store, entries)      # KnowledgeEntry nodes, KB_ABOUT → CONCEPT entities
        entries = load_entries(store)     # in id order
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kgx.errors import StoreError
from kgx.graphdb import GraphStore
from kgx.graphdb import kb_queries as q
from kgx.graphdb.rows import entity_row
from kgx.kb.entries import KnowledgeEntry

WRITE_BATCH = 500
"""Entries per statement (one transaction each)."""


def save_entries(store: GraphStore, entries: Sequence[KnowledgeEntry], *,
                 keep_created: bool = True) -> int:
    """Upsert entries and their concept links in batches; returns the links made.

    Writing the same entries again changes nothing. `keep_created=False` (imports) overwrites
    `created_at` with the entries' own.
    """
    links = 0
    unique = list({entry.id: entry for entry in entries}.values())
    for start in range(0, len(unique), WRITE_BATCH):
        rows = [_row(entry) for entry in unique[start:start + WRITE_BATCH]]
        expected = sum(len(row["entities"]) for row in rows)
        if not expected:
            rows = [{k: v for k, v in row.items() if k != "entities"} for row in rows]
        cypher = q.upsert_entries(keep_created=keep_created, link=bool(expected))
        written = store.query(cypher, {"rows": rows}, write=True).scalar() if rows else 0
        if expected and written != expected:
            raise StoreError(f"{store.uri}: {expected - written} of {expected} knowledge-entry "
                             "links were not written; run the command again.")
        links += expected
    return links


def _row(entry: KnowledgeEntry) -> dict[str, Any]:
    row = entry.model_dump()
    row["entities"] = [entity_row(entity) for entity in entry.concept_entities()]
    return row


def load_entries(store: GraphStore) -> list[KnowledgeEntry]:
    """Every entry in the store, in id order."""
    return [KnowledgeEntry(**record) for record in store.query(q.ALL_ENTRIES).records()]


def entry_problems(store: GraphStore) -> set[str]:
    """The questions the store's entries are about, stripped."""
    return {row[0].strip() for row in store.query(q.ENTRY_PROBLEMS).rows}


def count_entries(store: GraphStore) -> int:
    """How many entries the store holds."""
    return int(store.query(q.COUNT_ENTRIES).scalar())


def entry_links(store: GraphStore) -> list[tuple[str, str]]:
    """(entry id, concept entity name) for every KB_ABOUT edge, in entry and entity id order."""
    return [(row[0], row[2]) for row in store.query(q.ENTRY_CONCEPTS).rows]
