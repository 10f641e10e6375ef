"""Which backend serves the distilled student fastest: transformers or llama.cpp, in process.

Workload: the first --chunks passages of the test split of a `kgx distill data` folder, each
sent as the student's one schema-constrained request (StudentExtractor's prompt), greedy, at
most --max-tokens tokens, decoded as the student specs decode (compact JSON separators and the
repeat guard). Rows, measured in this one run with the same threads:

- transformers: the bundled Q4_1 SmolLM2-135M-Instruct dequantized to float32, the LoRA adapter
  merged, `generate` in batches of --batch-size (what the `student` spec gives);
- llama.cpp: the same GGUF with the adapter converted to a GGUF LoRA (what
  `student-llamacpp` gives), one request after another, each using every thread.

The conversion's time is reported apart; models are loaded before the clock starts.

    python benchmarks/student_serving.py [--data DATA/] [--adapter runs/student] [--chunks 16]

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from kgx.distill.backend import STUDENT_JSON_SEPARATORS
from kgx.distill.data import (
    SplitSpec,
    examples_from_teacher_openie,
    read_dataset,
    split_by_document,
)
from kgx.distill.gguf_lora import convert_adapter
from kgx.distill.shipped import SHIPPED
from kgx.extractors.student import StudentExtractor
from kgx.llm.llamacpp import LlamaCppLLM
from kgx.llm.managed import ManagedLLM
from kgx.llm.spec import bundled_gguf
from kgx.llm.transformers_llm import TransformersLLM
from kgx.llm.types import LLMResponse

TEACHER = Path("/work/shared/data/teacher_openie/gpt35_openie_musique_passages.json")
STUDENT_DECODING = {"json_separators": STUDENT_JSON_SEPARATORS, "repeat_guard": True}
"""How the `student` and `student-llamacpp` specs decode: compact JSON and the repeat guard."""


def passages(data: Path | None, count: int) -> list[str]:
    """The texts of the first `count` test examples of `data`, or of the shipped student's own
    split (seed 13) of the GPT-3.5 teacher file when no folder is given."""
    if data is None:
        if not TEACHER.is_file():
            sys.exit(f"No {TEACHER}; pass --data with a `kgx distill data` folder.")
        examples = examples_from_teacher_openie(TEACHER)
        return [e.text for e in split_by_document(examples, SplitSpec(seed=13))["test"][:count]]
    path = data / "test.jsonl"
    if not path.is_file():
        sys.exit(f"No {path}; create the folder with `kgx distill data --teacher-openie "
                 f"FILE.json --out {data}`.")
    return [example.text for example in read_dataset(path)[:count]]


def measure(label: str, backend, texts: list[str], max_tokens: int) -> tuple[dict, list]:
    """Time one pass of the student's requests through `backend`, loaded beforehand."""
    from kgx.models import Chunk

    backend.warm_up()
    extractor = StudentExtractor(ManagedLLM(backend, on_error="skip-and-record"),
                                 max_tokens=max_tokens)
    chunks = [Chunk(doc_id=f"d{i}", index=0, text=t, start=0, end=len(t), n_tokens=1)
              for i, t in enumerate(texts)]
    started, cpu_started = time.perf_counter(), time.process_time()
    replies: list[LLMResponse] = extractor.llm.generate(extractor.plan(chunks))
    seconds = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started  # steadier than wall time on a shared machine
    tokens = sum(r.completion_tokens for r in replies)
    row = {"backend": label, "chunks": len(texts), "seconds": round(seconds, 2),
           "chunks_per_s": round(len(texts) / seconds, 3),
           "tokens_per_s": round(tokens / seconds, 1), "completion_tokens": tokens,
           "cpu_s": round(cpu_s, 2), "tokens_per_cpu_s": round(tokens / cpu_s, 1),
           "parsed": sum(r.parsed is not None for r in replies)}
    print(f"  {label}: {row['chunks_per_s']} chunks/s, {row['tokens_per_s']} tokens/s",
          file=sys.stderr, flush=True)
    return row, [r.text for r in replies]


def run(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    texts = passages(args.data, args.chunks)
    base = bundled_gguf()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        lora = convert_adapter(args.adapter, Path(folder) / "student-lora.gguf", base)
        convert_s = time.perf_counter() - started
        print("llama.cpp, GGUF LoRA", file=sys.stderr)
        cpp, cpp_texts = measure("llama.cpp + GGUF LoRA", LlamaCppLLM(
            base, lora=lora, n_threads=args.threads, grammar="xgrammar", **STUDENT_DECODING),
            texts, args.max_tokens)
    print("transformers, merged LoRA", file=sys.stderr)
    hf, hf_texts = measure(f"transformers fp32, batch {args.batch_size}", TransformersLLM(
        base, adapter=args.adapter, device="cpu", batch_size=args.batch_size, **STUDENT_DECODING),
        texts, args.max_tokens)
    same = sum(a == b for a, b in zip(cpp_texts, hf_texts, strict=True))
    return {"benchmark": "student_serving", "adapter": str(args.adapter), "chunks": len(texts),
            "max_tokens": args.max_tokens, "threads": args.threads,
            "convert_s": round(convert_s, 2), "rows": [hf, cpp],
            "llamacpp_over_transformers": {
                "chunks_per_s": round(cpp["chunks_per_s"] / hf["chunks_per_s"], 2),
                "tokens_per_s": round(cpp["tokens_per_s"] / hf["tokens_per_s"], 2),
                "tokens_per_cpu_s": round(cpp["tokens_per_cpu_s"] / hf["tokens_per_cpu_s"], 2)},
            "identical_replies": same}


def print_table(result: dict) -> None:
    print(f"\nStudent serving, {result['chunks']} test passages, at most {result['max_tokens']} "
          f"tokens, {result['threads']} threads (GGUF LoRA conversion: {result['convert_s']} s)\n")
    print("| backend | chunks/s | tokens/s | seconds | CPU s | tokens/CPU s | tokens | parsed |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in result["rows"]:
        print(f"| {row['backend']} | {row['chunks_per_s']} | {row['tokens_per_s']} | "
              f"{row['seconds']} | {row['cpu_s']} | {row['tokens_per_cpu_s']} | "
              f"{row['completion_tokens']} | {row['parsed']}/{row['chunks']} |")
    ratio = result["llamacpp_over_transformers"]
    print(f"\nllama.cpp / transformers: {ratio['chunks_per_s']}× chunks/s, "
          f"{ratio['tokens_per_s']}× tokens/s, {ratio['tokens_per_cpu_s']}× tokens per CPU "
          f"second; identical replies: "
          f"{result['identical_replies']}/{result['chunks']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="a `kgx distill data` output folder (default: the shipped "
                             "student's test split, rebuilt from the teacher file)")
    parser.add_argument("--adapter", type=Path, default=SHIPPED,
                        help="a PEFT LoRA adapter folder (default: the shipped student)")
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=768)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if not (args.adapter / "adapter_model.safetensors").is_file():
        sys.exit(f"No LoRA adapter at {args.adapter}; pass --adapter with the --out folder "
                 f"of `kgx distill train`.")
    result = run(args)
    print_table(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
