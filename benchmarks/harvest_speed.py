"""BertNet harvesting speed on CPU with SmolLM2: tuples scored per second, and pruning.

Two measurements, in one run:

1. **Rescoring throughput**: candidate tuples of the ConceptNet relation AtLocation scored under
   its prompts with the full BertNet score, through each backend's `score`: transformers
   batched (batch 16) against one request at a time (batch 1, the peer: what a loop over
   pairs does), and llama.cpp in process.
2. **Search**: one harvest of AtLocation per backend budget; next-token calls, branches
   considered, and the share of branches the running-minimum pruning cut.

    python benchmarks/harvest_speed.py [--tuples 64] [--expansions 150]

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from kgx.harvest.harvest import harvest_relation
from kgx.harvest.relation import load_relations
from kgx.harvest.scoring import score_tuples
from kgx.llm.managed import ManagedLLM
from kgx.llm.spec import bundled_gguf

RELATIONS = Path(__file__).resolve().parents[2] / "shared" / "data" / "bertnet"
BASELINE = RELATIONS / "baseline_roberta_large" / "conceptnet.json"


def candidate_tuples(count: int) -> tuple[list[str], list[tuple[str, str]]]:
    """AtLocation's baseline prompts and its first `count` baseline tuples, as test load."""
    baseline = json.loads(BASELINE.read_text())["AtLocation"]
    prompts = [p for p, _ in baseline["prompts"][:5]]
    tuples = [tuple(t) for t, _ in baseline["ent_tuples"][:count]]
    return prompts, tuples


def scoring_row(label: str, backend, prompts, tuples) -> dict:
    """Tuples scored per second under all prompts (one `score` request per tuple and prompt)."""
    llm = ManagedLLM(backend)
    score_tuples(llm, prompts, tuples[:2])  # load the model and warm up
    started = time.perf_counter()
    score_tuples(llm, prompts, tuples)
    seconds = time.perf_counter() - started
    row = {"backend": label, "tuples": len(tuples), "prompts": len(prompts),
           "seconds": round(seconds, 2), "tuples_per_s": round(len(tuples) / seconds, 2),
           "score_requests_per_s": round(len(tuples) * len(prompts) / seconds, 1)}
    print(f"  {label}: {row['tuples_per_s']} tuples/s", file=sys.stderr, flush=True)
    return row


def search_row(label: str, backend, expansions: int) -> dict:
    """One harvest of AtLocation with a fixed budget of next-token calls."""
    relation = next(r for r in load_relations(RELATIONS / "conceptnet.json")
                    if r.name == "AtLocation")
    result = harvest_relation(ManagedLLM(backend), relation, top_n=50, paraphrase=False,
                              max_prompts=5, k=8, max_expansions=expansions)
    stats = result.stats
    row = {"backend": label, "next_token_calls": stats.expansions, "branches": stats.branches,
           "pruned": stats.pruned, "pruned_share": round(stats.pruned_share, 3),
           "candidates": stats.candidates, "seconds": round(result.seconds, 1),
           "top5": [list(t) for t, _ in result.tuples[:5]]}
    print(f"  {label}: pruned {row['pruned_share']:.0%} of {row['branches']} branches",
          file=sys.stderr, flush=True)
    return row


def main() -> None:
    from kgx.llm.llamacpp import LlamaCppLLM
    from kgx.llm.transformers_llm import TransformersLLM

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tuples", type=int, default=64)
    parser.add_argument("--expansions", type=int, default=150)
    args = parser.parse_args()
    prompts, tuples = candidate_tuples(args.tuples)
    batched = TransformersLLM(bundled_gguf(), batch_size=16)
    single = TransformersLLM(bundled_gguf(), batch_size=1)
    llama = LlamaCppLLM(bundled_gguf())
    scoring = [scoring_row("transformers fp32, batch 16", batched, prompts, tuples),
               scoring_row("transformers fp32, one at a time (peer)", single, prompts, tuples),
               scoring_row("llama.cpp in process (sequential)", llama, prompts, tuples)]
    single.close()
    peer = scoring[1]["tuples_per_s"]
    for row in scoring:
        row["vs_one_at_a_time"] = round(row["tuples_per_s"] / peer, 2)
    search = [search_row("transformers fp32, batch 16", batched, args.expansions),
              search_row("llama.cpp in process", llama, args.expansions)]
    print(f"\nRescoring {len(tuples)} AtLocation tuples under {len(prompts)} prompts "
          "(SmolLM2-135M, 2 CPU cores)\n")
    print("| backend | tuples/s | score requests/s | vs one at a time |\n|---|---:|---:|---:|")
    for row in scoring:
        print(f"| {row['backend']} | {row['tuples_per_s']} | {row['score_requests_per_s']} | "
              f"{row['vs_one_at_a_time']}× |")
    print(f"\nSearch for AtLocation, {args.expansions} next-token calls at most, k=8, top 50\n")
    print("| backend | next-token calls | branches | pruned | candidates | seconds |\n"
          "|---|---:|---:|---:|---:|---:|")
    for row in search:
        print(f"| {row['backend']} | {row['next_token_calls']} | {row['branches']} | "
              f"{row['pruned_share']:.0%} | {row['candidates']} | {row['seconds']} |")
    print(json.dumps({"scoring": scoring, "search": search}))


if __name__ == "__main__":
    main()
