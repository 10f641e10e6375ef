"""The student as an LLM backend: the `student[:PATH]` and `student-llamacpp[:PATH]` specs.

kgx.llm knows nothing of kgx.distill; this module registers both schemes in pyproject.toml's
``kgx.llms`` entry points, as any plugin does.

    backend = make_backend("student")            # found through the entry point below
    backend = student_backend("runs/student")
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from kgx.errors import ConfigError
from kgx.llm.protocol import LLMBackend
from kgx.llm.spec import LLMSettings, bundled_gguf


def student_backend(path: str, settings: LLMSettings | None = None) -> LLMBackend:
    """The `student[:PATH]` entry point: the student through transformers."""
    return _student_backend(path)


def student_llamacpp_backend(path: str, settings: LLMSettings | None = None) -> LLMBackend:
    """The `student-llamacpp[:PATH]` entry point: the base GGUF with the student's adapter
    merged into its weights, decoding 16 replies at a time on each core."""
    return _student_backend(path, llamacpp=True)


STUDENT_JSON_SEPARATORS = (",", ":")
"""The student learns compact JSON (kgx.distill.format.student_target); its grammar forces the
same separators, or the constrained reply leaves the format it was trained on."""


STUDENT_QUANT = "auto"
"""The ggml type `student-llamacpp` stores the merged weights in: "auto" is BF16 on CPUs with
bfloat16 dot products (here 1.07–1.23× Q8_0's speed in one decoder, level with it end to end
with two, and as accurate) and Q8_0 elsewhere; `$KGX_STUDENT_QUANT` (for example Q8_0 or
Q4_0) picks one."""


STUDENT_BATCH_SLOTS = 16
"""Replies each llama.cpp batch decoder of the student runs together (kgx.llm.llamacpp_batch).
Measured on one core with the merged Q8_0 student: 95, 128, 159 and 165 reply tokens/s with
4, 8, 16 and 32 slots."""


def _student_backend(path: str, *, llamacpp: bool = False) -> LLMBackend:
    """The shipped student, or the adapter (PEFT folder) or full model a training run saved;
    through transformers, or llama.cpp with the adapter as a GGUF LoRA (`llamacpp`)."""
    scheme = "student-llamacpp" if llamacpp else "student"
    if not path or path == "v1":
        from kgx.distill.shipped import shipped_adapter

        return _student_adapter_backend(shipped_adapter(path or "current"),
                                        f"{scheme}:{path}" if path else scheme, llamacpp)
    folder = Path(path).expanduser()
    if (folder / "adapter_config.json").is_file():
        return _student_adapter_backend(folder, f"{scheme}:{folder}", llamacpp)
    if (folder / "config.json").is_file() and llamacpp:
        raise ConfigError(f"{folder} holds a full model, and student-llamacpp serves LoRA "
                          f"adapters; use student:{folder}, or convert the model with llama.cpp's "
                          f"convert_hf_to_gguf.py and use llamacpp:PATH.gguf.")
    from kgx.llm.transformers_llm import TransformersLLM

    if (folder / "config.json").is_file():
        return TransformersLLM(folder, name=f"student:{folder}",
                               json_separators=STUDENT_JSON_SEPARATORS, repeat_guard=True)
    raise ConfigError(f"{folder} holds neither a LoRA adapter (adapter_config.json) nor a model "
                      f"(config.json); give the --out folder of `kgx distill train`.")


def _student_adapter_backend(adapter: Path, name: str, llamacpp: bool) -> LLMBackend:
    if llamacpp:
        return student_llamacpp(adapter, name=name, quant=student_quant())
    from kgx.distill.format import adapter_format
    from kgx.llm.transformers_llm import TransformersLLM

    backend = TransformersLLM(bundled_gguf(), adapter=adapter, name=name,
                              json_separators=STUDENT_JSON_SEPARATORS, repeat_guard=True,
                              copy_spans=True)
    backend.student_format = adapter_format(adapter).name
    return backend


def student_llamacpp(adapter: Path, *, name: str | None = None,
                     quant: str | None = STUDENT_QUANT,
                     slots: int = STUDENT_BATCH_SLOTS) -> LLMBackend:
    """The student adapter in llama.cpp, decoded as it was trained: merged into the base
    weights stored as `quant` ("auto": `auto_quant`; None: the adapter applied at run time as
    a GGUF LoRA), with `slots` replies a batch decoder (1: one after another)."""
    from kgx.distill.format import adapter_format
    from kgx.distill.gguf_lora import cached_gguf_adapter
    from kgx.llm.llamacpp import LlamaCppLLM

    quant = auto_quant() if quant == "auto" else quant
    converter = (cached_gguf_adapter if quant is None
                 else functools.partial(_merged_gguf, qtype=quant))
    backend = LlamaCppLLM(bundled_gguf(), lora=adapter, name=name, lora_converter=converter,
                          merge_lora=quant or False, grammar="xgrammar",
                          json_separators=STUDENT_JSON_SEPARATORS, repeat_guard=True,
                          copy_spans=True, batch_slots=slots, beams=student_beams())
    backend.student_format = adapter_format(adapter).name
    return backend


def student_beams() -> int:
    """`$KGX_STUDENT_BEAMS`: beam search over that many beams (1 to 8; unset: greedy)."""
    value = os.environ.get("KGX_STUDENT_BEAMS", "").strip() or "1"
    if not value.isdigit() or not 1 <= int(value) <= 8:
        raise ConfigError(f"KGX_STUDENT_BEAMS={value!r} is not a whole number from 1 to 8; "
                          "unset it for greedy decoding.")
    return int(value)


MERGE_QUANTS = ("Q8_0", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "F16")
"""The ggml types `merge_adapter` can store the student's merged weights in."""


def student_quant() -> str:
    """`$KGX_STUDENT_QUANT`, or `STUDENT_QUANT`: a ggml type the merger can write."""
    quant = os.environ.get("KGX_STUDENT_QUANT", "").strip().upper() or STUDENT_QUANT
    if quant.casefold() == "auto":
        return auto_quant()
    if quant not in MERGE_QUANTS:
        raise ConfigError(f"KGX_STUDENT_QUANT={quant!r} is not one of auto, "
                          f"{', '.join(MERGE_QUANTS)}; unset it for {STUDENT_QUANT}.")
    return quant


def auto_quant() -> str:
    """BF16 where the CPU multiplies bfloat16 natively, else Q8_0 (BF16 is slower there)."""
    from kgx.hardware import cpu_has_bf16

    return "BF16" if cpu_has_bf16() else "Q8_0"


def _merged_gguf(adapter: Path, base: Path, qtype: str) -> Path:
    """`base` with the PEFT adapter merged into its weights, as a GGUF model (once; cached)."""
    from kgx.distill.gguf_lora import cached_merged_gguf

    return cached_merged_gguf(adapter, base, qtype=qtype)
