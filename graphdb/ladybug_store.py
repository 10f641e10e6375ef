"""The embedded default store: LadybugDB (the maintained Kùzu fork), one folder, no server."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kgx.errors import QueryTimeoutError, ReadOnlyQueryError, StoreError, require
from kgx.models import GraphBatch

from . import ladybug_queries as q
from .base import SharedStoreMethods, check_all_written, mark_completed, merge_aliases
from .deletion import delete_documents
from .protocol import QueryResult
from .readonly import write_clause
from .rows import Row, batch_rows
from .schema import NODE_BY_LABEL, REL_BY_TYPE
from .values import plain_value

DB_FILE = "graph.lbdb"
_ARROW_TYPES = {"STRING": "string", "INT64": "int64", "DOUBLE": "float64"}


class LadybugStore(SharedStoreMethods):
    """A kgx graph in a local folder, queried with Cypher.

        with LadybugStore("./kgx-store") as store:
            store.query("MATCH (e:Entity) RETURN count(e)").scalar()
    """

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.uri = str(self.path)
        self._db = None
        self._conn = None

    @property
    def cache_folder(self) -> Path:
        """The store's folder, where retrieval keeps its indexes (vectors, BM25) beside it."""
        return self.path

    def connect(self) -> None:
        """Open (or create) the database and its schema."""
        if self._conn is not None:
            return
        ladybug = require("ladybug", "core")
        db_file = self._db_file()
        try:
            self._db = ladybug.Database(str(db_file), read_only=self.read_only)
            self._conn = ladybug.Connection(self._db)
        except RuntimeError as e:
            raise StoreError(f"cannot open the LadybugDB store at {self.path}: {e}. If another "
                             "kgx process is writing to it, wait for it to finish.") from e
        if not self.read_only:
            for statement in q.schema_statements():
                self._conn.execute(statement)

    def _db_file(self) -> Path:
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"{self.path} is a file; a kgx store is a folder. Pick another path.")
        if self.read_only and not (self.path / DB_FILE).exists():
            raise StoreError(f"no kgx store at {self.path}. Run `kgx extract PATH --store "
                             f"{self.path}` first, or pass the right --store.")
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path / DB_FILE

    def close(self) -> None:
        """Close the connection and the database files."""
        if self._db is not None:
            self._conn.close()
            self._db.close()
        self._db = self._conn = None

    def _execute(self, cypher: str, params: Mapping[str, Any] | None = None):
        if self._conn is None:
            self.connect()
        return self._conn.execute(cypher, dict(params or {}))

    def query(self, cypher: str, params: Mapping[str, Any] | None = None, *,
              write: bool = False, timeout_s: float | None = None,
              max_rows: int | None = None) -> QueryResult:
        """Run Cypher with bound parameters, inside a read-only transaction unless `write`.

        `timeout_s` interrupts a slower query (a `QueryTimeoutError`); `max_rows` stops reading
        rows after that many.
        """
        if write and self.read_only:
            raise ReadOnlyQueryError("this store was opened read-only; reopen it for writing")
        clause = None if write else write_clause(cypher)
        if clause:
            raise ReadOnlyQueryError(
                f"the query contains {clause}, but queries are read-only by default. "
                "Pass write=True (CLI: --write) if you mean to change the graph.")
        try:
            # LadybugDB has no read-only transactions: a read runs in one that is rolled back.
            with _Transaction(self, commit=write), _time_limit(self, timeout_s):
                result = self._execute(cypher, params)
                if isinstance(result, list):  # the engine ran several statements
                    raise StoreError(
                        f"the query holds {len(result)} statements; send one statement per "
                        "query (nothing was changed)")
                columns = result.get_column_names()
                rows = [[plain_value(v) for v in row] for row in _fetch(result, max_rows)]
        except RuntimeError as e:
            if timeout_s is not None and "interrupted" in str(e).lower():
                raise QueryTimeoutError(f"the query ran longer than {timeout_s:g} s and was "
                                        "stopped; add a LIMIT or a narrower MATCH") from e
            if "read-only" in str(e):
                raise ReadOnlyQueryError(f"this store is read-only: {e}") from e
            raise StoreError(f"LadybugDB rejected the query: {e}") from e
        return QueryResult(columns, rows)

    def upsert(self, batch: GraphBatch) -> None:
        """Write a batch in one transaction: new rows created, existing ones updated."""
        if self.read_only:
            raise ReadOnlyQueryError("this store was opened read-only; reopen it for writing")
        rows = batch_rows(batch)
        try:
            with _Transaction(self, commit=True):
                if batch.replaces:
                    delete_documents(self._rows, batch.replaces)
                for label, node_rows in rows.nodes.items():
                    self._upsert_nodes(label, node_rows)
                for rel_type, edge_rows in rows.edges.items():
                    self._insert_new_edges(rel_type, edge_rows)
                if batch.completed_key and batch.completed:
                    self._mark_completed(batch.completed, batch.completed_key)
        except RuntimeError as e:
            raise StoreError(f"LadybugDB rejected the batch, nothing was written: {e}") from e

    def write_transaction(self, work, *, commit: bool = True):
        """Call `work(run)` in one write transaction, rolled back unless `commit`;
        `run(cypher, params)` returns rows."""
        if self.read_only:
            raise ReadOnlyQueryError("this store was opened read-only; reopen it for writing")
        try:
            with _Transaction(self, commit=commit):
                return work(self._rows)
        except RuntimeError as e:
            raise StoreError(f"LadybugDB rejected the write, nothing was changed: {e}") from e

    def _rows(self, cypher: str, params: Mapping[str, Any] | None = None) -> list[list[Any]]:
        return [[plain_value(v) for v in row] for row in self._execute(cypher, params).get_all()]

    def _upsert_nodes(self, label: str, rows: list[Row]) -> None:
        if not rows:
            return
        table = NODE_BY_LABEL[label]
        ids = _arrow_rows({"id": "STRING"}, rows)
        if label == "Entity":  # one look-up tells which exist and what aliases they have
            stored = dict(self._execute(q.ENTITY_ALIASES, {"rows": ids}).get_all())
            existing = set(stored)
        else:
            existing = {r[0] for r in self._execute(q.existing_node_ids(label), {"rows": ids})
                        .get_all()}
        old = [row for row in rows if row["id"] in existing]
        if old:
            if label == "Entity":
                merge_aliases(old, stored)
            columns = {name: table.properties[name] for name in old[0]}
            self._execute(q.update_nodes(label, [n for n in columns if n != "id"]),
                          {"rows": _arrow_rows(columns, old)})
        new = [row for row in rows if row["id"] not in existing]
        if new:
            self._create(q.create_nodes(table), table.properties, new, label)

    def _insert_new_edges(self, rel_type: str, rows: list[Row]) -> None:
        if not rows:
            return
        table = REL_BY_TYPE[rel_type]
        keyed = "id" in table.properties
        probe = {"src": "STRING", "dst": "STRING", **({"id": "STRING"} if keyed else {})}
        found = self._execute(q.existing_edges(table),
                              {"rows": _arrow_rows(probe, rows)}).get_all()
        if keyed:
            existing = {r[0] for r in found}
            new = [row for row in rows if row["id"] not in existing]
        else:
            existing = {(r[0], r[1]) for r in found}
            new = [row for row in rows if (row["src"], row["dst"]) not in existing]
            old = [row for row in rows if (row["src"], row["dst"]) in existing]
            if old and rel_type == "MENTIONS":
                columns = {"src": "STRING", "dst": "STRING", "surfaces": "STRING[]"}
                self._execute(q.UNION_MENTION_SURFACES, {"rows": _arrow_rows(columns, old)})
        if new:
            columns = {"src": "STRING", "dst": "STRING", **table.properties}
            self._create(q.create_edges(table), columns, new, rel_type)

    def _create(self, cypher: str, columns: dict[str, str], rows: list[Row], what: str) -> None:
        """Run a LOAD FROM … CREATE over rows known to be new, and check all were created."""
        created = self._execute(cypher, {"rows": _arrow_rows(columns, rows)}).get_all()[0][0]
        check_all_written(what, len(rows), created)

    def _mark_completed(self, doc_ids: list[str], key: str) -> None:
        found = self._execute(q.DOCUMENT_KEYS,
                              {"rows": _arrow_rows({"id": "STRING"}, [{"id": i} for i in doc_ids])})
        rows = mark_completed(doc_ids, dict(found.get_all()), key)
        columns = {"id": "STRING", "extracted_with": "STRING[]"}
        self._execute(q.update_nodes("Document", ["extracted_with"]),
                      {"rows": _arrow_rows(columns, rows)})


