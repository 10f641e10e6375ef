"""LLM throughput for structured extraction requests, through every backend that runs here.

Workload: N passages of the bundled sample corpus, each sent as one extraction request
("entities and triples as JSON") with the bundled SmolLM2-135M-Instruct, greedy, at most
--max-tokens tokens. Rows, all measured in this one run:

- llama.cpp in process (kgx's default CPU generator), with the JSON schema enforced by
  xgrammar masks (the default) or llama.cpp's GBNF sampler, and without a schema;
- transformers in process (fp32, batched), with and without the schema (xgrammar);
- the HTTP client against llama-cpp-python's OpenAI-compatible server on 127.0.0.1 at
  concurrency 1, 4 and 8, and the official `openai` SDK sending the same requests one by one
  (what LangChain and neo4j-graphrag do) as the peer;
- a cache hit: the same requests again through the disk cache.

    python benchmarks/llm_throughput.py [--chunks 12] [--max-tokens 96]

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel

from kgx.llm.cache import LLMCache
from kgx.llm.managed import ManagedLLM
from kgx.llm.openai_http import OpenAICompatibleLLM
from kgx.llm.spec import bundled_gguf
from kgx.llm.types import LLMRequest, SamplingParams

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "corpus" / "wiki_passages.jsonl"
PROMPT = ("Extract the named entities and the relations between them from the passage. "
          "Answer in JSON with keys entities (a list of names) and triples (a list of "
          "subject, predicate, object).\n\nPassage: {text}")


class Triple(BaseModel):
    subject: str
    predicate: str
    object: str


class Extraction(BaseModel):
    entities: list[str]
    triples: list[Triple]


def requests(count: int, max_tokens: int, schema: bool) -> list[LLMRequest]:
    """One extraction request per sample passage, cut to about 120 words."""
    lines = SAMPLE.read_text().splitlines()[:count]
    params = SamplingParams(max_tokens=max_tokens)
    return [LLMRequest.from_prompt(PROMPT.format(text=" ".join(json.loads(line)["text"]
                                                               .split()[:120])),
                                   response_model=Extraction if schema else None,
                                   params=params, key=str(i))
            for i, line in enumerate(lines)]


def measure(label: str, backend, batch: list[LLMRequest], rows: list[dict]) -> dict:
    """Time one pass of `batch` through `backend` (warm: the model is loaded first)."""
    backend.warm_up()
    started = time.perf_counter()
    completions = backend.complete(batch)
    seconds = time.perf_counter() - started
    tokens = sum(c.completion_tokens for c in completions if hasattr(c, "completion_tokens"))
    schema = batch[0].response_model
    valid = None if schema is None else sum(
        _valid(getattr(c, "text", None), schema) for c in completions)
    row = {"backend": label, "chunks": len(batch), "seconds": round(seconds, 2),
           "chunks_per_s": round(len(batch) / seconds, 3),
           "tokens_per_s": round(tokens / seconds, 1), "completion_tokens": tokens,
           "valid_json": valid}
    rows.append(row)
    print(f"  {label}: {row['chunks_per_s']} chunks/s, {row['tokens_per_s']} tokens/s",
          file=sys.stderr, flush=True)
    return row


def _valid(text: str | None, model) -> bool:
    """Whether `text` is JSON of `model`."""
    try:
        model.model_validate_json(text or "")
        return True
    except ValueError:
        return False


def openai_sdk_row(server, batch: list[LLMRequest], rows: list[dict]) -> dict | None:
    """The peer: the official openai SDK, one request after another, json_object + schema."""
    try:
        import openai
    except ImportError:
        print("  openai SDK not installed; peer row skipped", file=sys.stderr)
        return None
    client = openai.OpenAI(base_url=server.url, api_key="unused")
    started, tokens, valid = time.perf_counter(), 0, 0
    for request in batch:
        reply = client.chat.completions.create(
            model=server.model, messages=[m.model_dump() for m in request.messages],
            max_tokens=request.params.max_tokens, temperature=0.0, seed=0,
            response_format={"type": "json_object", "schema": request.json_schema()})
        tokens += reply.usage.completion_tokens
        valid += _valid(reply.choices[0].message.content, request.response_model)
    seconds = time.perf_counter() - started
    row = {"backend": "openai SDK (peer), sequential", "chunks": len(batch),
           "seconds": round(seconds, 2), "chunks_per_s": round(len(batch) / seconds, 3),
           "tokens_per_s": round(tokens / seconds, 1), "completion_tokens": tokens,
           "valid_json": valid}
    rows.append(row)
    return row


def cache_row(batch: list[LLMRequest], rows: list[dict]) -> dict:
    """Seconds per request for a cache hit, after one real pass through llama.cpp."""
    from kgx.llm.llamacpp import LlamaCppLLM

    with tempfile.TemporaryDirectory() as folder:
        llm = ManagedLLM(LlamaCppLLM(bundled_gguf()), cache=LLMCache(folder),
                         on_error="skip-and-record")
        started = time.perf_counter()
        llm.generate(batch)
        miss = time.perf_counter() - started
        started = time.perf_counter()
        replies = llm.generate(batch)
        hit = time.perf_counter() - started
        assert all(r.cached for r in replies)
        llm.close()
    row = {"backend": "cache hit (ManagedLLM, SQLite)", "chunks": len(batch),
           "seconds": round(hit, 4), "chunks_per_s": round(len(batch) / hit, 1),
           "miss_seconds": round(miss, 2), "hit_ms_per_request": round(1000 * hit / len(batch), 3),
           "speedup": round(miss / hit, 1)}
    rows.append(row)
    return row


def run(chunks: int, max_tokens: int) -> dict:
    from kgx.llm.llamacpp import LlamaCppLLM
    from kgx.llm.transformers_llm import TransformersLLM
    from kgx.testing.llama_server import running_llama_server

    constrained = requests(chunks, max_tokens, schema=True)
    free = requests(chunks, max_tokens, schema=False)
    rows: list[dict] = []
    print("llama.cpp in process", file=sys.stderr)
    llama = LlamaCppLLM(bundled_gguf())
    base = measure("llama.cpp in process, schema (xgrammar mask, default)", llama, constrained,
                   rows)
    measure("llama.cpp in process, free text", llama, free, rows)
    llama.close()
    gbnf = LlamaCppLLM(bundled_gguf(), grammar="gbnf")
    measure("llama.cpp in process, schema (llama.cpp GBNF)", gbnf, constrained, rows)
    gbnf.close()
    print("transformers in process", file=sys.stderr)
    hf = TransformersLLM(bundled_gguf(), batch_size=8)
    measure("transformers fp32 batch 8, schema (xgrammar)", hf, constrained, rows)
    measure("transformers fp32 batch 8, free text", hf, free, rows)
    hf.close()
    print("HTTP: llama-cpp-python server on 127.0.0.1", file=sys.stderr)
    with running_llama_server() as server:
        peer = openai_sdk_row(server, constrained, rows)
        for concurrency in (1, 4, 8):
            http = OpenAICompatibleLLM(server.model, server.url, concurrency=concurrency)
            measure(f"kgx HTTP client, concurrency {concurrency}", http, constrained, rows)
    print("cache", file=sys.stderr)
    cache = cache_row(constrained, rows)
    for row in rows:
        if "tokens_per_s" in row:
            row["vs_llamacpp"] = round(row["chunks_per_s"] / base["chunks_per_s"], 2)
            if peer:
                row["vs_openai_sdk"] = round(row["chunks_per_s"] / peer["chunks_per_s"], 2)
    return {"chunks": chunks, "max_tokens": max_tokens, "rows": rows,
            "cache_speedup": cache["speedup"]}


def print_table(result: dict) -> None:
    print(f"\nStructured extraction, {result['chunks']} sample passages, SmolLM2-135M "
          f"(Q4_1 GGUF), greedy, max {result['max_tokens']} tokens; 2 CPU cores\n")
    header = ("| backend | chunks/s | tokens/s | complete, valid JSON | vs llama.cpp | "
              "vs openai SDK |\n"
              "|---|---:|---:|---:|---:|---:|")
    print(header)
    for row in result["rows"]:
        if "tokens_per_s" not in row:
            continue
        valid = "–" if row["valid_json"] is None else f"{row['valid_json']}/{row['chunks']}"
        print(f"| {row['backend']} | {row['chunks_per_s']} | {row['tokens_per_s']} | "
              f"{valid} | {row['vs_llamacpp']}× | "
              f"{row.get('vs_openai_sdk', '–')}× |")
    cache = next(r for r in result["rows"] if r["backend"].startswith("cache"))
    print(f"\nCache hit: {cache['hit_ms_per_request']} ms a request, {cache['speedup']}× faster "
          f"than the llama.cpp miss ({cache['miss_seconds']} s for the batch).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=12)
    parser.add_argument("--max-tokens", type=int, default=96)
    args = parser.parse_args()
    result = run(args.chunks, args.max_tokens)
    print_table(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
