"""Neo4j through the official driver: batched `UNWIND $rows` upserts, read-only queries."""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Mapping
from typing import Any

from kgx.errors import QueryTimeoutError, ReadOnlyQueryError, StoreError, require
from kgx.models import GraphBatch

from . import neo4j_queries as q
from .base import SharedStoreMethods, check_all_written, mark_completed
from .deletion import delete_documents
from .protocol import QueryResult
from .rows import Row, batch_rows
from .schema import REL_BY_TYPE
from .values import plain_value

SUB_BATCH_ROWS = 10_000
TX_ROWS = 50_000  # the default 1 GiB-heap test server runs out of transaction memory near 100k


class Neo4jStore(SharedStoreMethods):
    """A kgx graph in a Neo4j 5 server; credentials come from NEO4J_USERNAME / NEO4J_PASSWORD.

        with Neo4jStore("bolt://127.0.0.1:7687") as store:
            store.query("MATCH (e:Entity) RETURN count(e)").scalar()
    """

    def __init__(self, uri: str, *, username: str | None = None, password: str | None = None,
                 database: str | None = None) -> None:
        self.uri = uri
        self.username = username or os.environ.get("NEO4J_USERNAME", "neo4j")
        self._password = password if password is not None else os.environ.get("NEO4J_PASSWORD")
        self.database = database or os.environ.get("NEO4J_DATABASE") or None
        self._driver = None
        self.connect_seconds: dict[str, float] = {}
        """How long each step of the last `connect` took (handshake, schema, bulk_fixup,
        indexes): on a bulk-loaded graph, what its first connection costs."""

    def connect(self) -> None:
        """Open the driver, check the server answers, and create constraints and indexes."""
        if self._driver is not None:
            return
        with self._timed("handshake"):
            self._driver = _open_driver(self.uri, self.username, self._password)
        with self._timed("schema"):
            self._run_write(_create_schema)
        with self._timed("bulk_fixup"):  # while the new indexes fill, on a bulk-loaded graph
            self._finish_bulk_import()
        with self._timed("indexes"):
            self._run_write(lambda tx: tx.run(q.AWAIT_INDEXES).consume())

    @contextlib.contextmanager
    def _timed(self, step: str):
        started = time.perf_counter()
        yield
        self.connect_seconds[step] = round(time.perf_counter() - started, 3)

    def _finish_bulk_import(self, batch: int = 50_000) -> None:
        """Once, after `kgx load --bulk`: store the empty lists neo4j-admin could not."""
        if not self._run_write(lambda tx: tx.run(q.PENDING_BULK_IMPORT).single()["pending"]):
            return
        for statement in q.EMPTY_LISTS_AFTER_BULK_IMPORT:
            while self._run_write(lambda tx, s=statement: tx.run(s, batch=batch
                                                                 ).single()["fixed"]) >= batch:
                pass  # a full batch: there may be more
        self._run_write(lambda tx: tx.run(q.FINISH_BULK_IMPORT).consume())

    def close(self) -> None:
        """Close the driver."""
        if self._driver is not None:
            self._driver.close()
        self._driver = None

    def _session(self):
        if self._driver is None:
            self.connect()
        return self._driver.session(database=self.database)

    def _run_write(self, work):
        with self._session() as session:
            return session.execute_write(work)

    def query(self, cypher: str, params: Mapping[str, Any] | None = None, *,
              write: bool = False, timeout_s: float | None = None,
              max_rows: int | None = None) -> QueryResult:
        """Run Cypher with bound parameters in a read transaction unless `write`.

        `timeout_s` is the transaction timeout (a `QueryTimeoutError` past it); `max_rows` stops
        reading rows after that many.
        """
        neo4j = require("neo4j", "neo4j")

        @neo4j.unit_of_work(timeout=timeout_s)
        def work(tx):
            result = tx.run(cypher, dict(params or {}))
            columns = list(result.keys())
            records = result if max_rows is None else itertools.islice(result, max_rows)
            return QueryResult(columns, [[plain_value(v) for v in rec.values()]
                                         for rec in records])

        try:
            with self._session() as session:
                return session.execute_write(work) if write else session.execute_read(work)
        except neo4j.exceptions.Neo4jError as e:
            if timeout_s is not None and "TimedOut" in (e.code or ""):
                raise QueryTimeoutError(f"the query ran longer than {timeout_s:g} s and was "
                                        "stopped; add a LIMIT or a narrower MATCH") from e
            if not isinstance(e, neo4j.exceptions.ClientError):
                raise
            if e.code and "AccessMode" in e.code:
                raise ReadOnlyQueryError(
                    "the query writes, but queries are read-only by default. Pass write=True "
                    "(CLI: --write) if you mean to change the graph.") from e
            raise StoreError(f"Neo4j rejected the query: {e.message}") from e

    def write_transaction(self, work, *, commit: bool = True):
        """Call `work(run)` in one write transaction, rolled back unless `commit`;
        `run(cypher, params)` returns rows."""
        neo4j = require("neo4j", "neo4j")
        try:
            if commit:
                return self._run_write(lambda tx: work(_runner(tx)))
            with self._session() as session, session.begin_transaction() as tx:
                result = work(_runner(tx))
                tx.rollback()
                return result
        except neo4j.exceptions.Neo4jError as e:
            raise StoreError(f"Neo4j rejected the write, nothing was changed: {e}") from e

    def upsert(self, batch: GraphBatch) -> None:
        """Write a batch with `UNWIND $rows … MERGE`, in one transaction up to TX_ROWS rows.

        A larger batch is split into several transactions and the documents' completion mark
        is committed last, so after a crash the batch is replayed, idempotently, in full.
        """
        neo4j = require("neo4j", "neo4j")
        groups = _transactions(_steps(batch_rows(batch)))
        try:
            for i, steps in enumerate(groups):
                done = batch if i == len(groups) - 1 else None
                old = batch.replaces if i == 0 else []  # old versions go with the first part
                self._run_write(lambda tx, s=steps, d=done, o=old: _write_steps(tx, s, d, o))
        except neo4j.exceptions.Neo4jError as e:
            raise StoreError(f"Neo4j rejected the batch: {e}. Its documents are not marked as "
                             "extracted, so running the extraction again completes it.") from e


    # -- NativeVectorIndexes: embeddings kept and searched by Neo4j itself ---------------------

    def embedded_ids(self, kind: str) -> set[str]:
        """Ids of `kind` (chunks, propositions, relations, entities) that carry an embedding."""
        return {row[0] for row in self.query(q.embedded_ids(_vector_target(kind))).rows}

    def write_embeddings(self, kind: str, rows: list[dict[str, Any]]) -> None:
        """Store `rows` ({id, vector}) as float32 `embedding` properties, in one transaction."""
        self.query(q.set_embeddings(_vector_target(kind)), {"rows": rows}, write=True)

    def ensure_vector_index(self, kind: str) -> None:
        """Create the cosine vector index of `kind` if missing and wait until it is online."""
        target = _vector_target(kind)
        self.query(q.create_vector_index(target), write=True)
        try:
            self.query(q.AWAIT_INDEX, {"index": target.index}, write=True)
        except StoreError as e:
            raise StoreError(f"the Neo4j vector index {target.index} did not come online: "
                             f"{e}. Check the server log, then warm up again.") from e

    def vector_search(self, kind: str, vector: list[float], k: int) -> list[tuple[str, float]]:
        """The `k` ids of `kind` nearest to `vector`, with their cosine, best first."""
        target = _vector_target(kind)
        rows = self.query(q.query_vectors(target),
                          {"index": target.index, "k": k, "vector": vector}).rows
        # Neo4j reports cosine as (1 + cos) / 2; callers work with the cosine itself.
        return [(id_, 2.0 * score - 1.0) for id_, score in rows]

    def embeddings(self, kind: str) -> list[tuple[str, list[float]]]:
        """Every stored (id, embedding) of `kind`, sorted by id."""
        return sorted((id_, vector) for id_, vector in
                      self.query(q.all_embeddings(_vector_target(kind))).rows)


