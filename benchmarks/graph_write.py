"""Benchmark writing one graph into Neo4j with kgx, LangChain and neo4j-graphrag, and LadybugDB.

Every writer gets the same seeded graph (see `_common.py`): entities with a name and a type, and
relations carrying the same properties (predicate, evidence, confidence, provenance). Each Neo4j
writer starts from an empty database with no constraints or indexes and creates its own; after
each write the nodes and relationships are counted, and a writer that wrote less fails the run.
Uses NEO4J_URI / NEO4J_USERNAME / NEO4J_PASSWORD if NEO4J_URI is set, else starts the test server
(`kgx.testing.neo4j_server`). Progress goes to stderr; the last line of stdout is one JSON object.

    python benchmarks/graph_write.py [--relations 100000] [--entities 30000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from _common import (
    Corpus,
    Neo4jTarget,
    clear_database,
    log,
    make_corpus,
    neo4j_counts,
    neo4j_target,
    neo4j_version,
)

from kgx.graphdb.rows import provenance_row
from kgx.models import Chunk, Document, Entity, GraphBatch, Provenance, Relation

EXTRACTOR = "bench.synthetic.v1"
LABELS = {"PERSON": "Person", "ORG": "Organization", "GPE": "Place", "WORK_OF_ART": "Work"}
TARGETS = {"langchain": 10.0, "graphrag": 3.0}  # kgx must be at least this many times faster
QUICK = {"relations": 5_000, "entities": 1_500}
DocRelations = list[Relation]


# --- the graph, as kgx models and as each peer's input -------------------------------------------


def build_documents(corpus: Corpus) -> list[DocRelations]:
    """kgx Relations with provenance, one list per source document."""
    entities = [Entity(name=name, type=etype) for name, etype in corpus.entities]
    return [_document_relations(i, facts, entities) for i, facts in enumerate(corpus.documents)]


def _document_relations(index: int, facts, entities: list[Entity]) -> DocRelations:
    """The relations one document states, each with its sentence as evidence."""
    sentences = [f"{entities[s].name} {p} {entities[o].name}." for s, p, o in facts]
    text = " ".join(sentences)
    doc = Document(title=f"Synthetic document {index}", text=text, source="graph_write")
    chunk = Chunk(doc_id=doc.id, index=0, text=text, start=0, end=len(text),
                  n_tokens=len(text.split()))
    relations, start = [], 0
    for (s, p, o), sentence in zip(facts, sentences, strict=True):
        provenance = Provenance(
            doc_id=doc.id, chunk_id=chunk.id, start=start, end=start + len(sentence),
            extractor=EXTRACTOR, extractor_version="1", model="synthetic",
            prompt_version="synthkg.relations.v1", run_id="bench")
        relations.append(Relation(subject=entities[s], predicate=p, object=entities[o],
                                  evidence=sentence, confidence=0.5 + (s * 31 + o) % 50 / 100,
                                  provenance=provenance))
        start += len(sentence) + 1
    return relations


def kgx_batches(docs: list[DocRelations], docs_per_batch: int) -> list[GraphBatch]:
    """GraphBatches of `docs_per_batch` documents (0: the whole graph in one batch)."""
    size = docs_per_batch or len(docs)
    batches = []
    for i in range(0, len(docs), size):
        relations = [r for doc in docs[i:i + size] for r in doc]
        entities = {e.id: e for r in relations for e in (r.subject, r.object)}
        batches.append(GraphBatch(entities=list(entities.values()), relations=relations))
    return batches


def node_properties(entity: Entity) -> dict[str, str]:
    """The node properties the peers store (kgx stores the same, plus an empty alias list)."""
    return {"name": entity.name, "type": entity.type}


def edge_properties(relation: Relation) -> dict[str, object]:
    """The relationship properties every writer stores: kgx's RELATION row without endpoints."""
    row = {"id": relation.id, "predicate": relation.predicate, "evidence": relation.evidence,
           "confidence": relation.confidence, **provenance_row(relation.provenance)}
    return {k: v for k, v in row.items() if v is not None}


