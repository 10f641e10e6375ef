"""Delete documents and everything extracted from them, inside one store transaction.

Written once over a `run(cypher, params) -> rows` function, so LadybugDB and Neo4j share it: a
store opens the transaction, this does the work. Entities left with no mention, fact or
knowledge-base entry are removed, and aliases only the deleted documents used are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import cypher

Run = Callable[..., list[list[Any]]]
"""Runs one Cypher statement with bound parameters in the open transaction; returns rows."""


@dataclass
class DeletedDocuments:
    """What one delete removed; `unknown` lists ids the store did not hold."""

    documents: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    chunks: int = 0
    relations: int = 0
    propositions: int = 0
    entities: int = 0
    """Orphan entities removed: nothing mentions them any more."""
    aliases: int = 0
    """Aliases dropped from entities that remain, because only deleted documents used them."""

    def add(self, other: DeletedDocuments) -> None:
        """Count another batch's deletions in with these."""
        self.documents += other.documents
        self.unknown += other.unknown
        for name in ("chunks", "relations", "propositions", "entities", "aliases"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def delete_documents(run: Run, doc_ids: Sequence[str]) -> DeletedDocuments:
    """Remove the documents `doc_ids` with their chunks, propositions, relations and mentions."""
    ids = list(dict.fromkeys(doc_ids))
    found = {row[0] for row in run(cypher.DOCUMENTS_BY_ID, {"ids": ids})}
    report = DeletedDocuments(documents=[i for i in ids if i in found],
                              unknown=[i for i in ids if i not in found])
    if not found:
        return report
    params = {"ids": report.documents}
    lost = _surfaces_by_entity(run(cypher.DOCUMENT_MENTIONS, params))
    touched = set(lost)
    touched.update(e for row in run(cypher.DOCUMENT_FACT_ENTITIES, params) for e in row if e)
    report.relations = run(cypher.COUNT_DOCUMENT_RELATIONS, params)[0][0]
    report.propositions = run(cypher.COUNT_DOCUMENT_PROPOSITIONS, params)[0][0]
    report.chunks = run(cypher.COUNT_DOCUMENT_CHUNKS, params)[0][0]
    for statement in cypher.DELETE_DOCUMENT_GRAPH:
        run(statement, params)
    report.entities = _delete_orphans(run, sorted(touched))
    report.aliases = _prune_aliases(run, lost)
    return report


def _surfaces_by_entity(rows: list[list[Any]]) -> dict[str, set[str]]:
    surfaces: dict[str, set[str]] = {}
    for entity, names in rows:
        surfaces.setdefault(entity, set()).update(names or ())
    return surfaces


def _delete_orphans(run: Run, entity_ids: list[str]) -> int:
    if not entity_ids:
        return 0
    orphans = [row[0] for row in run(cypher.ORPHAN_ENTITIES, {"ids": entity_ids})]
    if orphans:
        run(cypher.DELETE_ENTITIES, {"ids": orphans})
    return len(orphans)


def _prune_aliases(run: Run, lost: dict[str, set[str]]) -> int:
    """Drop each alias the deleted mentions used that no remaining mention of it uses."""
    if not lost:
        return 0
    kept = _surfaces_by_entity(run(cypher.ENTITY_SURFACES, {"ids": sorted(lost)}))
    dropped = 0
    for entity, aliases in run(cypher.ENTITY_ALIASES_BY_ID, {"ids": sorted(lost)}):
        gone = (lost[entity] - kept.get(entity, set())) & set(aliases or ())
        if gone:
            run(cypher.SET_ENTITY_ALIASES,
                {"id": entity, "aliases": sorted(set(aliases) - gone)})
            dropped += len(gone)
    return dropped
