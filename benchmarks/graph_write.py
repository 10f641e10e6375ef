"""Benchmark writing one graph into Neo4j with kgx, LangChain and neo4j-graphrag, and LadybugDB.

Every writer gets the same seeded graph (see `_common.py`): entities with a name and a type, and
relations carrying the same properties (predicate, evidence, confidence, provenance). Each Neo4j
writer starts from an empty database with no constraints or indexes and creates its own; after
each write the nodes and relationships are counted, and a writer that wrote less fails the run.
Uses NEO4J_URI / NEO4J_USERNAME / NEO4J_PASSWORD if NEO4J_URI is set, else starts the test server
(`kgx.testing.neo4j_server`). Progress goes to stderr; the last line of stdout is one JSON object.

    python benchmarks/graph_write.py [--relations 100000] [--entities 30000] [--quick]
        [--kgx-batch-docs 32,1000] [--repeat 1] [--skip-langchain] [--skip-graphrag]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from _common import (
    Corpus,
    Fact,
    Neo4jTarget,
    check_counts,
    clear_database,
    driver_info,
    log,
    make_corpus,
    neo4j_counts,
    neo4j_target,
    neo4j_version,
    timed,
)

from kgx.batching import BULK_DOCUMENTS
from kgx.graphdb.rows import provenance_row
from kgx.models import Chunk, Document, Entity, GraphBatch, Provenance, Relation

EXTRACTOR = "bench.synthetic.v1"
LABELS = {"PERSON": "Person", "ORG": "Organization", "GPE": "Place", "WORK_OF_ART": "Work"}
TARGETS = {"langchain": 10.0, "graphrag": 3.0}  # kgx must be at least this many times faster
QUICK = {"relations": 5_000, "entities": 1_500}
PIPELINE_BATCH_DOCUMENTS = BULK_DOCUMENTS  # what `kgx extract` writes per batch with spaCy
DocRelations = list[Relation]


# --- the graph, as kgx models and as each peer's input -------------------------------------------


def build_documents(corpus: Corpus) -> list[DocRelations]:
    """kgx Relations with provenance, one list per source document."""
    entities = [Entity(name=name, type=etype) for name, etype in corpus.entities]
    return [_document_relations(i, facts, entities) for i, facts in enumerate(corpus.documents)]


def _document_relations(index: int, facts: list[Fact], entities: list[Entity]) -> DocRelations:
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
    """The whole graph as one neo4j-graphrag Neo4jGraph: its best case, one run, no duplicates."""
    from neo4j_graphrag.components.types import Neo4jGraph, Neo4jNode, Neo4jRelationship

    relations = [r for doc in docs for r in doc]
    entities = {e.id: e for r in relations for e in (r.subject, r.object)}
    nodes = [Neo4jNode(id=e.id, label=LABELS[e.type], properties={"id": e.id, **node_properties(e)})
             for e in entities.values()]
    edges = [Neo4jRelationship(start_node_id=r.subject.id, end_node_id=r.object.id,
                               type=r.predicate.replace(" ", "_").upper(),
                               properties=edge_properties(r)) for r in relations]
    return Neo4jGraph(nodes=nodes, relationships=edges)


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


def write_cypher_floor(target: Neo4jTarget, nodes: list[dict], edges: list[dict]) -> None:
    """No writer: bare `UNWIND … CREATE` of the same rows, 10k a transaction, no MERGE or index.

    It is the least work any online writer can do for this graph, so peer / floor is the
    highest ratio any writer could reach on this machine.
    """
    with target.driver() as driver:
        driver.execute_query("CREATE CONSTRAINT floor_entity_id IF NOT EXISTS "
                             "FOR (n:Entity) REQUIRE n.id IS UNIQUE", database_=target.database)
        for query, rows in ((FLOOR_NODES, nodes), (FLOOR_EDGES, edges)):
            for start in range(0, len(rows), 10_000):
                driver.execute_query(query, rows=rows[start:start + 10_000],
                                     database_=target.database)


FLOOR_NODES = "UNWIND $rows AS row CREATE (n:Entity) SET n = row"
FLOOR_EDGES = ("UNWIND $rows AS row MATCH (a:Entity {id: row.src}) MATCH (b:Entity {id: row.dst}) "
               "CREATE (a)-[r:RELATION]->(b) SET r = row.props")


def floor_rows(docs: list[DocRelations]) -> tuple[list[dict], list[dict]]:
    """Node and edge rows for the Cypher floor, with the properties every writer stores."""
    relations = [r for doc in docs for r in doc]
    entities = {e.id: e for r in relations for e in (r.subject, r.object)}
    nodes = [{"id": e.id, **node_properties(e)} for e in entities.values()]
    edges = [{"src": r.subject.id, "dst": r.object.id, "props": edge_properties(r)}
             for r in relations]
    return nodes, edges


@dataclass
class Writer:
    """One way of writing the graph into Neo4j, and what the table says about it."""

    key: str
    label: str
    mode: str
    prepare: Callable[[], Callable[[], None]]  # builds the writer's input, untimed


def measure_neo4j(writer: Writer, target: Neo4jTarget, sizes: dict[str, int],
                  repeat: int = 1) -> dict:
    """Best of `repeat` writes, each into an emptied database and checked for completeness."""
    write, seconds = writer.prepare(), math.inf
    with target.driver() as driver:
        for _ in range(repeat):
            clear_database(driver, target.database)
            seconds = min(seconds, timed(writer.label, write))
            counts = neo4j_counts(driver, target.database)
            check_counts(writer.label, counts, sizes["entities"], sizes["relations"])
    return _row(writer.label, "Neo4j", writer.mode, seconds, sizes["relations"], counts)


def measure_ladybug(docs: list[DocRelations], docs_per_batch: int, sizes: dict[str, int],
                    repeat: int = 1) -> dict:
    """Best of `repeat` LadybugStore.upsert runs, each into a new folder and then counted."""
    batches, seconds = kgx_batches(docs, docs_per_batch), math.inf
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="kgx-bench-") as tmp:
            folder = Path(tmp) / "store"
            seconds = min(seconds, timed("kgx LadybugStore.upsert",
                                         lambda f=folder: write_kgx_ladybug(f, batches)))
            counts = ladybug_counts(folder)
        check_counts("kgx LadybugStore", counts, sizes["entities"], sizes["relations"])
    mode = _batch_mode(docs_per_batch, len(batches))
    return _row("kgx LadybugStore.upsert", "LadybugDB", mode, seconds, sizes["relations"], counts)


def write_kgx_ladybug(folder: Path, batches: list[GraphBatch]) -> None:
    """kgx: LadybugStore.upsert per batch into a new store folder."""
    from kgx.graphdb.ladybug_store import LadybugStore

    with LadybugStore(folder) as store:
        for batch in batches:
            store.upsert(batch)


def ladybug_counts(folder: Path) -> dict[str, int]:
    """The same counts as `neo4j_counts`, for the kgx LadybugDB store in `folder`."""
    from kgx.graphdb.ladybug_store import LadybugStore

    with LadybugStore(folder, read_only=True) as store:
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


def _batch_mode(docs_per_batch: int, batches: int) -> str:
    if docs_per_batch == 0:
        return "1 upsert, whole graph"
    default = " (pipeline default)" if docs_per_batch == PIPELINE_BATCH_DOCUMENTS else ""
    return f"upsert per {docs_per_batch} docs{default}, {batches:,} tx"


# --- the run -------------------------------------------------------------------------------------


def kgx_key(docs_per_batch: int) -> str:
    """The results key of kgx's Neo4j writer at one batch size."""
    return "kgx_whole_graph" if docs_per_batch == 0 else f"kgx_{docs_per_batch}_docs"