def langchain_documents(docs: list[DocRelations]) -> list:
    """One LangChain GraphDocument per source document, as LLMGraphTransformer returns them."""
    from langchain_neo4j.graphs.graph_document import GraphDocument, Node, Relationship

    out = []
    for relations in docs:
        nodes = {e.id: Node(id=e.id, type=LABELS[e.type], properties=node_properties(e))
                 for r in relations for e in (r.subject, r.object)}
        edges = [Relationship(source=nodes[r.subject.id], target=nodes[r.object.id],
                              type=r.predicate, properties=edge_properties(r)) for r in relations]
        out.append(GraphDocument(nodes=list(nodes.values()), relationships=edges))
    return out


def graphrag_graph(docs: list[DocRelations]):
    """The whole graph as one neo4j-graphrag Neo4jGraph, as its entity resolver would leave it."""
    from neo4j_graphrag.components.types import Neo4jGraph, Neo4jNode, Neo4jRelationship

    relations = [r for doc in docs for r in doc]
    entities = {e.id: e for r in relations for e in (r.subject, r.object)}
    nodes = [Neo4jNode(id=e.id, label=LABELS[e.type], properties={"id": e.id, **node_properties(e)})
             for e in entities.values()]
    edges = [Neo4jRelationship(start_node_id=r.subject.id, end_node_id=r.object.id,
                               type=r.predicate.replace(" ", "_").upper(),
                               properties=edge_properties(r)) for r in relations]
    return Neo4jGraph(nodes=nodes, relationships=edges)


# --- checks ------------------------------------------------------------------------------------


def check_counts(writer: str, counts: dict[str, int], entities: int, relations: int) -> None:
    """Fail the run unless the writer stored exactly the graph it was given."""
    expected = {"nodes": entities, "named_nodes": entities, "relationships": relations,
                "relationships_with_provenance": relations}
    if counts != expected:
        raise SystemExit(f"{writer} did not write the whole graph: found {counts}, "
                         f"expected {expected}. Its timing would be meaningless.")


# --- the writers ---------------------------------------------------------------------------------


def write_kgx_neo4j(target: Neo4jTarget, batches: list[GraphBatch]) -> None:
    """kgx: Neo4jStore.upsert per batch (connect creates its constraints and indexes)."""
    from kgx.graphdb.neo4j_store import Neo4jStore

    with Neo4jStore(target.uri, username=target.username, password=target.password,
                    database=target.database) as store:
        for batch in batches:
            store.upsert(batch)


def write_langchain(target: Neo4jTarget, documents: list) -> None:
    """LangChain: add_graph_documents with every document in one call, baseEntityLabel=True."""
    from langchain_neo4j import Neo4jGraph

    graph = Neo4jGraph(url=target.uri, username=target.username, password=target.password,
                       database=target.database)
    try:
        graph.add_graph_documents(documents, baseEntityLabel=True)
    finally:
        graph.close()


def write_graphrag(target: Neo4jTarget, graph, batch_size: int) -> None:
    """neo4j-graphrag: one Neo4jWriter.run over the whole graph."""
    from neo4j_graphrag.components.kg_writer import Neo4jWriter

    with target.driver() as driver:
        writer = Neo4jWriter(driver, neo4j_database=target.database, batch_size=batch_size)
        result = asyncio.run(writer.run(graph))
    if result.status != "SUCCESS":
        raise SystemExit(f"neo4j-graphrag's Neo4jWriter failed: {result.metadata}")


def timed(label: str, write: Callable[[], object]) -> float:
    """Seconds one write takes."""
    gc.collect()
    start = time.perf_counter()
    write()
    seconds = time.perf_counter() - start
    log(f"  {label:<44} {seconds:8.2f} s")
    return seconds


@dataclass
class Writer:
    """One way of writing the graph into Neo4j, and what the table says about it."""

    key: str
    label: str
    mode: str
    write: Callable[[], None]


def measure_neo4j(writer: Writer, target: Neo4jTarget, sizes: dict[str, int]) -> dict:
    """Clear the database, time the writer, then check it wrote everything."""
    with target.driver() as driver:
        clear_database(driver, target.database)
        seconds = timed(writer.label, writer.write)
        counts = neo4j_counts(driver, target.database)
    check_counts(writer.label, counts, sizes["entities"], sizes["relations"])
    return _row(writer.label, "Neo4j", writer.mode, seconds, sizes["relations"], counts)


