"""Turn a `GraphBatch` into flat, de-duplicated property rows per label and relationship type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kgx.models import Entity, GraphBatch, Provenance

Row = dict[str, Any]


@dataclass
class BatchRows:
    """Rows keyed by label or type; node rows carry `id`, edge rows carry `src` and `dst`."""

    nodes: dict[str, list[Row]] = field(default_factory=dict)
    edges: dict[str, list[Row]] = field(default_factory=dict)


def provenance_row(p: Provenance) -> Row:
    """Provenance as the flat properties stored on facts."""
    return {
        "doc_id": p.doc_id, "chunk_id": p.chunk_id, "start_char": p.start, "end_char": p.end,
        "extractor": p.extractor, "extractor_version": p.extractor_version, "model": p.model,
        "prompt_version": p.prompt_version, "run_id": p.run_id, "page": p.page,
    }


def entity_row(e: Entity) -> Row:
    """An Entity node row."""
    return {"id": e.id, "name": e.name, "type": e.type, "aliases": sorted(e.aliases)}


def _unique(rows: list[Row], key: tuple[str, ...] = ("id",)) -> list[Row]:
    """Drop rows repeating a key; the last one wins, first-seen order is kept."""
    seen: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        seen[tuple(row[k] for k in key)] = row
    return list(seen.values())


def _edges(pairs: list[tuple[str, str]]) -> list[Row]:
    return _unique([{"src": s, "dst": d} for s, d in pairs], ("src", "dst"))


def batch_rows(batch: GraphBatch) -> BatchRows:
    """Flatten a batch; every entity a fact points at is included as a node row."""
    entities = list(batch.entities)
    for rel in batch.relations:
        entities += [rel.subject, rel.object]
    for prop in batch.propositions:
        entities += prop.entities
    nodes = {
        "Document": _unique([_document_row(d, batch.run_id) for d in batch.documents]),
        "Chunk": _unique([_chunk_row(c) for c in batch.chunks]),
        "Entity": _merge_entity_rows([entity_row(e) for e in entities]),
        "Proposition": _unique([
            {"id": p.id, "text": p.text, **provenance_row(p.provenance)}
            for p in batch.propositions
        ]),
    }
    edges = {
        "HAS_CHUNK": _edges([(c.doc_id, c.id) for c in batch.chunks]),
        "MENTIONS": _mention_rows(batch),
        "RELATION": _unique([_relation_row(r) for r in batch.relations]),
        "FROM_CHUNK": _edges([(p.id, p.provenance.chunk_id) for p in batch.propositions]),
        "ABOUT": _edges([(p.id, e.id) for p in batch.propositions for e in p.entities]),
    }
    return BatchRows(nodes, edges)


def _merge_entity_rows(rows: list[Row]) -> list[Row]:
    """One row per entity id, with the union of the aliases seen in the batch."""
    merged: dict[str, Row] = {}
    for row in rows:
        kept = merged.setdefault(row["id"], row)
        if kept is not row:
            kept["aliases"] = sorted(set(kept["aliases"]) | set(row["aliases"]))
    return list(merged.values())


def _mention_rows(batch: GraphBatch) -> list[Row]:
    """MENTIONS edges, each with the sorted surface forms the chunk names its entity by."""
    surfaces: dict[tuple[str, str], set[str]] = {}
    for chunk, entity, surface in batch.surfaces:
        surfaces.setdefault((chunk, entity), set()).add(surface)
    rows = _edges(list(batch.mentions))
    for row in rows:
        row["surfaces"] = sorted(surfaces.get((row["src"], row["dst"]), ()))
    return rows


def _document_row(d, run_id: str) -> Row:
    return {"id": d.id, "external_id": d.external_id, "title": d.title, "source": d.source,
            "text": d.text, "run_id": run_id or None, "page_starts": list(d.page_starts) or None}


def _chunk_row(c) -> Row:
    return {"id": c.id, "doc_id": c.doc_id, "position": c.index, "text": c.text,
            "start_char": c.start, "end_char": c.end, "n_tokens": c.n_tokens}


def _relation_row(r) -> Row:
    return {
        "id": r.id, "src": r.subject.id, "dst": r.object.id, "predicate": r.predicate,
        "evidence": r.evidence, "confidence": r.confidence, "proposition_id": r.proposition_id,
        **provenance_row(r.provenance),
    }
