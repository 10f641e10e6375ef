"""Raw speed of the student's batch decoder by the ggml type of its merged weights.

One `BatchDecoder` (16 slots, one thread, one core) answers the same validation prompts with
each type: no guard, fixed reply cap, so only the matrix arithmetic differs. The merged model
is written once as F16 (`kgx.distill.gguf_lora`), then llama.cpp's own quantizer
(`llama_model_quantize`) makes each type from it. Quality is not measured here: run
`benchmarks/student_serving.py` for that. The peer is Q8_0, the type before BF16 became the
default on CPUs with bfloat16 dot products: ratios are tokens/s over its tokens/s.

    python benchmarks/student_weight_types.py [--data DATA/] [--limit 32] [--types Q8_0,BF16]

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

from kgx.distill.format import student_format
from kgx.distill.gguf_lora import cached_merged_gguf
from kgx.distill.shipped import SHIPPED
from kgx.llm.llamacpp_batch import BatchDecoder, BatchPrompt
from kgx.llm.spec import bundled_gguf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from student_serving import validation


def quantized(f16: Path, qtype: str, folder: Path) -> Path:
    """`f16` requantized to `qtype` by llama.cpp (its Q8_0 embedding table too)."""
    import llama_cpp

    out = folder / f"student-{qtype}.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype}")
    params.nthread, params.allow_requantize = 2, True
    if llama_cpp.llama_model_quantize(str(f16).encode(), str(out).encode(), params) != 0:
        sys.exit(f"llama.cpp could not quantize the merged student to {qtype}.")
    return out


def tokens_per_s(model: Path, texts: list[str], max_tokens: int) -> dict:
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    llama = Llama(str(model), n_ctx=512, n_threads=1, verbose=False)
    text = llama._model.token_get_text
    formatter = Jinja2ChatFormatter(llama.metadata["tokenizer.chat_template"],
                                    eos_token=text(llama.token_eos()),
                                    bos_token=text(llama.token_bos()))
    prompts = [BatchPrompt(llama.tokenize(formatter(messages=student_format("v3").messages(t))
                                          .prompt.encode(), add_bos=False, special=True),
                           max_tokens) for t in texts]
    decoder = BatchDecoder(llama, slots=16, n_threads=1)
    try:
        decoder.generate(prompts[:2])  # warm-up
        started = time.perf_counter()
        replies = decoder.generate(prompts)
        seconds = time.perf_counter() - started
    finally:
        decoder.close()
        llama.close()
    tokens = sum(len(p.tokens) for p in prompts) + sum(len(r.tokens) for r in replies)
    return {"mb": round(model.stat().st_size / 1e6), "seconds": round(seconds, 1),
            "tokens": tokens, "tokens_per_s": round(tokens / seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="a `kgx distill data` folder (default: the shipped split)")
    parser.add_argument("--adapter", type=Path, default=SHIPPED)
    parser.add_argument("--limit", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--types", default="Q8_0,BF16,Q5_0,Q4_0,IQ4_NL")
    args = parser.parse_args(argv)
    types = [t.strip().upper() for t in args.types.split(",") if t.strip()]
    texts = [e.text for e in validation(args.data, args.limit)]
    f16 = cached_merged_gguf(args.adapter, bundled_gguf(), qtype="F16")
    figures: dict = {"benchmark": "student_weight_types", "prompts": len(texts),
                     "max_tokens": args.max_tokens, "load_average": os.getloadavg()[0],
                     "types": {}}
    print(f"Batch decoder, one core, 16 slots, {len(texts)} validation prompts, "
          f"{args.max_tokens}-token cap; load {figures['load_average']:.1f} at the start\n")
    print(f"| type | MB | tokens/s (prompt + reply) | × {types[0]} |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for qtype in types:
            row = tokens_per_s(quantized(f16, qtype, Path(folder)), texts, args.max_tokens)
            figures["types"][qtype] = row
            ratio = row["tokens_per_s"] / figures["types"][types[0]]["tokens_per_s"]
            print(f"| {qtype} | {row['mb']} | {row['tokens_per_s']} | {ratio:.2f}× |", flush=True)
    figures["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
