"""Graph retrieval against dense on three multi-hop sets: one setting tuned on half of each.

Protocol. 2WikiMultihopQA (`../shared/data/multihop/`), MuSiQue and HotpotQA
(`../shared/data/multihop_dev/`) are each split by position: even positions tune, odd positions
check. Each pooled corpus is extracted once with spaCy (`--extractor`, reused later) into
`--work/<set>` (the store `benchmarks/graph_answer.py` uses too). `--tune` searches hipporag2's
options one at a time around the defaults, keeping a change only when it raises the objective
on the tuning halves: the mean over the three sets of (R@2 + R@5 + R@10) / 3. Every setting
tried is printed. The report gives R@2/5/10 of every retriever on each half of each set, the
ablations of the ranking fixes, and the hipporag2 − dense differences on the check halves.

    python benchmarks/retrieval_protocol.py [--work DIR] [--tune] [--sets 2wiki,musique,hotpotqa]
    python benchmarks/retrieval_protocol.py --student 40

`--student N` compares the graphs instead, at the student's speed (about 1.2 chunks a second
on 2 cores, so not on whole corpora): for the first N tuning questions of each set, the corpus
of their candidate passages is extracted twice, with spaCy and with the distilled student
(`--extractor student`), and every retriever is scored over both graphs on those questions.

Question vectors are computed once per set, so the recall is what differs; latency is
`benchmarks/retrieval.py`'s job. Progress goes to stderr; the last line of stdout is one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _common import log
from graph_answer import SETS, build_store

KS = (2, 5, 10)
BASELINES = ("dense", "bm25")
# The ranking fixes, one at a time on top of the shipped defaults (see retrieval/hipporag2.py).
ABLATIONS = {
    "hipporag2 as of 2026-12-07 (mass alone, all facts, passage weight 0.1)":
        {"dense_weight": 0.0, "fact_quality": False, "passage_weight": 0.1, "mass_power": 1.0},
    "hipporag2, defaults": {},
    "  without the dense mix (mass alone)": {"dense_weight": 0.0},
    "  the dense mix on raw mass (mass_power 1)": {"mass_power": 1.0},
    "  the dense mix by reciprocal ranks": {"mix": "rrf"},
    "  with a degree norm (0.5)": {"degree_norm": 0.5},
    "  without the fact-quality filter": {"fact_quality": False},
    "  8 entities": {"entities": 8},
    "  passage seeds x2 (0.1, the 2Wiki-tuned value)": {"passage_weight": 0.1},
    "  no passage nodes": {"passage_nodes": False},
}
GRID = {
    "mass_power": (0.1, 0.25, 0.5, 1.0),
    "dense_weight": (0.0, 0.2, 0.3, 0.4, 0.5),
    "mix": ("linear", "rrf"),
    "degree_norm": (0.0, 0.25, 0.5),
    "fact_quality": (False, True),
    "passage_weight": (0.05, 0.1, 0.2, 0.4),
    "damping": (0.5, 0.65, 0.8),
    "facts": (3, 5),
    "entities": (5, 8, 12),
    "passages": (50, 100),
}


def load(name: str, work: Path):
    """(store, context with every question's vector cached, questions)."""
    from kgx.evaluation.qa import load_qa_questions

    questions_path, corpus = SETS[name]
    questions = load_qa_questions(questions_path)
    store = build_store(str(work / name), corpus)
    return store, cached_context(store, questions), questions


def cached_context(store, questions):
    """A context whose question vectors are computed once, up front."""
    from kgx.retrieval import RetrievalContext

    context = RetrievalContext(store)
    texts = [q.question for q in questions]
    vectors = dict(zip(texts, context.encoder.encode(texts), strict=True))
    context.encode = vectors.__getitem__
    return context


def student_subsets(work: Path, count: int) -> dict:
    """Per set: {extractor: (store, context, questions)} over the candidate passages of the
    first `count` tuning questions, one graph by spaCy and one by the student."""
    from rich.console import Console

    from kgx.cli.extract import extract_config
    from kgx.cli.options import llm_settings
    from kgx.cli.qa import build_graph
    from kgx.evaluation.qa import load_qa_questions
    from kgx.graphdb import open_store
    from kgx.ingest import read_documents

    out = {}
    for name, (questions_path, corpus) in SETS.items():
        questions = load_qa_questions(questions_path)[0::2][:count]
        wanted = {pid for line in questions_path.read_text().splitlines()
                  for record in [json.loads(line)] if record["id"] in {q.id for q in questions}
                  for pid in record.get("candidate_passage_ids") or record["gold_passage_ids"]}
        subset = work / f"{name}-first{count}.jsonl"
        subset.write_text("".join(line + "\n" for line in corpus.read_text().splitlines()
                                  if json.loads(line)["id"] in wanted))
        documents = read_documents([subset]).documents
        out[name] = {}
        for extractor in ("spacy", "student"):
            started = time.perf_counter()
            store = open_store(str(work / f"{name}-first{count}-{extractor}"))
            store.connect()
            config = extract_config(extractor, 256, None, llm_settings("local"))
            build_graph(store, subset, documents, config, None, Console(stderr=True))
            log(f"{name}: {len(documents)} passages by {extractor} in "
                f"{time.perf_counter() - started:.0f}s (0 if reused)")
            out[name][extractor] = (store, cached_context(store, questions), questions)
    return out


def compare_graphs(subsets: dict) -> dict:
    """R@2/5/10 of every retriever over the spaCy and the student graph of each subset."""
    from kgx.retrieval import make_retriever

    table: dict = {}
    for name, graphs in subsets.items():
        for extractor, (store, context, questions) in graphs.items():
            for retriever_name in ("dense", "bm25", "graph", "ppr", "hipporag2", "hybrid"):
                retriever = make_retriever(retriever_name, store, context=context)
                retriever.warm_up()
                table.setdefault(name, {}).setdefault(retriever_name, {})[extractor] = recall(
                    retriever, questions)
    for name, rows in table.items():
        count = len(next(iter(subsets[name].values()))[2])
        print(f"\n{name}, first {count} tuning questions: R@2 / R@5 / R@10\n")
        print("| retriever | spaCy graph | student graph |\n|---|---|---|")
        for retriever_name, by in rows.items():
            cells = [" / ".join(f"{by[e][f'R@{k}']:.3f}" for k in KS)
                     for e in ("spacy", "student")]
            print(f"| {retriever_name} | " + " | ".join(cells) + " |")
    return table


def recall(retriever, questions) -> dict[str, float]:
    from kgx.evaluation.qa import evaluate_retrievers

    overall = evaluate_retrievers({"r": retriever}, questions, KS).retrievers["r"].overall
    return {f"R@{k}": round(overall.recall_at[k], 4) for k in KS}


def halves(retriever, questions) -> dict:
    return {"tune": recall(retriever, questions[0::2]),
            "check": recall(retriever, questions[1::2])}


def objective(rows: list[dict]) -> float:
    return sum(sum(r[f"R@{k}"] for k in KS) / len(KS) for r in rows) / len(rows)


def hipporag2(store, context, **options):
    from kgx.retrieval import make_retriever

    retriever = make_retriever("hipporag2", store, context=context, **options)
    retriever.warm_up()
    return retriever


def tune(loaded: dict) -> dict:
    best_options: dict = {}
    best = objective([recall(hipporag2(s, c), q[0::2]) for s, c, q in loaded.values()])
    print(f"tune defaults objective {best:.4f}", flush=True)
    for name, values in GRID.items():
        for value in values:
            options = {**best_options, name: value}
            rows = [recall(hipporag2(s, c, **options), q[0::2]) for s, c, q in loaded.values()]
            score = objective(rows)
            print(f"tune {json.dumps(options, sort_keys=True)} objective {score:.4f} "
                  + " ".join(f"{n}:{r['R@2']:.3f}/{r['R@5']:.3f}/{r['R@10']:.3f}"
                             for n, r in zip(loaded, rows, strict=True)), flush=True)
            if score > best + 1e-9:
                best, best_options = score, options
        log(f"after {name}: {best_options} objective {best:.4f}")
    return {"options": best_options, "objective": round(best, 4)}


def report(loaded: dict) -> dict:
    from kgx.retrieval import make_retriever

    table: dict = {}
    for name, (store, context, questions) in loaded.items():
        rows = {}
        for retriever_name in (*BASELINES, "hybrid"):
            retriever = make_retriever(retriever_name, store, context=context)
            retriever.warm_up()
            rows[retriever_name] = halves(retriever, questions)
        for label, options in ABLATIONS.items():
            rows[label] = halves(hipporag2(store, context, **options), questions)
        table[name] = rows
        log(f"{name}: reported in {time.perf_counter():.0f}s")
    return table


def print_table(table: dict) -> None:
    for half in ("tune", "check"):
        print(f"\n{half} halves: R@2 / R@5 / R@10\n")
        names = list(table)
        print("| retriever | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        for retriever in next(iter(table.values())):
            cells = [" / ".join(f"{table[n][retriever][half][f'R@{k}']:.3f}" for k in KS)
                     for n in names]
            print(f"| {retriever} | " + " | ".join(cells) + " |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache/kgx/bench-qa")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument("--student", type=int, metavar="N",
                        help="compare the spaCy and the student graph on N tuning questions")
    args = parser.parse_args(argv)
    if args.student:
        subsets = student_subsets(args.work, args.student)
        figures = {"student_vs_spacy": compare_graphs(subsets)}
        for graphs in subsets.values():
            for store, _, _ in graphs.values():
                store.close()
        print(json.dumps(figures))
        return 0
    loaded = {name: load(name, args.work) for name in args.sets.split(",")}
    figures: dict = {"sets": list(loaded)}
    if args.tune:
        figures["tuned"] = tune(loaded)
    if not args.no_report:
        table = report(loaded)
        print_table(table)
        figures["table"] = table
        figures["check_hipporag2_minus_dense"] = {
            name: {f"R@{k}": round(rows["hipporag2, defaults"]["check"][f"R@{k}"]
                                   - rows["dense"]["check"][f"R@{k}"], 4) for k in KS}
            for name, rows in table.items()}
    for store, _, _ in loaded.values():
        store.close()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
