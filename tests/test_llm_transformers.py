"""TransformersLLM on the real bundled SmolLM2-135M GGUF, dequantized by transformers, on CPU."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from kgx.errors import ConfigError
from kgx.llm.managed import ManagedLLM
from kgx.llm.spec import bundled_gguf
from kgx.llm.transformers_llm import TransformersLLM
from kgx.llm.types import LLMRequest, SamplingParams, ScoreRequest
from kgx.testing.llm_contract import LLMBackendContract

pytest.importorskip("transformers")
pytest.importorskip("xgrammar")

GREEDY = SamplingParams(max_tokens=48)
SEINE = ScoreRequest(prompt="The capital of France is", continuation=" Paris, a city on the Seine.")


class City(BaseModel):
    name: str
    country: str


@pytest.fixture(scope="module")
def backend():
    """One loaded model for the module: loading the GGUF takes most of this file's time."""
    llm = TransformersLLM(bundled_gguf())
    llm.warm_up()
    yield llm
    llm.close()


def city_request(country: str, **kwargs) -> LLMRequest:
    return LLMRequest.from_prompt(f"Name the capital city of {country}.", **kwargs)


def test_transformers_constructor_loads_nothing(tmp_path):
    backend = TransformersLLM(tmp_path / "missing.gguf")
    assert backend._model is None and backend._tokenizer is None
    assert backend.model == "missing.gguf" and backend.name.startswith("hf:")
    with pytest.raises(ConfigError, match="No GGUF model"):
        backend.warm_up()


@pytest.mark.slow
def test_transformers_structured_batch_parses_in_order(backend):
    llm = ManagedLLM(backend)
    countries = ["France", "Japan", "Italy"]
    replies = llm.generate([city_request(c, response_model=City, params=GREEDY, key=c)
                            for c in countries])
    assert [r.key for r in replies] == countries
    for reply in replies:
        assert isinstance(reply.parsed, City), reply
        assert reply.prompt_tokens > 0 and reply.completion_tokens > 0
    assert replies[0].parsed.name == "Paris"
    assert llm.meter.completion_tokens == sum(r.completion_tokens for r in replies)


@pytest.mark.slow
def test_transformers_schema_constrains_the_raw_text(backend):
    free, constrained = backend.complete([city_request("France", params=GREEDY),
                                          city_request("France", params=GREEDY,
                                                       response_model=City)])
    with pytest.raises(json.JSONDecodeError):  # unconstrained, the model answers in prose
        json.loads(free.text)
    assert set(json.loads(constrained.text)) == {"name", "country"}
    City.model_validate_json(constrained.text)


@pytest.mark.slow
def test_transformers_batched_greedy_equals_one_at_a_time(backend):
    # Prompts of different lengths, so that left padding is exercised.
    requests = [LLMRequest.from_prompt(p, params=GREEDY) for p in (
        "Hi", "In one sentence, why is the sky blue?", "Name the capital of France.")]
    batched = backend.complete(requests)
    alone = [backend.complete([request])[0] for request in requests]
    assert [c.text for c in batched] == [c.text for c in alone]
    assert [c.completion_tokens for c in batched] == [c.completion_tokens for c in alone]
    assert [c.prompt_tokens for c in batched] == [c.prompt_tokens for c in alone]


@pytest.mark.slow
def test_transformers_finish_reason_and_token_counts(backend):
    cut, full = backend.complete([
        LLMRequest.from_prompt("Tell me a long story about a dragon.",
                               params=SamplingParams(max_tokens=3)),
        city_request("France", params=GREEDY)])
    assert (cut.finish_reason, cut.completion_tokens) == ("length", 3)
    assert full.finish_reason == "stop"
    assert full.completion_tokens == backend.count_tokens(full.text) + 1  # the EOS counts


