"""Behaviour both backends share, written once on top of their `query` method."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kgx.errors import StoreError
from kgx.models import Entity

from . import cypher
from .protocol import QueryResult, RunRecord
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

    def completed_documents(self, key: str) -> set[str]:
        """Ids of documents whose extraction with `key` finished."""
        return {row[0] for row in self.query(cypher.COMPLETED_DOCUMENTS, {"key": key}).rows}

    def entities(self) -> Iterator[Entity]:
        """Every canonical entity in the store."""
        for id_, name, type_, aliases in self.query(cypher.ALL_ENTITIES).rows:
            yield Entity(name=name, type=type_, aliases=tuple(aliases or ()), canonical_id=id_)

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
                  "llm_usage")
        return [RunRecord(**dict(zip(fields, row, strict=True))) for row in result.rows]


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
