"""Benchmark the retrievers' query latency on a ~10k-passage LadybugDB store extracted with spaCy.

The passages are the 4,391 of the 2WikiMultihopQA sample (/work/shared/data/multihop) and the
1,574 MuSiQue passages of /work/shared/data/teacher_openie; to reach `--passages`, passages are
repeated in order under new ids ("<id>~r1", ...), with the same title and text. The store is
built once with `kgx extract`'s pipeline (spaCy extractor) and reused by later runs; warming up
embeds its chunks and facts into the local hnswlib indexes beside it, also reused.

Every retriever shares one `RetrievalContext` (one corpus snapshot, one set of indexes), as in
`kgx ask`. Queries are interleaved, question by question, so background load hits all
retrievers alike, and each call encodes its question afresh (no vector cache between
retrievers). Recall@k counts the questions' gold passages among the top k (copies count as
their original). `--neo4j` also times the same chunk vectors in Neo4j's native vector index
against the local index (starts the test server unless NEO4J_URI is set). Progress goes to
stderr; the last line of stdout is one JSON object.

    python benchmarks/retrieval.py [--passages 10000] [--questions 200] [--top-k 10]
        [--store PATH] [--retrievers dense,bm25,graph,ppr,hybrid] [--neo4j] [--answer hybrid]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from _common import log

DATA = Path("/work/shared/data")
CORPUS_2WIKI = DATA / "multihop" / "2wikimultihopqa_corpus.jsonl"
QUESTIONS_2WIKI = DATA / "multihop" / "2wikimultihopqa_questions.jsonl"
MUSIQUE = DATA / "teacher_openie" / "gpt35_openie_musique_passages.json"
RETRIEVERS = ("dense", "dense-facts", "bm25", "graph", "ppr", "hipporag2", "hybrid")
TARGETS = {"graph": {"p50_ms": 50.0, "p50_vs_dense": 2.0},
           "hipporag2": {"p50_vs_dense": 2.0}}


def load_passages(total: int) -> list[dict]:
    """`total` passages as {id, title, text}: 2Wiki, then MuSiQue, then repeats under new ids."""
    base = [json.loads(line) for line in CORPUS_2WIKI.read_text(encoding="utf-8").splitlines()]
    musique = json.loads(MUSIQUE.read_text(encoding="utf-8"))["docs"]
    base += [{"id": f"musique-p{i:05d}", "title": d["title"], "text": d["text"]}
             for i, d in enumerate(musique)]
    passages = base[:total]
    copy = 1
    while len(passages) < total:
        passages += [{**p, "id": f"{p['id']}~r{copy}"} for p in base[:total - len(passages)]]
        copy += 1
    return passages


def load_questions(count: int, passage_ids: set[str]) -> list[dict]:
    """The first `count` 2Wiki questions whose gold passages are all in the store."""
    rows = [json.loads(line) for line in QUESTIONS_2WIKI.read_text(encoding="utf-8").splitlines()]
    usable = [q for q in rows if set(q["gold_passage_ids"]) <= passage_ids]
    return (usable or rows)[:count]


class RepeatAwareExtractor:
    """The spaCy extractor, parsing each distinct chunk text once: a repeated passage reuses
    the first copy's extraction, re-pointed at its own chunk (same graph, less CPU)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name, self.version = inner.name, getattr(inner, "version", "")
        self.seen: dict[str, tuple] = {}

    def warm_up(self) -> None:
        self.inner.warm_up()

    def extract(self, chunks, run_id: str):
        fresh = list({c.text: c for c in chunks if c.text not in self.seen}.values())
        for chunk, found in zip(fresh, self.inner.extract(fresh, run_id) if fresh else [],
                                strict=True):
            self.seen[chunk.text] = (chunk, found)
        return [self._moved(*self.seen[c.text], c) for c in chunks]

    @staticmethod
    def _moved(source, found, chunk):
        if source.id == chunk.id:
            return found
        shift = chunk.start - source.start
        relations = [r.model_copy(update={"provenance": r.provenance.model_copy(update={
            "doc_id": chunk.doc_id, "chunk_id": chunk.id, "start": r.provenance.start + shift,
            "end": r.provenance.end + shift})}) for r in found.relations]
        return found.model_copy(update={"chunk_id": chunk.id, "relations": relations,
                                        "propositions": []})


