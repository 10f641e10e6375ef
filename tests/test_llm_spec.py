"""LLM spec strings map to the right backend with the right settings, and bad ones say why."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgx.errors import ConfigError
from kgx.llm.llamacpp import LlamaCppLLM
from kgx.llm.openai_http import OpenAICompatibleLLM
from kgx.llm.spec import LLMSettings, bundled_gguf, load_llm, make_backend
from kgx.llm.transformers_llm import TransformersLLM
from kgx.llm.types import LLMRequest
from kgx.llm.vllm_engine import VLLMEngine


def test_spec_openai_defaults_to_the_openai_api():
    backend = make_backend("openai:gpt-4o-mini")
    assert isinstance(backend, OpenAICompatibleLLM)
    assert (backend.model, backend.base_url) == ("gpt-4o-mini", "https://api.openai.com/v1")


def test_spec_openai_with_url_carries_the_settings():
    settings = LLMSettings(spec="x", concurrency=3, timeout_s=5, max_retries=1)
    backend = make_backend("openai:Qwen/Qwen2.5-7B@http://127.0.0.1:8000/v1/", settings)
    assert backend.model == "Qwen/Qwen2.5-7B"
    assert backend.base_url == "http://127.0.0.1:8000/v1"
    assert (backend.concurrency, backend.timeout_s, backend.max_retries) == (3, 5, 1)
    assert backend.name == "openai:Qwen/Qwen2.5-7B@http://127.0.0.1:8000/v1"


def test_spec_ollama_uses_its_default_port():
    backend = make_backend("ollama:llama3.2")
    assert backend.base_url == "http://127.0.0.1:11434/v1" and backend.model == "llama3.2"


def test_spec_local_backends():
    local = make_backend("local")
    assert isinstance(local, LlamaCppLLM) and local.model_path == bundled_gguf()
    assert local.name == "local"
    assert make_backend("llamacpp:~/m.gguf").model_path == Path("~/m.gguf").expanduser()
    hf = make_backend("hf:local")
    assert isinstance(hf, TransformersLLM) and hf.name == "hf:local"
    assert isinstance(make_backend("hf:HuggingFaceTB/SmolLM2-135M-Instruct"), TransformersLLM)
    assert isinstance(make_backend("vllm:Qwen/Qwen2.5-7B-Instruct"), VLLMEngine)


def test_spec_every_in_process_backend_runs_the_repeat_guard():
    for spec in ("local", "llamacpp:~/m.gguf", "hf:local", "hf:HuggingFaceTB/SmolLM2-135M",
                 "student", "student-llamacpp"):
        backend = make_backend(spec)
        assert backend.repeat_guard and "+guard.6" in backend.model, spec


@pytest.mark.parametrize("spec, message", [
    ("nosuch:model", "Unknown LLM backend 'nosuch'"),
    ("openai:", "has nothing after"),
    ("openai:@http://x/v1", "names no model"),
    ("hf:", "has nothing after"),
])
def test_spec_bad_specs_list_the_valid_forms(spec, message):
    with pytest.raises(ConfigError, match=message) as caught:
        make_backend(spec)
    assert "openai:MODEL[@URL]" in str(caught.value)


def test_spec_plugins_come_from_entry_points(monkeypatch):
    import importlib.metadata as metadata

    class Entry:
        name = "echo"

        @staticmethod
        def load():
            return lambda rest, settings: ("plugin", rest, settings.concurrency)

    monkeypatch.setattr(metadata, "entry_points",
                        lambda group: [Entry()] if group == "kgx.llms" else [])
    assert make_backend("echo:abc", LLMSettings(concurrency=2)) == ("plugin", "abc", 2)


def test_spec_settings_are_validated():
    with pytest.raises(ValueError):
        LLMSettings(on_error="ignore")
    with pytest.raises(ValueError):
        LLMSettings(concurrency=0)


def test_spec_load_llm_wraps_with_cache_and_policy(tmp_path):
    llm = load_llm("openai:m@http://127.0.0.1:9/v1",
                   LLMSettings(cache_dir=tmp_path, on_error="skip-and-record"))
    assert llm.on_error == "skip-and-record" and llm.cache.path.parent == tmp_path
    assert load_llm("local", LLMSettings(cache=False)).cache is None


def test_spec_names_carry_no_credentials():
    backend = make_backend("openai:m@http://user:s3cret@127.0.0.1:8000/v1")
    assert "s3cret" not in backend.name and backend.name == "openai:m@http://127.0.0.1:8000/v1"


def test_spec_openai_without_a_key_says_which_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("KGX_LLM_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"set \$OPENAI_API_KEY"):
        make_backend("openai:gpt-4o-mini").complete([LLMRequest.from_prompt("hi")])