def _fetch(result, max_rows: int | None) -> list:
    if max_rows is None:
        return result.get_all()
    rows = []
    while len(rows) < max_rows and result.has_next():
        rows.append(result.get_next())
    return rows


@contextmanager
def _time_limit(store: LadybugStore, timeout_s: float | None) -> Iterator[None]:
    """A query timeout on the store's connection for the block (0 means none to LadybugDB)."""
    if timeout_s is None:
        yield
        return
    store.connect()
    store._conn.set_query_timeout(max(1, int(timeout_s * 1000)))
    try:
        yield
    finally:
        store._conn.set_query_timeout(0)


class _Transaction:
    """BEGIN … COMMIT; rolled back on any exception, or always when `commit` is false."""

    def __init__(self, store: LadybugStore, commit: bool) -> None:
        self.store, self.commit = store, commit

    def __enter__(self) -> None:
        if not self.store.read_only:
            self.store._execute("BEGIN TRANSACTION")

    def __exit__(self, exc_type, *exc: object) -> None:
        if self.store.read_only:
            return
        if self.commit and not exc_type:
            self.store._execute("COMMIT")
            return
        try:
            self.store._execute("ROLLBACK")
        except RuntimeError:
            if not exc_type:  # after a failed statement LadybugDB has already rolled back
                raise


def _arrow_rows(columns: dict[str, str], rows: list[Row]):
    """An Arrow table of `rows` with one typed column per entry of `columns` (name → kind)."""
    import pyarrow as pa

    arrays = {}
    for name, kind in columns.items():
        if kind.endswith("[]"):
            arrow_type = pa.list_(pa.type_for_alias(_ARROW_TYPES[kind[:-2]]))
        else:
            arrow_type = _ARROW_TYPES[kind]
        arrays[name] = pa.array([row.get(name) for row in rows], type=arrow_type)
    return pa.table(arrays)