def build_store(path: Path, passages: list[dict]) -> dict:
    """Extract `passages` into the store at `path` with spaCy (finished documents are skipped)."""
    from kgx.extractors import get_extractor
    from kgx.graphdb import open_store
    from kgx.pipeline import ExtractConfig, extract_corpus

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "passages.jsonl"
        corpus.write_text("".join(json.dumps(p) + "\n" for p in passages), encoding="utf-8")
        with open_store(str(path)) as store:
            report = extract_corpus([corpus], store, ExtractConfig(extractor="spacy"),
                                    extractor=RepeatAwareExtractor(get_extractor("spacy")),
                                    on_progress=_progress("extracted"))
            counts = store.counts()
    log(f"store {path}: {counts}")
    return {"extract_seconds": round(report.seconds, 1), "written": report.documents_written,
            "counts": counts}


def _progress(what: str):
    last = [0.0]

    def report(done: int, total: int) -> None:
        if time.monotonic() - last[0] > 30 or done == total:
            last[0] = time.monotonic()
            log(f"  {what} {done}/{total}")

    return report


def make_retrievers(names: Sequence[str], context) -> dict:
    """The retrievers to time, over one shared context, each warmed up (and timed doing so)."""
    from kgx.retrieval import make_retriever

    made, warm = {}, {}
    for name in names:
        kind, _, variant = name.partition("-")
        options = {"over": variant} if variant else {}
        retriever = make_retriever(kind, context.store, context=context, **options)
        start = time.perf_counter()
        retriever.warm_up()
        warm[name] = round(time.perf_counter() - start, 2)
        log(f"  warmed up {name} in {warm[name]:.1f} s")
        made[name] = retriever
    return made, warm


def time_queries(retrievers: dict, questions: list[dict], context, top_k: int) -> dict:
    """Per retriever: the seconds of each call, the seconds once the question's vector is
    cached (the retriever's own work), and the recall@k of gold passages."""
    seconds = {name: [] for name in retrievers}
    cached = {name: [] for name in retrievers}
    found = {name: [] for name in retrievers}
    for question in questions[:3]:  # first calls pay lazy imports and caches
        for retriever in retrievers.values():
            retriever.retrieve(question["question"], top_k)
    for i, question in enumerate(questions):
        gold = set(question["gold_passage_ids"])
        for name, retriever in retrievers.items():
            context.forget_questions()
            for timings in (seconds[name], cached[name]):
                start = time.perf_counter()
                hits = retriever.retrieve(question["question"], top_k)
                timings.append(time.perf_counter() - start)
            got = {(h.external_id or "").split("~")[0] for h in hits}
            found[name].append(len(gold & got) / len(gold))
        if (i + 1) % 50 == 0:
            log(f"  {i + 1}/{len(questions)} questions")
    return {name: {"seconds": seconds[name], "cached": cached[name],
                   "recall": statistics.fmean(found[name])} for name in retrievers}


def time_answers(retriever, questions: list[dict], context) -> dict:
    """The graph answerer's own time per question (no LLM), over `retriever`'s top 5: what
    `kgx ask` adds to the retrieval time."""
    from kgx.retrieval.graph_answer import GraphAnswerer

    answerer = GraphAnswerer(context)
    start = time.perf_counter()
    answerer.warm_up()
    log(f"  warmed up the graph answerer in {time.perf_counter() - start:.1f} s")
    seconds = []
    for question in questions:
        chunks = retriever.retrieve(question["question"], 5)
        start = time.perf_counter()
        answerer.answer(question["question"], chunks)
        seconds.append(time.perf_counter() - start)
    return summary(seconds)