def measure_ladybug(batches: list[GraphBatch], sizes: dict[str, int]) -> dict:
    """Time LadybugStore.upsert into a new folder, then count what it holds."""
    from kgx.graphdb.ladybug_store import LadybugStore

    def write() -> None:
        with LadybugStore(folder) as store:
            for batch in batches:
                store.upsert(batch)

    with tempfile.TemporaryDirectory(prefix="kgx-bench-") as tmp:
        folder = Path(tmp) / "store"
        seconds = timed("kgx LadybugStore.upsert", write)
        with LadybugStore(folder, read_only=True) as store:
            counts = ladybug_counts(store)
    check_counts("kgx LadybugStore", counts, sizes["entities"], sizes["relations"])
    return _row("kgx LadybugStore.upsert", "LadybugDB", _batch_mode(len(batches)), seconds,
                sizes["relations"], counts)


def ladybug_counts(store) -> dict[str, int]:
    """The same counts as `neo4j_counts`, for a kgx LadybugDB store."""
    nodes, named = store.query("MATCH (n:Entity) RETURN count(n), count(n.name)").rows[0]
    edges, sourced = store.query(
        "MATCH ()-[r:RELATION]->() RETURN count(r), count(r.doc_id)").rows[0]
    return {"nodes": nodes, "named_nodes": named, "relationships": edges,
            "relationships_with_provenance": sourced}


def _row(label: str, store: str, mode: str, seconds: float, relations: int,
         counts: dict[str, int]) -> dict:
    return {"label": label, "store": store, "mode": mode, "seconds": round(seconds, 3),
            "relations_per_s": round(relations / seconds, 1), "nodes": counts["nodes"],
            "relationships": counts["relationships"]}


def _batch_mode(batches: int) -> str:
    return "1 upsert, whole graph" if batches == 1 else f"{batches} upserts"


# --- the run -------------------------------------------------------------------------------------


def neo4j_writers(target: Neo4jTarget, docs: list[DocRelations],
                  args: argparse.Namespace) -> list[Writer]:
    """kgx first (cold server is its handicap, not the peers'), then the peers."""
    one = kgx_batches(docs, 0)
    writers = [Writer("kgx", "kgx Neo4jStore.upsert", _batch_mode(len(one)),
                      lambda: write_kgx_neo4j(target, one))]
    if args.kgx_batch_docs:
        many = kgx_batches(docs, args.kgx_batch_docs)
        writers.append(Writer("kgx_batched", "kgx Neo4jStore.upsert",
                              f"1 upsert per {args.kgx_batch_docs} docs (pipeline default)",
                              lambda: write_kgx_neo4j(target, many)))
    if not args.skip_graphrag:
        graph = graphrag_graph(docs)
        writers.append(Writer("graphrag", "neo4j-graphrag Neo4jWriter",
                              f"1 run, whole graph, batch_size={args.graphrag_batch_size}",
                              lambda: write_graphrag(target, graph, args.graphrag_batch_size)))
    if not args.skip_langchain:
        documents = langchain_documents(docs)
        writers.append(Writer("langchain", "LangChain add_graph_documents",
                              f"1 call, {len(documents):,} GraphDocuments",
                              lambda: write_langchain(target, documents)))
    return writers


