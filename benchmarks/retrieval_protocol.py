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
    "hipporag2 as of 2026-12-07 (mass alone, all facts, 5 entities)":
        {"dense_weight": 0.0, "fact_quality": False, "entities": 5, "mass_power": 1.0},
    "hipporag2, defaults": {},
    "  without the dense mix (mass alone)": {"dense_weight": 0.0},
    "  the dense mix on raw mass (mass_power 1)": {"mass_power": 1.0},
    "  the dense mix by reciprocal ranks": {"mix": "rrf"},
    "  with a degree norm (0.5)": {"degree_norm": 0.5},
    "  without the fact-quality filter": {"fact_quality": False},
    "  5 entities": {"entities": 5},
    "  passage seeds x2": {"passage_weight": 0.2},
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
    from kgx.retrieval import RetrievalContext

    questions_path, corpus = SETS[name]
    questions = load_qa_questions(questions_path)
    store = build_store(str(work / name), corpus)
    context = RetrievalContext(store)
    texts = [q.question for q in questions]
    vectors = dict(zip(texts, context.encoder.encode(texts), strict=True))
    context.encode = vectors.__getitem__
    return store, context, questions


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
    args = parser.parse_args(argv)
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