def time_encoding(context, questions: list[dict]) -> list[float]:
    """Seconds to embed each question alone: the floor of every retriever that embeds."""
    out = []
    for question in questions:
        start = time.perf_counter()
        context.encoder.encode([question["question"]])
        out.append(time.perf_counter() - start)
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(seconds: list[float]) -> dict:
    return {"p50_ms": round(1000 * percentile(seconds, 0.5), 2),
            "p95_ms": round(1000 * percentile(seconds, 0.95), 2),
            "mean_ms": round(1000 * statistics.fmean(seconds), 2)}


def print_table(rows: dict, reference: str) -> None:
    """Side by side, with ratios to `reference` (dense)."""
    ref = rows[reference]
    head = (f"{'retriever':<28}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}"
            f"{'p50/dense':>11}{'p95/dense':>11}{'recall@k':>10}{'p50 ms, q vec cached':>22}")
    print(head)
    print("-" * len(head))
    for name, row in rows.items():
        recall = f"{row['recall']:.3f}" if "recall" in row else "-"
        own = f"{row['vector_cached_p50_ms']:.2f}" if "vector_cached_p50_ms" in row else "-"
        print(f"{name:<28}{row['p50_ms']:>9.2f}{row['p95_ms']:>9.2f}{row['mean_ms']:>9.2f}"
              f"{row['p50_ms'] / ref['p50_ms']:>10.2f}x{row['p95_ms'] / ref['p95_ms']:>10.2f}x"
              f"{recall:>10}{own:>22}")


# --- Neo4j's native vector index against the local one, on the same vectors ----------------------


class _Precomputed:
    """An encoder that returns already computed vectors, so Neo4j gets the same embeddings."""

    def __init__(self, vectors: dict, encoder) -> None:
        self.vectors, self.inner, self.name = vectors, encoder, encoder.name

    def encode(self, texts):
        import numpy as np

        return np.stack([self.vectors[t] if t in self.vectors else self.inner.encode([t])[0]
                         for t in texts])


