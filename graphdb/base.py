"""Behaviour both backends share, written once on top of their `query` method."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from kgx.errors import StoreError
from kgx.models import Entity

from . import cypher, deletion
from .protocol import QueryResult, RunRecord, StoredDocument
from .rows import Row
from .schema import GRAPH_LABELS, RELATIONSHIPS


class SharedStoreMethods:
    """Reads and bookkeeping expressed in Cypher that runs unchanged on Neo4j and LadybugDB."""

    def query(self, cypher: str, params: Mapping[str, Any] | None = None, *,
              write: bool = False, timeout_s: float | None = None,
              max_rows: int | None = None) -> QueryResult:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def connect(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_transaction(self, work: Callable[[deletion.Run], Any], *,
                          commit: bool = True) -> Any:
        """Call `work(run)` inside one write transaction, rolled back unless `commit`;
        `run(cypher, params)` returns rows."""
        raise NotImplementedError

    def delete_documents(self, doc_ids: Sequence[str]) -> deletion.DeletedDocuments:
        """Delete documents and all that was extracted from them, in one transaction."""
        return self.write_transaction(lambda run: deletion.delete_documents(run, doc_ids))

    def entities_after_delete(self, doc_ids: Sequence[str]) -> list[Entity]:
        """The entities as they would be once `doc_ids` are deleted; the store is unchanged."""
        def work(run):
            deletion.delete_documents(run, doc_ids)
            return _entities(run(cypher.ALL_ENTITIES))

        return self.write_transaction(work, commit=False)

    def documents(self) -> list[StoredDocument]:
        """Every stored document's id, source, external id and bookkeeping (not its text)."""
        return [StoredDocument(id_, source or "", external_id, tuple(keys or ()), run_id)
                for id_, source, external_id, keys, run_id
                in self.query(cypher.DOCUMENT_LIST).rows]

    def completed_documents(self, key: str) -> set[str]:
        """Ids of documents whose extraction with `key` finished."""
        return {row[0] for row in self.query(cypher.COMPLETED_DOCUMENTS, {"key": key}).rows}

    def entities(self) -> Iterator[Entity]:
        """Every canonical entity in the store."""
        yield from _entities(self.query(cypher.ALL_ENTITIES).rows)

    def counts(self) -> dict[str, int]:
        """Number of nodes per graph label and edges per relationship type."""
        counts = {label: self.query(cypher.count_nodes(label)).scalar() for label in GRAPH_LABELS}
        for rel in RELATIONSHIPS:
            counts[rel.type] = self.query(cypher.count_edges(rel.type)).scalar()
        return counts

    def save_run(self, run: RunRecord) -> None:
        """Create or update a run record."""
        self.query(cypher.SAVE_RUN, run.__dict__, write=True)

    def runs(self, extractor: str | None = None) -> list[RunRecord]:
        """Run records, newest first."""
        if extractor is None:
            result = self.query(cypher.ALL_RUNS)
        else:
            result = self.query(cypher.EXTRACTOR_RUNS, {"extractor": extractor})
        fields = ("id", "extractor", "status", "started_at", "config", "finished_at", "documents",
                  "llm_usage", "added", "replaced", "deleted", "failures", "retried")
        counts = ("added", "replaced", "deleted")  # null on runs recorded before they existed
        return [RunRecord(**{k: v for k, v in zip(fields, row, strict=True)
                             if v is not None or k not in counts})
                for row in result.rows]


def _entities(rows: list[list[Any]]) -> list[Entity]:
    return [Entity(name=name, type=type_, aliases=tuple(aliases or ()), canonical_id=id_)
            for id_, name, type_, aliases in rows]


def check_all_written(table: str, expected: int, written: int) -> None:
    """Raise if a write made fewer rows than asked: an edge pointed at a node nobody has."""
    if written != expected:
        raise StoreError(f"{expected - written} {table} edges point at nodes that are neither in "
                         "the batch nor in the store; nothing of this batch was committed.")


def merge_aliases(rows: list[Row], stored: dict[str, list[str]]) -> list[Row]:
    """Entity rows whose aliases include those already stored, so a write never loses one."""
    for row in rows:
        known = stored.get(row["id"])
        if known:
            row["aliases"] = sorted(set(known) | set(row["aliases"]))
    return rows


def mark_completed(doc_ids: list[str], extracted_with: dict[str, list[str]],
                   key: str) -> list[Row]:
    """Rows setting each document's `extracted_with` list to include `key`.

    `extracted_with` holds the stored lists; a document missing from it is an error, since
    marking a document the batch did not write would make a resumed run skip it.
    """
    missing = set(doc_ids) - set(extracted_with)
    if missing:
        raise StoreError(f"cannot mark documents as extracted that are not in the store or the "
                         f"batch: {sorted(missing)[:3]}")
    return [
        {"id": doc_id, "extracted_with": sorted(set(keys or ()) | {key})}
        for doc_id, keys in extracted_with.items()
    ]
