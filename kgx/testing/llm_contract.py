"""The contract every LLM backend passes, against the real thing (server or model).

Subclass it in a test module and provide a `backend` fixture:

    class TestLlamaCppContract(LLMBackendContract):
        @pytest.fixture(scope="class")
        @classmethod
        def backend(cls):
            yield LlamaCppLLM(bundled_gguf())

Set `scores = False` on backends that cannot score, and `predicts_next_tokens = False` on those
without next-token log-probs; the contract then checks for the clear `LLMCapabilityError`
instead. The checks test machinery (schemas, order, accounting, truncation, scoring shape), not
the quality of a 135M model.
"""

from __future__ import annotations

import json

import pytest

from kgx.errors import LLMCapabilityError
from kgx.llm.managed import ManagedLLM
from kgx.llm.probe import City, city_request
from kgx.llm.types import Completion, LLMRequest, SamplingParams, ScoreRequest

COUNTRIES = ("France", "Japan", "Peru")
PREFIX = "The capital of France is"


class LLMBackendContract:
    """Shared tests; subclasses provide a class-scoped `backend` fixture."""

    scores = True
    predicts_next_tokens = True
    """Whether the backend gives next-token log-probs (llama.cpp servers do, but cannot score)."""

    def test_contract_structured_batch_parses_in_order(self, backend):
        llm = ManagedLLM(backend)
        replies = llm.generate([city_request(c) for c in COUNTRIES])
        assert [r.key for r in replies] == list(COUNTRIES)
        for reply in replies:
            assert isinstance(reply.parsed, City), reply
            assert reply.prompt_tokens > 0 and reply.completion_tokens > 0
        usage = llm.meter.as_dict()
        assert usage["llm_calls"] == len(COUNTRIES) + usage["repairs"]
        assert usage["prompt_tokens"] >= sum(r.prompt_tokens for r in replies)

    def test_contract_constrained_text_is_json_of_the_schema(self, backend):
        [completion] = backend.complete([city_request("Kenya")])
        assert isinstance(completion, Completion)
        assert set(json.loads(completion.text)) >= {"name", "country"}

    def test_contract_greedy_is_repeatable(self, backend):
        request = LLMRequest.from_prompt("Say hello to Ada.", params=SamplingParams(max_tokens=12))
        first, second = backend.complete([request]), backend.complete([request])
        assert first[0].text == second[0].text and first[0].text.strip()

    def test_contract_truncation_is_reported(self, backend):
        request = LLMRequest.from_prompt("Write a long story about rivers.",
                                         params=SamplingParams(max_tokens=3))
        [completion] = backend.complete([request])
        assert completion.finish_reason == "length"
        assert completion.completion_tokens == 3

    def test_contract_empty_batch(self, backend):
        assert backend.complete([]) == []

    def test_contract_counts_tokens(self, backend):
        assert 0 < backend.count_tokens("Ada Lovelace wrote the first program.") < 20

    def test_contract_scores_continuations(self, backend):
        prompt = "The capital of France is"
        requests = [ScoreRequest(prompt=prompt, continuation=" Paris"),
                    ScoreRequest(prompt=prompt, continuation=" Tokyo"),
                    ScoreRequest(prompt=prompt, continuation=" Paris, a city on the Seine.")]
        if not self.scores:
            with pytest.raises(LLMCapabilityError, match="not supported"):
                backend.score(requests)
            return
        paris, tokyo, long = backend.score(requests)
        assert paris.tokens == (" Paris",) and tokyo.tokens == (" Tokyo",)
        assert paris.total > tokyo.total
        assert len(long.tokens) > 5 and long.tokens[0] == " Paris"
        assert long.logprobs[0] == pytest.approx(paris.logprobs[0], abs=1e-3)
        assert all(value <= 0 for value in long.logprobs)

    def test_contract_next_tokens_are_ranked_log_probs(self, backend):
        if not self.predicts_next_tokens:
            with pytest.raises(LLMCapabilityError, match="not supported"):
                backend.next_tokens([PREFIX], 5)
            return
        [top] = backend.next_tokens([PREFIX], 5)
        logprobs = [logprob for _, logprob in top]
        assert len(top) == 5 and logprobs == sorted(logprobs, reverse=True)
        assert all(logprob <= 0 for logprob in logprobs)
        assert " Paris" in dict(top)
        assert backend.next_tokens([], 5) == []

    def test_contract_next_tokens_agree_with_score(self, backend):
        if not (self.scores and self.predicts_next_tokens):
            pytest.skip("this backend cannot both score and give next tokens")
        [top] = backend.next_tokens([PREFIX], 5)
        [paris] = backend.score([ScoreRequest(prompt=PREFIX, continuation=" Paris")])
        assert dict(top)[" Paris"] == pytest.approx(paris.logprobs[0], abs=1e-3)

    def test_contract_estimate_counts_the_prompt_exactly(self, backend):
        if not getattr(backend, "exact_token_counts", False):
            pytest.skip("this backend estimates tokens (no tokenizer at hand)")
        llm = ManagedLLM(backend)
        request = city_request("Chile")
        estimate = llm.estimate([request])
        [reply] = llm.generate([request])
        assert estimate.prompt_tokens == reply.prompt_tokens
        assert estimate.max_completion_tokens == request.params.max_tokens
