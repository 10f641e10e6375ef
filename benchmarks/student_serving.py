"""How to serve the distilled student on CPU cores: llama.cpp weights and batching, side by side.

Every row runs the real `StudentExtractor` (the `student-llamacpp` decoding: line guard, copy
constraint, triple grammar) over the same first --limit passages of the VALIDATION split, with
the LLM cache off, and scores the replies against the teacher with `kgx distill eval`'s code, so
a faster row shows what it costs in quality. Rows (pick with --rows):

- runtime-lora: the base Q4_1 GGUF plus the adapter as a GGUF LoRA applied at run time;
- merged-q8: the adapter merged into the weights, stored as Q8_0 (what `student-llamacpp` uses
  on CPUs without bfloat16 dot products);
- merged-bf16: the merge stored as BF16 (what `student-llamacpp` uses on CPUs with them);
- merged-bf16-noshare: merged-bf16 with every prompt prefilled in full (no shared prefix);
- merged-bf16-unordered: merged-bf16 with each step's sequences fed in the order their slots
  started, not in id order (what kgx did before: llama.cpp then runs a pass over the weights
  per run of consecutive sequence ids);
- merged-bf16-nocompact: merged-bf16 with replies left in the slots they started in (what
  kgx did before: once no prompt can take a freed slot, the running sequence ids have gaps,
  and llama.cpp runs a pass over the weights per run of consecutive ids);
- merged-q4: the same merge stored as Q4_0 (`KGX_STUDENT_QUANT=Q4_0`);
- merged-q5, merged-q5_1: stored as Q5_0 or Q5_1;
- merged-q8-noshare: merged-q8 with every prompt prefilled in full;
- merged-q8-slots8, merged-q8-slots32: merged-q8 with 8 or 32 replies a decoder, not 16;
- merged-q8-serial: merged-q8 with no batching: one reply at a time on every thread.

Each row uses `$KGX_LLAMA_BATCH_WORKERS` decoders (one per core by default) and hands the
extractor all passages in one call, as `kgx distill eval` does, or --per-call passages a call
(`kgx extract` sends twice as many chunks a call as there are slots: 64 with 2 decoders). Models
load, and the merge runs, before the clock starts. The peer is the first row given (by
default merged-bf16-unordered, the serving of an older release): ratios are chunks/s over its
chunks/s.

    python benchmarks/student_serving.py [--data DATA/] [--adapter ADAPTER/] [--limit 64]

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from kgx.distill.backend import STUDENT_BATCH_SLOTS, student_llamacpp
from kgx.distill.data import (
    SplitSpec,
    examples_from_teacher_openie,
    read_dataset,
    split_by_document,
)
from kgx.distill.evaluate import System, evaluate_systems
from kgx.distill.shipped import SHIPPED
from kgx.extractors.student import StudentExtractor
from kgx.llm.llamacpp import default_batch_workers
from kgx.llm.managed import ManagedLLM

TEACHER = Path(__file__).resolve().parents[2] / "shared/data/teacher_openie" \
    / "gpt35_openie_musique_passages.json"

ROWS = {  # name: (merged weights' ggml type or None for a runtime LoRA, slots a decoder)
    "runtime-lora": (None, STUDENT_BATCH_SLOTS),
    "merged-q8": ("Q8_0", STUDENT_BATCH_SLOTS),
    "merged-bf16": ("BF16", STUDENT_BATCH_SLOTS),
    "merged-bf16-noshare": ("BF16", STUDENT_BATCH_SLOTS),
    "merged-bf16-unordered": ("BF16", STUDENT_BATCH_SLOTS),
    "merged-bf16-nocompact": ("BF16", STUDENT_BATCH_SLOTS),
    "merged-q4": ("Q4_0", STUDENT_BATCH_SLOTS),
    "merged-q5": ("Q5_0", STUDENT_BATCH_SLOTS),
    "merged-q5_1": ("Q5_1", STUDENT_BATCH_SLOTS),
    "merged-q8-noshare": ("Q8_0", STUDENT_BATCH_SLOTS),
    "merged-q8-slots8": ("Q8_0", 8),
    "merged-q8-slots32": ("Q8_0", 32),
    "merged-bf16-slots32": ("BF16", 32),
    "merged-q8-serial": ("Q8_0", 1),
}


def validation(data: Path | None, limit: int):
    """The first `limit` validation examples of `data`, or of the shipped student's own split
    (seed 13) of the GPT-3.5 teacher file when no folder is given."""
    if data is not None:
        return read_dataset(data / "validation.jsonl")[:limit]
    if not TEACHER.is_file():
        sys.exit(f"No {TEACHER}; pass --data with a `kgx distill data` folder.")
    examples = examples_from_teacher_openie(TEACHER)
    return split_by_document(examples, SplitSpec(seed=13))["validation"][:limit]


def row_system(name: str, adapter: Path) -> System:
    quant, slots = ROWS[name]
    backend = student_llamacpp(adapter, quant=quant, slots=slots)
    backend.share_prefix = not name.endswith("-noshare")
    backend.ordered_steps = not name.endswith("-unordered")
    backend.compact_slots = not name.endswith("-nocompact")
    llm = ManagedLLM(backend, cache=None, on_error="skip-and-record")
    return System(name, lambda: StudentExtractor(llm), llm)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="a `kgx distill data` folder (default: the shipped split)")
    parser.add_argument("--adapter", type=Path, default=SHIPPED,
                        help="a student adapter folder (default: the shipped student)")
    parser.add_argument("--limit", type=int, default=64)
    parser.add_argument("--per-call", type=int, default=0,
                        help="passages a call (default: all in one)")
    parser.add_argument("--rows", default="merged-bf16-unordered,merged-q8,merged-bf16")
    args = parser.parse_args(argv)
    if not (args.adapter / "adapter_model.safetensors").is_file():
        sys.exit(f"No LoRA adapter at {args.adapter}; pass --adapter with the --out folder "
                 f"of `kgx distill train`.")
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown or not rows:
        sys.exit(f"Unknown rows {unknown}; choose from {', '.join(ROWS)}.")
    examples = validation(args.data, args.limit)
    workers = default_batch_workers()
    figures: dict = {"benchmark": "student_serving", "adapter": str(args.adapter),
                     "passages": len(examples), "split": "validation", "workers": workers,
                     "per_call": args.per_call or len(examples),
                     "load_average": os.getloadavg()[0], "rows": {}}
    print(f"Student serving, {len(examples)} validation passages "
          f"({args.per_call or len(examples)} a call), {workers} decoders; "
          f"load average {figures['load_average']:.1f} at the start\n")
    print(f"| row | chunks/s | × {rows[0]} | reply tokens/s | entity F1 | triple F1 fuzzy | "
          "embedding | format-valid |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in rows:
        system = row_system(name, args.adapter)
        system.llm.backend.warm_up()  # the merge or conversion and the load, off the clock
        result = evaluate_systems(examples, [system], batch_size=args.per_call
                                  or len(examples)).systems[name]
        modes = result.agreement.by_mode
        line = {"chunks_per_s": result.chunks_per_s,
                "reply_tokens_per_s": round(result.completion_tokens / result.seconds, 1),
                "entity_f1": round(modes["exact"].entities.f1, 3),
                "fuzzy_triple_f1": round(modes["fuzzy"].triples.f1, 3),
                "embedding_triple_f1": round(modes["embedding"].triples.f1, 3),
                "valid": round(result.json_valid_rate, 4)}
        figures["rows"][name] = line
        peer = figures["rows"][rows[0]]["chunks_per_s"]
        ratio = f"{line['chunks_per_s'] / peer:.2f}×" if peer else "–"
        print(f"| {name} | {line['chunks_per_s']:.3f} | {ratio} | "
              f"{line['reply_tokens_per_s']} | {line['entity_f1']:.3f} | "
              f"{line['fuzzy_triple_f1']:.3f} | {line['embedding_triple_f1']:.3f} | "
              f"{line['valid']:.1%} |", flush=True)
    figures["load_average_end"] = os.getloadavg()[0]
    peer = figures["rows"][rows[0]]["chunks_per_s"]
    if peer:
        figures["over_" + rows[0]] = {name: round(row["chunks_per_s"] / peer, 2)
                                      for name, row in figures["rows"].items()}
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
