"""How often small local models still run to the reply cap, with the repeat guard and caps sized
to the chunk (what every in-process backend and LLM extractor now uses).

Workload: the first --passages held-out passages of the GPT-3.5 teacher file (the shipped
student's own test split), cut into chunks as `kgx extract` cuts them, each sent once, greedy,
with no repair turn (so every cut-off reply shows). Rows, measured in this one run:

- student: the shipped student (`--llm student-llamacpp`: SmolLM2-135M + LoRA in llama.cpp),
  `--extractor student`'s one request per chunk;
- SmolLM2 direct: the bundled SmolLM2-135M-Instruct (`--llm local`), `--extractor direct`'s one
  request per chunk.

    python benchmarks/reply_caps.py [--passages 40] [--systems student,direct]

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import time

from student_serving import passages

from kgx.chunking import chunk_document
from kgx.extractors.direct import DirectExtractor
from kgx.extractors.student import StudentExtractor
from kgx.llm.managed import ManagedLLM
from kgx.llm.spec import make_backend
from kgx.models import Document

SYSTEMS = {"student": ("student-llamacpp", StudentExtractor),
           "direct": ("local", DirectExtractor)}


def measure(name: str, texts: list[str]) -> dict:
    """One pass of the system's requests over the chunks of `texts`; what ran to the cap."""
    spec, extractor_class = SYSTEMS[name]
    backend = make_backend(spec)
    backend.warm_up()
    extractor = extractor_class(ManagedLLM(backend, on_error="skip-and-record", repair=False))
    chunks = [c for i, t in enumerate(texts) for c in chunk_document(Document(id=f"p{i}", text=t))]
    requests = extractor.plan(chunks)
    started = time.perf_counter()
    replies = extractor.llm.generate(requests)
    seconds = time.perf_counter() - started
    capped = sum(r.finish_reason == "length" for r in replies)
    return {"system": name, "spec": spec, "chunks": len(chunks),
            "mean_cap": round(sum(r.params.max_tokens for r in requests) / len(requests), 1),
            "at_cap": capped, "at_cap_rate": round(capped / len(replies), 4),
            "valid_rate": round(sum(r.parsed is not None for r in replies) / len(replies), 4),
            "mean_tokens": round(sum(r.completion_tokens for r in replies) / len(replies), 1),
            "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=40)
    parser.add_argument("--systems", default="student,direct")
    args = parser.parse_args()
    texts = passages(None, args.passages)
    rows = [measure(name, texts) for name in args.systems.split(",")]
    columns = list(rows[0])
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[c]) for c in columns))
    print(json.dumps({"passages": len(texts), "rows": rows}))


if __name__ == "__main__":
    main()
