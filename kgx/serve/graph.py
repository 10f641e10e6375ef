"""`GraphService`: the reads behind the HTTP API, the MCP tools and `kgx viz`, over one store.

    service = GraphService(open_store("./kgx-store", read_only=True))
    service.search("lovelace").hits[0].name
"""

from __future__ import annotations

import threading
import time
from typing import Any

from kgx.errors import ConfigError, KgxError, QueryTimeoutError, ReadOnlyQueryError
from kgx.graphdb import serve_queries as q
from kgx.graphdb.schema import ALL_RELATIONSHIPS, NODES

from . import models as m

SEARCH_LIMIT_MAX = 100
FACTS_LIMIT = 500
SCHEMA_TOP = 50


class NotFoundError(KgxError):
    """No entity, document, fact or job has the id asked for."""


class LockedStore:
    """A store whose every call holds one lock: LadybugDB's connection is not shared safely."""

    def __init__(self, store, lock) -> None:
        self._store, self._lock = store, lock

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if not callable(value):
            return value

        def locked(*args, **kwargs):
            with self._lock:
                result = value(*args, **kwargs)
                return list(result) if name == "entities" else result

        return locked

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GraphService:
    """Typed reads over a store: stats, schema, read-only Cypher, search, entities, documents."""

    def __init__(self, store, *, max_rows: int = 1000, query_timeout_s: float = 10.0) -> None:
        from kgx.graphdb.ladybug_store import LadybugStore

        self.backend = "ladybug" if isinstance(store, LadybugStore) else "neo4j"
        self._lock = threading.RLock() if self.backend == "ladybug" else None
        self.store = LockedStore(store, self._lock) if self._lock is not None else store
        self.max_rows = max_rows
        self.query_timeout_s = query_timeout_s
        self._names: _NameIndex | None = None
        self._names_lock = threading.Lock()

    def _rows(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        return self.store.query(cypher, params).records()

    def stats(self) -> m.Stats:
        return m.Stats(counts=self.store.counts())

    def schema(self) -> m.Schema:
        """The declared schema plus the store's most frequent entity types and predicates."""
        def top(cypher: str) -> list[m.ValueCount]:
            return [m.ValueCount(value=r["value"], count=r["n"])
                    for r in self._rows(cypher, limit=SCHEMA_TOP)]

        return m.Schema(
            nodes=[m.LabelSchema(label=t.label, properties=t.properties) for t in NODES],
            relationships=[m.RelationshipSchema(type=t.type, source=t.source, target=t.target,
                                                properties=t.properties)
                           for t in ALL_RELATIONSHIPS],
            entity_types=top(q.ENTITY_TYPES), predicates=top(q.PREDICATES))

    def query(self, cypher: str, params: dict[str, Any] | None = None, *,
              timeout_s: float | None = None) -> m.QueryResponse:
        """Read-only Cypher with bound parameters, a row cap and a time limit (at most the
        service's `query_timeout_s`)."""
        started = time.perf_counter()
        limit_s = min(timeout_s or self.query_timeout_s, self.query_timeout_s)
        try:
            result = self.store.query(cypher, params or {}, write=False,
                                      timeout_s=limit_s, max_rows=self.max_rows + 1)
        except ReadOnlyQueryError as e:
            raise ReadOnlyQueryError(
                f"only read-only Cypher runs here, whatever the token ({e}). Change the graph "
                "with `kgx extract`, or upload documents to `kgx serve` (POST /documents).") from e
        truncated = len(result.rows) > self.max_rows
        return m.QueryResponse(columns=result.columns, rows=result.rows[:self.max_rows],
                               truncated=truncated, row_cap=self.max_rows,
                               elapsed_ms=(time.perf_counter() - started) * 1000)

    def query_now(self, cypher: str, params: dict[str, Any] | None, *,
                  budget_s: float) -> m.QueryResponse | None:
        """`query`, if the embedded store is free right now and the query ends within
        `budget_s`; None otherwise (the store busy, or the query stopped at the budget)."""
        if self._lock is None or not self._lock.acquire(blocking=False):
            return None
        try:
            return self.query(cypher, params, timeout_s=budget_s)
        except QueryTimeoutError:
            if budget_s >= self.query_timeout_s:  # the real limit: a real timeout
                raise
            return None
        finally:
            self._lock.release()

    def search(self, text: str, limit: int = 20) -> m.SearchResults:
        """Entities whose name or an alias fuzzily matches `text`, best first."""
        if not text.strip():
            raise ConfigError("the search text is empty: pass ?q=NAME")
        limit = max(1, min(limit, SEARCH_LIMIT_MAX))
        return m.SearchResults(query=text, hits=self._name_index().search(text, limit))

    def _name_index(self) -> _NameIndex:
        """The names of all entities, rebuilt when the number of entities changed."""
        count = self.store.query(q.ENTITY_COUNT).scalar()
        with self._names_lock:
            if self._names is None or self._names.count != count:
                self._names = _NameIndex(list(self.store.entities()), count)
            return self._names

    def forget_cached(self) -> None:
        """Drop what was loaded from the store (after a write)."""
        with self._names_lock:
            self._names = None

    def entity(self, entity_id: str, fact_limit: int = FACTS_LIMIT) -> m.EntityDetail:
        """An entity with its facts (either direction), propositions, mentions and provenance."""
        rows = self._rows(q.ENTITY_BY_ID, id=entity_id)
        if not rows:
            raise NotFoundError(f"no entity with id {entity_id!r}; find ids with "
                                "GET /entities?q=NAME")
        facts = self._rows(q.ENTITY_FACTS, id=entity_id, limit=fact_limit + 1)
        propositions = self._rows(q.ENTITY_PROPOSITIONS, id=entity_id, limit=fact_limit)
        chunks = self._chunks({r["chunk_id"] for r in facts + propositions if r["chunk_id"]})
        return m.EntityDetail(
            entity=_summary(rows[0]),
            facts=[_fact(r, chunks) for r in facts[:fact_limit]],
            propositions=[m.PropositionFact(id=r["id"], text=r["text"],
                                            provenance=_provenance(r, chunks))
                          for r in propositions],
            mentions=[m.Mention(**r) for r in self._rows(q.ENTITY_MENTIONS, id=entity_id,
                                                          limit=fact_limit)],
            facts_truncated=len(facts) > fact_limit)

    def fact(self, fact_id: str) -> m.Fact:
        """One RELATION edge with its provenance."""
        rows = self._rows(q.FACT_BY_ID, id=fact_id)
        if not rows:
            raise NotFoundError(f"no fact with id {fact_id!r}; fact ids are the `id` of "
                                "RELATION edges (GET /entities/{id} lists them)")
        return _fact(rows[0], self._chunks({rows[0]["chunk_id"]} - {None}))

    def _chunks(self, ids: set[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        return {r["chunk_id"]: r for r in self._rows(q.CHUNKS_BY_ID, ids=sorted(ids))}

    def neighbourhood(self, entity_id: str, hops: int = 1, limit: int = 200) -> m.Neighbourhood:
        """Entities within `hops` RELATION edges (either direction), at most `limit` edges."""
        if not 1 <= hops <= 3:
            raise ConfigError(f"hops must be 1, 2 or 3, not {hops}")
        center = self._rows(q.ENTITY_BY_ID, id=entity_id)
        if not center:
            raise NotFoundError(f"no entity with id {entity_id!r}; find ids with "
                                "GET /entities?q=NAME")
        nodes = {entity_id: m.GraphNode(id=entity_id, name=center[0]["name"],
                                        type=center[0]["type"])}
        edges: dict[str, m.GraphEdge] = {}
        frontier, truncated = [entity_id], False
        for _ in range(hops):
            if not frontier:
                break
            rows = self._rows(q.NEIGHBOUR_EDGES, ids=frontier, limit=limit - len(edges) + 1)
            new = _add_edges(rows, nodes, edges, limit)
            truncated = truncated or len(edges) >= limit
            frontier = new
            if truncated:
                break
        return m.Neighbourhood(center=entity_id, hops=hops, nodes=list(nodes.values()),
                               edges=list(edges.values()), truncated=truncated)

    def entity_by_name(self, name: str) -> m.EntitySummary:
        """The best fuzzy match for `name` (for `kgx viz --entity`)."""
        hits = self.search(name, 1).hits
        if not hits:
            raise NotFoundError(f"no entity matches {name!r}; try another spelling")
        return hits[0]

    def documents(self, skip: int = 0, limit: int = 50) -> m.DocumentList:
        rows = self._rows(q.DOCUMENTS, skip=skip, limit=limit)
        return m.DocumentList(total=self.store.query(q.DOCUMENT_COUNT).scalar(),
                              documents=[m.DocumentSummary(**_no_nulls(r)) for r in rows])

    def document(self, doc_id: str) -> m.DocumentDetail:
        rows = self._rows(q.DOCUMENT_BY_ID, id=doc_id)
        if not rows:
            raise NotFoundError(f"no document with id {doc_id!r}; GET /documents lists them")
        chunks = [m.ChunkSummary(**r) for r in self._rows(q.DOCUMENT_CHUNKS, id=doc_id)]
        return m.DocumentDetail(**_no_nulls(rows[0]), chunks=chunks)


class _NameIndex:
    """Names and aliases of every entity, searched with rapidfuzz."""

    def __init__(self, entities: list, count: int) -> None:
        self.count = count
        self.entities = entities
        self.choices: list[str] = []
        self.owner: list[int] = []
        for i, entity in enumerate(entities):
            for name in (entity.name, *entity.aliases):
                self.choices.append(name)
                self.owner.append(i)

    def search(self, text: str, limit: int) -> list[m.EntityHit]:
        from rapidfuzz import fuzz, process, utils

        found = process.extract(text, self.choices, scorer=fuzz.WRatio,
                                processor=utils.default_process, limit=limit * 4,
                                score_cutoff=70)
        hits: dict[int, m.EntityHit] = {}
        for choice, score, index in found:
            owner = self.owner[index]
            if owner not in hits:
                entity = self.entities[owner]
                hits[owner] = m.EntityHit(id=entity.canonical_id, name=entity.name,
                                          type=entity.type, aliases=list(entity.aliases),
                                          score=round(score, 1), matched=choice)
        ranked = sorted(hits.values(), key=lambda h: (-h.score, len(h.name), h.name))
        return ranked[:limit]


def _add_edges(rows: list[dict[str, Any]], nodes: dict[str, m.GraphNode],
               edges: dict[str, m.GraphEdge], limit: int) -> list[str]:
    """Add `rows` (NEIGHBOUR_EDGES) up to `limit` edges; returns the ids of nodes new to `nodes`."""
    new: list[str] = []
    for row in rows:
        if len(edges) >= limit:
            break
        edges.setdefault(row["id"], m.GraphEdge(id=row["id"], source=row["source"],
                                                target=row["target"], predicate=row["predicate"]))
        for side in ("source", "target"):
            node_id = row[side]
            if node_id not in nodes:
                nodes[node_id] = m.GraphNode(id=node_id, name=row[f"{side}_name"],
                                             type=row[f"{side}_type"])
                new.append(node_id)
    return new


def _summary(row: dict[str, Any], prefix: str = "") -> m.EntitySummary:
    return m.EntitySummary(id=row[f"{prefix}id"], name=row[f"{prefix}name"],
                           type=row[f"{prefix}type"], aliases=row.get("aliases") or [])


def _fact(row: dict[str, Any], chunks: dict[str, dict[str, Any]]) -> m.Fact:
    return m.Fact(id=row["id"], predicate=row["predicate"], evidence=row["evidence"],
                  confidence=row["confidence"], proposition_id=row["proposition_id"],
                  subject=_summary(row, "subject_"), object=_summary(row, "object_"),
                  provenance=_provenance(row, chunks))


def _provenance(row: dict[str, Any], chunks: dict[str, dict[str, Any]]) -> m.Provenance:
    """Provenance of a fact or proposition, with the evidence span as offsets in its chunk."""
    chunk = chunks.get(row["chunk_id"] or "", {})
    chunk_start = chunk.get("start_char")
    span = _span_in_chunk(row["start_char"], row["end_char"], chunk_start, chunk.get("text"))
    return m.Provenance(
        doc_id=row["doc_id"], document_title=chunk.get("title"), chunk_id=row["chunk_id"],
        chunk_text=chunk.get("text"), chunk_start=chunk_start, start_char=row["start_char"],
        end_char=row["end_char"], page=row.get("page"), span_start=span[0], span_end=span[1],
        extractor=row["extractor"], extractor_version=row["extractor_version"],
        model=row["model"], prompt_version=row["prompt_version"], run_id=row["run_id"])


def _span_in_chunk(start: int | None, end: int | None, chunk_start: int | None,
                   text: str | None) -> tuple[int | None, int | None]:
    if None in (start, end, chunk_start) or text is None:
        return None, None
    span_start = max(0, start - chunk_start)
    span_end = min(len(text), end - chunk_start)
    return (span_start, span_end) if span_end > span_start else (None, None)


def _no_nulls(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}