def compare_neo4j(context, questions: list[dict], top_k: int) -> dict:
    """p50/p95 of dense retrieval and of the bare vector search: Neo4j native vs local hnswlib."""
    from _common import neo4j_target

    from kgx.graphdb.neo4j_store import Neo4jStore
    from kgx.retrieval import DenseRetriever, RetrievalContext

    corpus = context.corpus()
    local = context.vectors("chunks")
    exact = local.exact_copy()  # every live vector, by id
    position = {id_: i for i, id_ in enumerate(exact.ids)}
    by_text = {c.indexed_text(): exact.matrix[position[c.id]] for c in corpus.chunks}
    rows = [{"id": c.id, "doc_id": c.doc_id, "text": c.text} for c in corpus.chunks]
    with neo4j_target() as target, Neo4jStore(target.uri, username=target.username,
                                              password=target.password,
                                              database=target.database) as store:
        store.query("MATCH (n) DETACH DELETE n", write=True)
        for start in range(0, len(rows), 5000):
            store.query("UNWIND $rows AS row MERGE (c:Chunk {id: row.id}) SET c += row",
                        {"rows": rows[start:start + 5000]}, write=True)
        neo4j_context = RetrievalContext(store, encoder=_Precomputed(by_text, context.encoder))
        start = time.perf_counter()
        native = neo4j_context.vectors("chunks")
        log(f"  Neo4j: stored {native.embedded} vectors and built its index in "
            f"{time.perf_counter() - start:.1f} s")
        dense = DenseRetriever(store, context=neo4j_context)
        dense.warm_up()
        vectors = [context.encoder.encode([q["question"]])[0] for q in questions]
        timings = {"dense (Neo4j vector index)": [], "search: Neo4j vector index": [],
                   "search: local hnswlib": [], "search: exact numpy": []}
        for question, vector in zip(questions, vectors, strict=True):
            neo4j_context.forget_questions()
            for name, call in (
                    ("dense (Neo4j vector index)", lambda q=question: dense.retrieve(
                        q["question"], top_k)),
                    ("search: Neo4j vector index", lambda v=vector: native.search(v, top_k)),
                    ("search: local hnswlib", lambda v=vector: local.search(v, top_k)),
                    ("search: exact numpy", lambda v=vector: exact.search(v, top_k))):
                start = time.perf_counter()
                call()
                timings[name].append(time.perf_counter() - start)
    return {name: summary(seconds) for name, seconds in timings.items()}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--answer", metavar="RETRIEVER",
                        help="also time the graph answerer over this retriever's top 5")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--store", type=Path, default=None,
                        help="store folder (default: one per size in the temp folder, reused)")
    parser.add_argument("--retrievers", default=",".join(RETRIEVERS),
                        help=f"comma-separated, from {', '.join(RETRIEVERS)}")
    parser.add_argument("--neo4j", action="store_true",
                        help="also compare Neo4j's native vector index with the local one")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("kgx.retrieval").setLevel(logging.INFO)  # embedding progress
    names = [n for n in args.retrievers.split(",") if n]
    if "dense" not in names:
        names.insert(0, "dense")  # the reference of every ratio
    store_path = args.store or Path(tempfile.gettempdir()) / f"kgx-bench-retrieval-{args.passages}"
    passages = load_passages(args.passages)
    questions = load_questions(args.questions, {p["id"] for p in passages})
    log(f"{len(passages)} passages, {len(questions)} questions, store {store_path}")
    built = build_store(store_path, passages)

    from kgx.graphdb import open_store
    from kgx.retrieval import RetrievalContext

    with open_store(str(store_path)) as store:
        context = RetrievalContext(store)
        start = time.perf_counter()
        corpus = context.corpus()
        load_seconds = time.perf_counter() - start
        log(f"corpus: {len(corpus.chunks)} chunks, {len(corpus.entity_ids)} entities, "
            f"{len(corpus.facts)} facts, loaded in {load_seconds:.1f} s")
        retrievers, warm = make_retrievers(names, context)
        measured = time_queries(retrievers, questions, context, args.top_k)
        rows = {name: {**summary(m["seconds"]), "recall": round(m["recall"], 3),
                       "vector_cached_p50_ms": summary(m["cached"])["p50_ms"]}
                for name, m in measured.items()}
        rows["(question embedding only)"] = summary(time_encoding(context, questions))
        if args.answer:
            rows["graph answerer, over retrieval"] = time_answers(
                retrievers[args.answer], questions, context)
        if args.neo4j:
            rows.update(compare_neo4j(context, questions, args.top_k))
    print(f"retrieval latency, {len(corpus.chunks):,} chunks from {len(passages):,} passages, "
          f"{len(questions)} questions, top-{args.top_k}, {os.cpu_count()} cores "
          f"({platform.machine()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')})")
    print_table(rows, "dense")
    graph = rows.get("graph")
    if graph:
        ratio = graph["p50_ms"] / rows["dense"]["p50_ms"]
        goal = TARGETS["graph"]
        print(f"target graph: p50 {graph['p50_ms']:.1f} ms (< {goal['p50_ms']:.0f}), "
              f"{ratio:.2f}x dense (<= {goal['p50_vs_dense']:.0f}x)")
    hippo = rows.get("hipporag2")
    if hippo:
        ratio = hippo["p50_ms"] / rows["dense"]["p50_ms"]
        print(f"target hipporag2: p50 {hippo['p50_ms']:.1f} ms, {ratio:.2f}x dense "
              f"(<= {TARGETS['hipporag2']['p50_vs_dense']:.0f}x)")
    print(json.dumps({
        "benchmark": "retrieval", "passages": len(passages), "chunks": len(corpus.chunks),
        "entities": len(corpus.entity_ids), "facts": len(corpus.facts),
        "questions": len(questions), "top_k": args.top_k, "store": built,
        "hipporag2_p50_vs_dense": round(hippo["p50_ms"] / rows["dense"]["p50_ms"], 3)
        if hippo else None,
        "corpus_load_seconds": round(load_seconds, 2), "warm_up_seconds": warm,
        "latency": rows, "python": sys.version.split()[0], "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
