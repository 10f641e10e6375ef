"""kgx's LLM layer: one `LLM` protocol over OpenAI-compatible servers, vLLM, transformers and
llama.cpp, with structured output, log-prob scoring, a disk cache and token accounting.

    from kgx.llm import LLMRequest, load_llm
    llm = load_llm("local")                      # bundled SmolLM2 through llama.cpp
    [reply] = llm.generate([LLMRequest.from_prompt("Name a river.", response_model=River)])
    print(llm.meter.summary(llm.model))

Backends import their heavy libraries on first use; importing this package loads none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kgx.lazy import lazy_exports

_LAZY = {
    "LLM": "kgx.llm.protocol", "LLMBackend": "kgx.llm.protocol", "Metered": "kgx.llm.protocol",
    "RecordsFailures": "kgx.llm.protocol", "UsesLLM": "kgx.llm.protocol",
    "PromptTemplate": "kgx.llm.prompts",
    "LLMRequest": "kgx.llm.types", "LLMResponse": "kgx.llm.types", "Message": "kgx.llm.types",
    "SamplingParams": "kgx.llm.types", "ScoreRequest": "kgx.llm.types",
    "ScoredText": "kgx.llm.types", "Completion": "kgx.llm.types",
    "ManagedLLM": "kgx.llm.managed", "LLMCache": "kgx.llm.cache",
    "UsageMeter": "kgx.llm.usage", "Estimate": "kgx.llm.usage", "load_prices": "kgx.llm.usage",
    "LLMSettings": "kgx.llm.spec", "load_llm": "kgx.llm.spec", "make_backend": "kgx.llm.spec",
    "bundled_gguf": "kgx.llm.spec",
    "OpenAICompatibleLLM": "kgx.llm.openai_http", "LlamaCppLLM": "kgx.llm.llamacpp",
    "TransformersLLM": "kgx.llm.transformers_llm", "VLLMEngine": "kgx.llm.vllm_engine",
}

__all__ = [
    "LLM",
    "Completion",
    "Estimate",
    "LLMBackend",
    "LLMCache",
    "LLMRequest",
    "LLMResponse",
    "LLMSettings",
    "LlamaCppLLM",
    "ManagedLLM",
    "Message",
    "Metered",
    "OpenAICompatibleLLM",
    "PromptTemplate",
    "RecordsFailures",
    "SamplingParams",
    "ScoreRequest",
    "ScoredText",
    "TransformersLLM",
    "UsageMeter",
    "UsesLLM",
    "VLLMEngine",
    "bundled_gguf",
    "load_llm",
    "load_prices",
    "make_backend",
]

if TYPE_CHECKING:
    from kgx.llm.cache import LLMCache
    from kgx.llm.llamacpp import LlamaCppLLM
    from kgx.llm.managed import ManagedLLM
    from kgx.llm.openai_http import OpenAICompatibleLLM
    from kgx.llm.prompts import PromptTemplate
    from kgx.llm.protocol import LLM, LLMBackend, Metered, RecordsFailures, UsesLLM
    from kgx.llm.spec import LLMSettings, bundled_gguf, load_llm, make_backend
    from kgx.llm.transformers_llm import TransformersLLM
    from kgx.llm.types import (
        Completion,
        LLMRequest,
        LLMResponse,
        Message,
        SamplingParams,
        ScoredText,
        ScoreRequest,
    )
    from kgx.llm.usage import Estimate, UsageMeter, load_prices
    from kgx.llm.vllm_engine import VLLMEngine


__getattr__ = lazy_exports("kgx.llm", _LAZY)