def warm_up(target: Neo4jTarget, args: argparse.Namespace) -> None:
    """Write a small graph with every Neo4j writer first, so none pays for a cold JVM alone."""
    relations = args.warmup_relations
    corpus = make_corpus(args.seed + 1, max(relations // 4, 10), relations, args.relations_per_doc)
    sizes = {"entities": len(corpus.entities), "relations": corpus.relations}
    log(f"warm-up with {relations:,} relations (untimed)")
    for writer in neo4j_writers(target, build_documents(corpus), args):
        measure_neo4j(writer, target, sizes)


def ratios(results: dict[str, dict]) -> dict[str, dict[str, float]]:
    """For each other writer, how many times longer it took than each kgx Neo4j mode."""
    kgx_keys = [k for k in ("kgx", "kgx_batched") if k in results]
    return {key: {k: round(row["seconds"] / results[k]["seconds"], 2) for k in kgx_keys}
            for key, row in results.items() if key not in kgx_keys}


def targets(ratio: dict[str, dict[str, float]]) -> dict[str, dict]:
    """The issue's targets: kgx (one upsert) at least N times faster than each Neo4j peer."""
    out = {}
    for peer, minimum in TARGETS.items():
        measured = ratio.get(peer, {})
        got = measured.get("kgx")
        met = None if got is None else got >= minimum
        out[peer] = {"min_ratio": minimum, "ratio": got, "met": met,
                     "ratio_kgx_batched": measured.get("kgx_batched")}
    return out


def print_table(results: dict[str, dict], ratio: dict[str, dict[str, float]],
                goals: dict[str, dict]) -> None:
    """The side-by-side table and one line per target."""
    head = (f"{'writer':<31}{'store':<10}{'mode':<42}{'seconds':>9}{'relations/s':>13}"
            f"{'kgx x faster':>14}{'kgx batched x':>15}")
    print(head)
    print("-" * len(head))
    for key, row in results.items():
        cells = [f"{ratio.get(key, {}).get(k, 0):.2f}x" if k in ratio.get(key, {}) else "-"
                 for k in ("kgx", "kgx_batched")]
        print(f"{row['label']:<31}{row['store']:<10}{row['mode']:<42}{row['seconds']:>9.2f}"
              f"{row['relations_per_s']:>13,.0f}{cells[0]:>14}{cells[1]:>15}")
    for peer, goal in goals.items():
        verdict = ("not measured" if goal["met"] is None else
                   f"{goal['ratio']:.2f}x: {'MET' if goal['met'] else 'NOT MET'}")
        print(f"target: kgx (Neo4j) >= {goal['min_ratio']:g}x faster than {peer}: {verdict}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; --quick shrinks the graph for a smoke run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relations", type=int, default=100_000)
    parser.add_argument("--entities", type=int, default=30_000)
    parser.add_argument("--relations-per-doc", type=int, default=10,
                        help="relations per source document (one LangChain GraphDocument each)")
    parser.add_argument("--kgx-batch-docs", type=int, default=32,
                        help="also time kgx upserting this many documents at a time, as its "
                             "pipeline does (0: skip)")
    parser.add_argument("--graphrag-batch-size", type=int, default=1000,
                        help="Neo4jWriter batch_size (its default is 1000)")
    parser.add_argument("--warmup-relations", type=int, default=2_000,
                        help="untimed warm-up graph size (0: no warm-up)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK['relations']:,} relations, {QUICK['entities']:,} "
                             "entities, small warm-up")
    for peer in ("langchain", "graphrag", "ladybug"):
        parser.add_argument(f"--skip-{peer}", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.relations, args.entities = QUICK["relations"], QUICK["entities"]
        args.warmup_relations = min(args.warmup_relations, 500)
    return args


def run(args: argparse.Namespace) -> dict:
    """Generate the graph, time every writer, and return the summary."""
    started = time.perf_counter()
    corpus = make_corpus(args.seed, args.entities, args.relations, args.relations_per_doc)
    docs = build_documents(corpus)
    sizes = {"entities": len(corpus.entities), "relations": corpus.relations}
    log(f"graph: {sizes['relations']:,} relations over {sizes['entities']:,} entities in "
        f"{len(docs):,} documents ({time.perf_counter() - started:.1f} s to build)")
    with neo4j_target() as target:
        log(f"Neo4j at {target.uri}")
        with target.driver() as driver:
            version = neo4j_version(driver, target.database)
        if args.warmup_relations:
            warm_up(target, args)
        log("timed writes:")
        writers = neo4j_writers(target, docs, args)
        results = {w.key: measure_neo4j(w, target, sizes) for w in writers}
        with target.driver() as driver:
            clear_database(driver, target.database)
    if not args.skip_ladybug:
        results["kgx_ladybug"] = measure_ladybug(kgx_batches(docs, 0), sizes)
    ratio = ratios(results)
    goals = targets(ratio)
    print_table(results, ratio, goals)
    return {
        "benchmark": "graph_write", "seed": args.seed, **sizes, "documents": len(docs),
        "relations_per_doc": args.relations_per_doc, "kgx_batch_docs": args.kgx_batch_docs,
        "neo4j_version": version, "python": platform.python_version(), "cpus": os.cpu_count(),
        "writers": results, "ratios": ratio, "targets": goals,
        "targets_met": all(g["met"] for g in goals.values() if g["met"] is not None),
        "total_seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark; the JSON summary is the last line of stdout."""
    summary = run(parse_args(argv))
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