@pytest.mark.slow  # generates with the bundled model
def test_transformers_reply_log_probs_are_the_models_own(backend):
    """With `logprobs`, each reply token's log-prob equals the log-softmax of one forward pass
    over the prompt and the reply, in a batch of two (left padding)."""
    import torch

    requests = [city_request(country, params=SamplingParams(max_tokens=12, logprobs=True))
                for country in ("France", "Japan")]
    replies = backend.complete(requests)
    assert backend.complete([city_request("France")])[0].logprobs is None  # only when asked
    tokenizer, model = backend._tokenizer, backend._model
    for request, reply in zip(requests, replies, strict=True):
        assert reply.logprobs and "".join(t for t, _ in reply.logprobs).startswith(reply.text)
        prompt = tokenizer.apply_chat_template([m.model_dump() for m in request.messages],
                                               add_generation_prompt=True, tokenize=False)
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        reply_ids = tokenizer(reply.text, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            logits = model(torch.tensor([ids + reply_ids])).logits[0].float()
        steps = logits[len(ids) - 1:-1].log_softmax(-1)
        expected = steps.gather(-1, torch.tensor(reply_ids).unsqueeze(-1)).squeeze(-1)
        got = torch.tensor([logprob for _, logprob in reply.logprobs][:len(reply_ids)])
        assert torch.allclose(got, expected, atol=1e-2), (got - expected)


@pytest.mark.slow
def test_transformers_stop_string_truncates(backend):
    [reply] = backend.complete([city_request("France", params=SamplingParams(
        max_tokens=48, stop=(" Paris",)))])
    assert reply.finish_reason == "stop"
    assert reply.text and " Paris" not in reply.text
    assert reply.completion_tokens <= backend.count_tokens(reply.text) + 1


@pytest.mark.slow
def test_transformers_score_ranks_and_counts_tokens(backend):
    paris, tokyo, seine = backend.score([
        ScoreRequest(prompt="The capital of France is", continuation=" Paris"),
        ScoreRequest(prompt="The capital of France is", continuation=" Tokyo"), SEINE])
    assert paris.total > tokyo.total
    assert "".join(seine.tokens) == SEINE.continuation
    assert len(seine.logprobs) == backend.count_tokens(SEINE.continuation) > 1
    assert all(lp <= 0 for lp in seine.logprobs)
    alone = [backend.score([r])[0] for r in (ScoreRequest(prompt="The capital of France is",
                                                          continuation=" Paris"), SEINE)]
    for one, batched in zip(alone, (paris, seine), strict=True):
        assert one.tokens == batched.tokens
        assert one.logprobs == pytest.approx(batched.logprobs, abs=1e-3)


@pytest.mark.slow
def test_transformers_score_agrees_with_llamacpp(backend):
    pytest.importorskip("llama_cpp")
    from kgx.llm.llamacpp import LlamaCppLLM

    llamacpp = LlamaCppLLM(bundled_gguf())
    try:
        [reference] = llamacpp.score([SEINE])
    finally:
        llamacpp.close()
    [ours] = backend.score([SEINE])
    assert ours.tokens == reference.tokens
    # Same Q4_1 weights; llama.cpp also quantizes activations. Measured on four texts: at most
    # 0.21 nats apart per token, 0.04 on average. Shifting either side by one token puts them
    # 1 to 4 nats apart on average, so these bounds catch an off-by-one.
    gaps = [abs(a - b) for a, b in zip(ours.logprobs, reference.logprobs, strict=True)]
    assert max(gaps) < 0.35
    assert sum(gaps) / len(gaps) < 0.1


@pytest.mark.slow
def test_transformers_count_tokens_is_the_tokenizers(backend):
    text = "Knowledge graphs, built from text."
    assert backend.count_tokens(text) == len(backend._tokenizer.encode(text,
                                                                      add_special_tokens=False))
    assert backend.count_tokens("") == 0


@pytest.mark.slow
class TestTransformersContract(LLMBackendContract):
    """The shared backend contract, on the module's loaded model."""