def _open_driver(uri: str, username: str, password: str | None):
    """A driver that has reached the server; an error naming the fix if it cannot."""
    neo4j = require("neo4j", "neo4j")
    if password is None:
        raise StoreError("NEO4J_PASSWORD is not set. Export it (and NEO4J_USERNAME if not "
                         "'neo4j') before using a neo4j:// or bolt:// store.")
    driver = neo4j.GraphDatabase.driver(uri, auth=(username, password))
    try:
        driver.verify_connectivity()
    except (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError, OSError) as e:
        driver.close()
        raise StoreError(f"cannot reach Neo4j at {uri} as {username!r}: {e}. "
                         "Check the server is running and the credentials.") from e
    return driver


def _create_schema(tx) -> None:
    """kgx's constraints and indexes, in one transaction: one commit on every connect, and on
    a bulk-loaded graph the new indexes fill together."""
    for statement in q.schema_statements():
        tx.run(statement).consume()


def _vector_target(kind: str) -> q.VectorTarget:
    try:
        return q.VECTOR_TARGETS[kind]
    except KeyError:
        raise ValueError(f"no vector index for {kind!r}; "
                         f"one of {sorted(q.VECTOR_TARGETS)}") from None


Step = tuple[str, str, list[Row]]  # (table name, Cypher, rows)


def _steps(rows) -> list[Step]:
    """Every UNWIND statement of a batch, nodes before edges, at most SUB_BATCH_ROWS rows each."""
    steps = [(label, q.merge_nodes(label), part)
             for label, node_rows in rows.nodes.items() for part in _parts(node_rows)]
    steps += [(rel_type, q.merge_edges(REL_BY_TYPE[rel_type]), part)
              for rel_type, edge_rows in rows.edges.items() for part in _parts(edge_rows)]
    return steps


def _transactions(steps: list[Step]) -> list[list[Step]]:
    """Consecutive steps grouped into transactions of about TX_ROWS rows (at least one group)."""
    groups: list[list[Step]] = [[]]
    size = 0
    for step in steps:
        if size and size + len(step[2]) > TX_ROWS:
            groups.append([])
            size = 0
        groups[-1].append(step)
        size += len(step[2])
    return groups


def _runner(tx):
    """`run(cypher, params) -> rows` inside the transaction `tx`."""
    def run(cypher: str, params: Mapping[str, Any] | None = None) -> list[list[Any]]:
        return [[plain_value(v) for v in record.values()]
                for record in tx.run(cypher, dict(params or {}))]
    return run


def _write_steps(tx, steps: list[Step], batch: GraphBatch | None,
                 replaces: list[str] = ()) -> None:
    if replaces:
        delete_documents(_runner(tx), replaces)
    for name, cypher, part in steps:
        summary = tx.run(cypher, rows=part)
        if name in REL_BY_TYPE:
            check_all_written(name, len(part), summary.single()["written"])
        else:
            summary.consume()
    if batch is not None and batch.completed_key and batch.completed:
        current = {r["id"]: r["keys"] for r in tx.run(q.DOCUMENT_KEYS, ids=batch.completed)}
        rows = mark_completed(batch.completed, current, batch.completed_key)
        tx.run(q.SET_DOCUMENT_KEYS, rows=rows).consume()


def _parts(rows: list[Row]) -> list[list[Row]]:
    return [rows[i:i + SUB_BATCH_ROWS] for i in range(0, len(rows), SUB_BATCH_ROWS)]