def neo4j_writers(target: Neo4jTarget, docs: list[DocRelations],
                  args: argparse.Namespace) -> list[Writer]:
    """kgx first (the cold server is its handicap, not the peers'), then the peers."""
    writers = [_kgx_writer(target, docs, size) for size in args.kgx_batch_docs]
    if not args.skip_graphrag:
        size = args.graphrag_batch_size
        writers.append(Writer(
            "graphrag", "neo4j-graphrag Neo4jWriter", f"1 run, whole graph, batch_size={size}",
            lambda: partial(write_graphrag, target, graphrag_graph(docs), size)))
    writers.append(Writer(
        "floor", "Cypher floor (no writer)", "bare UNWIND…CREATE, 10k rows a tx",
        lambda: partial(write_cypher_floor, target, *floor_rows(docs))))
    if not args.skip_langchain:
        writers.append(Writer(
            "langchain", "LangChain add_graph_documents", f"1 call, {len(docs):,} GraphDocuments",
            lambda: partial(write_langchain, target, langchain_documents(docs))))
    return writers


def _kgx_writer(target: Neo4jTarget, docs: list[DocRelations], docs_per_batch: int) -> Writer:
    batches = math.ceil(len(docs) / docs_per_batch) if docs_per_batch else 1
    return Writer(kgx_key(docs_per_batch), "kgx Neo4jStore.upsert",
                  _batch_mode(docs_per_batch, batches),
                  lambda: partial(write_kgx_neo4j, target, kgx_batches(docs, docs_per_batch)))


