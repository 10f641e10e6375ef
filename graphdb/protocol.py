"""The `GraphStore` protocol every backend satisfies by shape, and the result type of queries."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kgx.ids import version_key
from kgx.models import Entity, GraphBatch

if TYPE_CHECKING:
    from .deletion import DeletedDocuments


@dataclass
class QueryResult:
    """Column names and rows of plain Python values (nodes and edges become dicts)."""

    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def scalar(self) -> Any:
        """The single value of a one-row, one-column result."""
        if len(self.rows) != 1 or len(self.columns) != 1:
            raise ValueError(f"expected one value, got {len(self.rows)} rows × {self.columns}")
        return self.rows[0][0]


@dataclass(frozen=True)
class RunRecord:
    """Bookkeeping for one `kgx extract` invocation, so that `--resume` can continue it."""

    id: str
    extractor: str
    status: str
    started_at: str
    config: str = "{}"
    finished_at: str | None = None
    documents: int = 0
    llm_usage: str = "{}"
    """JSON of the LLM calls and tokens the run spent (see `kgx.llm.UsageMeter.as_dict`)."""
    added: int = 0
    """Documents seen for the first time."""
    replaced: int = 0
    """Documents whose older version (same source or external id) the run replaced."""
    deleted: int = 0
    """Documents the run deleted (`kgx delete`, or files gone in `kgx sync`)."""
    failures: str | None = "[]"
    """JSON list of the prompt steps that failed and were skipped: {chunk_id, step, error}."""
    retried: str | None = "[]"
    """JSON list of the chunk ids this run re-extracted (`kgx extract --retry-failed`)."""


@dataclass(frozen=True)
class StoredDocument:
    """A stored document's identity and bookkeeping, without its text."""

    id: str
    source: str
    external_id: str | None
    extracted_with: tuple[str, ...] = ()
    run_id: str | None = None
    """The run that wrote the current version."""

    @property
    def key(self) -> str:
        """What identifies a document across versions: its external id, else its source."""
        return version_key(self.external_id, self.source)


@runtime_checkable
class GraphStore(Protocol):
    """A Cypher graph store holding kgx's schema.

        with open_store("./kgx-store") as store:
            store.upsert(batch)
            store.query("MATCH (e:Entity) RETURN e.name LIMIT 5")
    """

    uri: str

    def connect(self) -> None:
        """Open the connection and create the schema, constraints and indexes if missing."""

    def close(self) -> None:
        """Release the connection."""

    def upsert(self, batch: GraphBatch) -> None:
        """Write a batch atomically with MERGE semantics on the stable ids; the documents in
        `batch.replaces` (older versions) are deleted first, in the same transaction."""

    def query(self, cypher: str, params: Mapping[str, Any] | None = None, *,
              write: bool = False, timeout_s: float | None = None,
              max_rows: int | None = None) -> QueryResult:
        """Run Cypher with bound parameters; read-only unless `write=True`.

        Past `timeout_s` the query stops with `QueryTimeoutError`; at most `max_rows` rows are read.
        """

    def completed_documents(self, key: str) -> set[str]:
        """Ids of documents whose extraction with `key` finished."""

    def entities(self) -> Iterator[Entity]:
        """Every canonical entity in the store, for incremental entity resolution."""

    def counts(self) -> dict[str, int]:
        """Number of nodes per label and edges per relationship type."""

    def save_run(self, run: RunRecord) -> None:
        """Create or update a run record."""

    def delete_documents(self, doc_ids: Sequence[str]) -> DeletedDocuments:
        """Delete documents with their chunks, facts and mentions, orphan entities and the
        aliases only they used, in one transaction; unknown ids are reported, not an error."""

    def documents(self) -> list[StoredDocument]:
        """Every stored document's id, source, external id and bookkeeping (not its text)."""

    def entities_after_delete(self, doc_ids: Sequence[str]) -> list[Entity]:
        """The entities as they would be once `doc_ids` are deleted; the store is unchanged."""

    def runs(self, extractor: str | None = None) -> list[RunRecord]:
        """Run records, newest first, optionally for one extractor."""

    def __enter__(self) -> GraphStore: ...

    def __exit__(self, *exc: object) -> None: ...


# -- capabilities some stores have, declared instead of guessed from the URI --------------------


@runtime_checkable
class NativeVectorIndexes(Protocol):
    """A store that keeps embeddings and searches them itself (Neo4j's vector indexes).

    `kind` is one of chunks, propositions, relations, entities.
    """

    def embedded_ids(self, kind: str) -> set[str]:
        """Ids of `kind` that already carry an embedding."""

    def write_embeddings(self, kind: str, rows: list[dict[str, Any]]) -> None:
        """Store `rows` ({id, vector}) as embeddings."""

    def ensure_vector_index(self, kind: str) -> None:
        """Create the vector index of `kind` if missing and wait until it is online."""

    def vector_search(self, kind: str, vector: list[float], k: int) -> list[tuple[str, float]]:
        """The `k` nearest ids with their cosine similarity, best first."""

    def embeddings(self, kind: str) -> list[tuple[str, list[float]]]:
        """Every stored (id, embedding) of `kind`, sorted by id."""


@runtime_checkable
class LocalFolder(Protocol):
    """A store kept in a folder, beside which retrieval may cache its indexes."""

    @property
    def cache_folder(self) -> Path:
        """The folder derived indexes may be kept in."""
