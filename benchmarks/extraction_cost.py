"""What extraction costs per 1,000 words: LLM calls and tokens for SynthKG, Direct and spaCy.

The documents are the first --essays MINE essays (about 500-700 words each, in
../shared/data/mine_sample). Each extractor runs through the real pipeline into a fresh
embedded store, with the bundled SmolLM2-135M in llama.cpp (greedy, replies capped at
--max-reply tokens, skip-and-record). For each LLM extractor the dry-run estimate (printed
before a run) is set against what the run then spent.

The peer figure is the SynthKG paper's: about 12 LLM calls per 1,000 words for its multi-step
workflow. Calls are set by the workflow and the chunking (SynthKG: 3 per ~256-token chunk,
less one per document); prompt tokens depend mostly on the text; completion tokens depend on
the model, and a 135M model often runs to the cap.

    python benchmarks/extraction_cost.py [--essays 3] [--max-reply 256]

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from kgx.graphdb.ladybug_store import LadybugStore
from kgx.llm.spec import LLMSettings
from kgx.pipeline import ExtractConfig, estimate_corpus, extract_corpus, make_extractor

ESSAYS = Path(__file__).resolve().parents[2] / "shared" / "data" / "mine_sample" / "essays.json"
PAPER_CALLS_PER_1000_WORDS = 12


def write_corpus(folder: Path, count: int) -> tuple[Path, int]:
    """The first `count` essays as a kgx JSONL corpus, and their word count."""
    essays = json.loads(ESSAYS.read_text())[:count]
    path = folder / "essays.jsonl"
    path.write_text("".join(json.dumps({"id": e["topic"], "title": e["topic"],
                                        "text": e["content"]}) + "\n" for e in essays))
    return path, sum(len(e["content"].split()) for e in essays)


def measure(name: str, corpus: Path, words: int, folder: Path, max_reply: int) -> dict:
    """Run one extractor over the corpus; its costs per 1,000 words, and the dry-run estimate."""
    llm = LLMSettings(spec="local", on_error="skip-and-record", cache=False,
                      max_tokens=max_reply)
    config = ExtractConfig(extractor=name, llm=llm)
    extractor = make_extractor(config)
    estimate = estimate_corpus([corpus], None, config, extractor)
    started = time.perf_counter()
    with LadybugStore(folder / name) as store:
        report = extract_corpus([corpus], store, config, extractor=extractor)
    seconds = time.perf_counter() - started
    usage = report.llm_usage or {"llm_calls": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                 "failures": 0}
    per_k = 1000 / words
    row = {"extractor": report.extractor, "documents": report.documents_written,
           "chunks": report.chunks, "relations": report.relations, "seconds": round(seconds, 1),
           "calls": usage["llm_calls"],
           "calls_per_1000_words": round(usage["llm_calls"] * per_k, 2),
           "prompt_tokens_per_1000_words": round(usage["prompt_tokens"] * per_k),
           "completion_tokens_per_1000_words": round(usage["completion_tokens"] * per_k),
           "failed_calls": usage.get("failures", 0),
           "relations_per_1000_words": round(report.relations * per_k, 1)}
    if estimate is not None:
        row |= {"estimated_calls": estimate.calls,
                "estimated_calls_worst": estimate.calls + estimate.repair_calls,
                "estimated_prompt_tokens": estimate.prompt_tokens,
                "estimated_prompt_tokens_worst": estimate.prompt_tokens
                + estimate.repair_prompt_tokens,
                "actual_prompt_tokens": usage["prompt_tokens"]}
    print(f"  {row['extractor']}: {row['calls_per_1000_words']} calls and "
          f"{row['prompt_tokens_per_1000_words']} prompt tokens per 1,000 words "
          f"({seconds:.0f} s)", file=sys.stderr, flush=True)
    return row


def print_table(result: dict) -> None:
    print(f"\nExtraction cost on {result['essays']} MINE essays ({result['words']} words), "
          f"SmolLM2-135M in llama.cpp, replies capped at {result['max_reply']} tokens\n")
    print("| extractor | calls / 1k words | vs paper's SynthKG (12) | prompt tok / 1k words "
          "| completion tok / 1k words | relations / 1k words | dry-run calls, first pass / "
          "worst case (actual) | dry-run prompt tok, first pass / worst case (actual) "
          "| seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in result["rows"]:
        ratio = row["calls_per_1000_words"] / PAPER_CALLS_PER_1000_WORDS
        estimate = (f"{row['estimated_calls']} / {row['estimated_calls_worst']} "
                    f"({row['calls']})" if "estimated_calls" in row else "–")
        tokens = (f"{row['estimated_prompt_tokens']:,} / {row['estimated_prompt_tokens_worst']:,}"
                  f" ({row['actual_prompt_tokens']:,})" if "estimated_calls" in row else "–")
        print(f"| {row['extractor']} | {row['calls_per_1000_words']} | {ratio:.2f}× | "
              f"{row['prompt_tokens_per_1000_words']:,} | "
              f"{row['completion_tokens_per_1000_words']:,} | "
              f"{row['relations_per_1000_words']} | {estimate} | {tokens} | {row['seconds']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--essays", type=int, default=3)
    parser.add_argument("--max-reply", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        corpus, words = write_corpus(folder, args.essays)
        rows = [measure(name, corpus, words, folder, args.max_reply)
                for name in ("spacy", "direct", "synthkg")]
    result = {"essays": args.essays, "words": words, "max_reply": args.max_reply,
              "paper_synthkg_calls_per_1000_words": PAPER_CALLS_PER_1000_WORDS, "rows": rows}
    print_table(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