def warm_up(target: Neo4jTarget, args: argparse.Namespace) -> None:
    """Write a small graph with every Neo4j writer first, so none pays for a cold JVM alone."""
    relations = args.warmup_relations
    corpus = make_corpus(args.seed + 1, max(relations // 4, 10), relations, args.relations_per_doc)
    sizes = {"entities": len(corpus.entities), "relations": corpus.relations}
    log(f"warm-up with {relations:,} relations (untimed)")
    for writer in neo4j_writers(target, build_documents(corpus), args):
        measure_neo4j(writer, target, sizes)


def ratios(results: dict[str, dict], kgx_keys: list[str]) -> dict[str, dict[str, float]]:
    """For each Neo4j peer, how many times longer it took than each kgx Neo4j mode."""
    return {peer: {k: round(results[peer]["seconds"] / results[k]["seconds"], 2) for k in kgx_keys}
            for peer in TARGETS if peer in results}


def targets(ratio: dict[str, dict[str, float]], headline: str) -> dict[str, dict]:
    """The issue's targets: kgx (its headline mode) at least N times faster than each peer."""
    out = {}
    for peer, minimum in TARGETS.items():
        got = ratio.get(peer, {}).get(headline)
        out[peer] = {"min_ratio": minimum, "kgx_mode": headline, "ratio": got,
                     "met": None if got is None else got >= minimum}
    return out


def print_table(results: dict[str, dict], ratio: dict[str, dict[str, float]],
                kgx_keys: list[str], goals: dict[str, dict]) -> None:
    """The side-by-side table, a ratio column per kgx mode, and one line per target."""
    head = (f"{'writer':<31}{'store':<10}{'mode':<46}{'seconds':>9}{'relations/s':>13}"
            + "".join(f"{'vs ' + k:>20}" for k in kgx_keys))
    print(head)
    print("-" * len(head))
    for key, row in results.items():
        cells = [f"{ratio[key][k]:.2f}x" if key in ratio else "-" for k in kgx_keys]
        print(f"{row['label']:<31}{row['store']:<10}{row['mode']:<46}{row['seconds']:>9.2f}"
              f"{row['relations_per_s']:>13,.0f}" + "".join(f"{c:>20}" for c in cells))
    print("(vs K: this writer's seconds / kgx mode K's seconds, i.e. how many times faster kgx is)")
    if "floor" in results:
        for peer in ratio:
            ceiling = results[peer]["seconds"] / results["floor"]["seconds"]
            print(f"ceiling: no writer can be more than {ceiling:.2f}x faster than {peer} here "
                  f"(its seconds / the Cypher floor's)")
    for peer, goal in goals.items():
        verdict = ("not measured" if goal["met"] is None else
                   f"{goal['ratio']:.2f}x: {'MET' if goal['met'] else 'NOT MET'}")
        print(f"target: kgx ({goal['kgx_mode']}) >= {goal['min_ratio']:g}x faster than "
              f"{peer} on Neo4j: {verdict}")


def _sizes(text: str) -> list[int]:
    sizes = [int(part) for part in text.split(",")]
    if not sizes or any(size < 0 for size in sizes):
        raise argparse.ArgumentTypeError("give documents per upsert, e.g. 32,1000 (0: all)")
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; --quick shrinks the graph for a smoke run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relations", type=int, default=100_000)
    parser.add_argument("--entities", type=int, default=30_000)
    parser.add_argument("--relations-per-doc", type=int, default=10,
                        help="relations per source document (one LangChain GraphDocument each)")
    parser.add_argument("--kgx-batch-docs", type=_sizes, default=[PIPELINE_BATCH_DOCUMENTS, 1000],
                        help="documents per kgx upsert, one timed row each; the first is the "
                             "one the targets judge (default: the pipeline's 32, then 1000; "
                             "0: the whole graph in one upsert, which needs a large heap)")
    parser.add_argument("--graphrag-batch-size", type=int, default=1000,
                        help="Neo4jWriter batch_size (its default is 1000)")
    parser.add_argument("--warmup-relations", type=int, default=2_000,
                        help="untimed warm-up graph size (0: no warm-up)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time each writer this many times and keep the fastest")
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


def run_neo4j(args: argparse.Namespace, docs: list[DocRelations],
              sizes: dict[str, int]) -> tuple[str, dict[str, dict]]:
    """The server's version and every Neo4j writer's results, the database left empty."""
    with neo4j_target() as target:
        log(f"Neo4j at {target.uri}")
        with target.driver() as driver:
            version = neo4j_version(driver, target.database)
        if args.warmup_relations:
            warm_up(target, args)
        log("timed writes:")
        writers = neo4j_writers(target, docs, args)
        results = {w.key: measure_neo4j(w, target, sizes, args.repeat) for w in writers}
        with target.driver() as driver:
            clear_database(driver, target.database)
    return version, results


def run(args: argparse.Namespace) -> dict:
    """Generate the graph, time every writer, print the table and return the summary."""
    started = time.perf_counter()
    corpus = make_corpus(args.seed, args.entities, args.relations, args.relations_per_doc)
    docs = build_documents(corpus)
    sizes = {"entities": len(corpus.entities), "relations": corpus.relations}
    log(f"graph: {sizes['relations']:,} relations over {sizes['entities']:,} entities in "
        f"{len(docs):,} documents ({time.perf_counter() - started:.1f} s to build)")
    version, results = run_neo4j(args, docs, sizes)
    if not args.skip_ladybug:
        results["kgx_ladybug"] = measure_ladybug(docs, args.kgx_batch_docs[0], sizes, args.repeat)
    kgx_keys = [kgx_key(size) for size in args.kgx_batch_docs]
    ratio = ratios(results, kgx_keys)
    goals = targets(ratio, kgx_keys[0])
    print_table(results, ratio, kgx_keys, goals)
    return {
        "benchmark": "graph_write", "seed": args.seed, **sizes, "documents": len(docs),
        "relations_per_doc": args.relations_per_doc, "kgx_batch_docs": args.kgx_batch_docs,
        "neo4j_version": version, "python": platform.python_version(), "cpus": os.cpu_count(),
        "driver": driver_info(), "repeat": args.repeat,
        "writers": results, "ratios": ratio, "targets": goals,
        "ceilings": {peer: round(results[peer]["seconds"] / results["floor"]["seconds"], 2)
                     for peer in ratio if "floor" in results},
        "targets_met": all(g["met"] is True for g in goals.values()),  # unmeasured: not met
        "total_seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark; the JSON summary is the last line of stdout."""
    logging.getLogger("neo4j.notifications").setLevel(logging.ERROR)  # schema-less warnings
    summary = run(parse_args(argv))
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
