"""The LLM backend contract against the real things: llama.cpp's HTTP server and in process."""

from __future__ import annotations

import pytest

from kgx.llm.llamacpp import LlamaCppLLM
from kgx.llm.openai_http import OpenAICompatibleLLM
from kgx.llm.spec import bundled_gguf
from kgx.testing.llm_contract import LLMBackendContract


class TestOpenAIHTTPContract(LLMBackendContract):
    """llama-cpp-python's OpenAI-compatible server; it cannot score (shifted echo log-probs)."""

    scores = False

    @pytest.fixture(scope="class")
    @classmethod
    def backend(cls, llama_server):
        yield OpenAICompatibleLLM(llama_server.model, llama_server.url, concurrency=4)

    def test_http_detects_the_llamacpp_dialect(self, backend):
        backend.warm_up()
        assert backend.dialect == "llamacpp"

    def test_http_reply_log_probs_when_asked(self, backend):
        """`SamplingParams(logprobs=True)` asks the server for the reply tokens' log-probs
        (what the student's triple confidences are made of); without it none come back."""
        from kgx.llm.types import LLMRequest, SamplingParams

        asked, plain = backend.complete([
            LLMRequest.from_prompt("Name a colour.", params=SamplingParams(max_tokens=8,
                                                                           logprobs=True)),
            LLMRequest.from_prompt("Name a colour.", params=SamplingParams(max_tokens=8))])
        assert asked.logprobs and plain.logprobs is None
        assert "".join(token for token, _ in asked.logprobs) == asked.text
        assert all(logprob <= 0 for _, logprob in asked.logprobs)

    def test_http_echo_logprobs_parse_when_trusted(self, llama_server):
        """The /completions echo path, forced on: token selection works (values are the
        server's, which llama-cpp-python shifts by one token)."""
        backend = OpenAICompatibleLLM(llama_server.model, llama_server.url, dialect="openai")
        from kgx.llm.types import ScoreRequest

        [scored] = backend.score([ScoreRequest(prompt="The capital of France is",
                                               continuation=" Paris, a city.")])
        assert scored.tokens == (" Paris", ",", " a", " city", ".")


@pytest.mark.slow  # the bundled model in llama.cpp, in process
class TestLlamaCppContract(LLMBackendContract):
    """llama.cpp in process, the default CPU generator."""

    @pytest.fixture(scope="class")
    @classmethod
    def backend(cls):
        backend = LlamaCppLLM(bundled_gguf())
        yield backend
        backend.close()

    def test_llamacpp_constructor_loads_nothing(self):
        assert LlamaCppLLM(bundled_gguf())._generator is None


@pytest.mark.slow  # the bundled model in llama.cpp, in process
class TestLlamaCppGBNFContract(LLMBackendContract):
    """llama.cpp with its own GBNF grammar sampler, the fallback where xgrammar is missing."""

    @pytest.fixture(scope="class")
    @classmethod
    def backend(cls):
        backend = LlamaCppLLM(bundled_gguf(), grammar="gbnf")
        yield backend
        assert backend.masks is None
        backend.close()


@pytest.mark.slow  # the bundled model in llama.cpp
def test_llamacpp_uses_xgrammar_masks_by_default():
    backend = LlamaCppLLM(bundled_gguf())
    try:
        assert backend.masks is not None and backend.grammar == "auto"
    finally:
        backend.close()


def test_vllm_engine_reply_log_probs_by_contract(monkeypatch):
    """vLLM needs a GPU: against the fake `vllm` (tests/fixtures/fake_vllm, vLLM's documented
    offline API), `logprobs=True` asks for the chosen token's log-prob (`logprobs=0`) and
    reads vLLM's per-step {token id: Logprob} dicts."""
    import importlib.util
    import sys
    from pathlib import Path

    from pydantic import BaseModel

    from kgx.llm.types import LLMRequest, SamplingParams
    from kgx.llm.vllm_engine import VLLMEngine

    class Facts(BaseModel):
        entities: list[dict]
        triples: list[dict]

    fake = Path(__file__).parent / "fixtures" / "fake_vllm" / "vllm" / "__init__.py"
    spec = importlib.util.spec_from_file_location("vllm", fake)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "vllm", module)  # gone again after the test
    engine = VLLMEngine("fake-model")
    prompt = "PASSAGE: Ada Lovelace met Charles Babbage. Reply as JSON."
    asked, plain = engine.complete([
        LLMRequest.from_prompt(prompt, response_model=Facts,
                               params=SamplingParams(logprobs=True)),
        LLMRequest.from_prompt(prompt, response_model=Facts)])
    assert plain.logprobs is None
    assert "".join(token for token, _ in asked.logprobs) == asked.text
    assert [logprob for _, logprob in asked.logprobs][:3] == pytest.approx([0.0, -0.1, -0.2])
