"""ManagedLLM orchestration with the fake backend: cache, repair, on_error, accounting."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from kgx.errors import LLMError, LLMOutputError, LLMUnavailableError
from kgx.llm.cache import LLMCache
from kgx.llm.managed import ManagedLLM
from kgx.llm.types import LLMRequest, SamplingParams, ScoreRequest
from kgx.llm.usage import Price
from kgx.testing.fake_llm import FakeLLM, json_reply


class City(BaseModel):
    name: str
    population: int


def ask(key: str, prompt: str = "Name a city.") -> LLMRequest:
    return LLMRequest.from_prompt(prompt, response_model=City, key=key)


def test_managed_parses_valid_json_and_fenced_json():
    fake = FakeLLM([json_reply(name="Oslo", population=700000),
                    'Sure! ```json\n{"name": "Bergen", "population": 290000}\n```'])
    replies = ManagedLLM(fake).generate([ask("a"), ask("b")])
    assert [r.parsed for r in replies] == [City(name="Oslo", population=700000),
                                           City(name="Bergen", population=290000)]
    assert [r.key for r in replies] == ["a", "b"]


def test_managed_repairs_malformed_json_once_with_the_error_shown():
    fake = FakeLLM(['{"name": "Oslo", "population": ', json_reply(name="Oslo", population=1)])
    llm = ManagedLLM(fake)
    [reply] = llm.generate([ask("a")])
    assert reply.parsed == City(name="Oslo", population=1)
    assert reply.attempts == 2
    repair = fake.requests[1]
    assert repair.messages[-2].role == "assistant"
    assert "not valid JSON" in repair.messages[-1].content
    assert llm.meter.as_dict()["repairs"] == 1


def test_managed_raise_policy_names_the_request_and_the_fix():
    fake = FakeLLM(["nope", '{"name": "Oslo"}'])
    with pytest.raises(LLMOutputError, match=r"request 'chunk-3'.*population.*skip-and-record"):
        ManagedLLM(fake).generate([ask("chunk-3")])


def test_managed_skip_policy_records_the_error_and_keeps_the_others():
    fake = FakeLLM([json_reply(name="A", population=1), "nope",
                    LLMError("HTTP 400: prompt too long"), "still nope"])
    llm = ManagedLLM(fake, on_error="skip-and-record", repair=True)
    replies = llm.generate([ask("good"), ask("bad"), ask("refused")])
    assert replies[0].ok and replies[0].parsed.name == "A"
    assert not replies[1].ok and "not valid JSON" in replies[1].error and replies[1].text
    assert not replies[2].ok and "HTTP 400" in replies[2].error
    assert llm.meter.as_dict()["failures"] == 2
    assert len(fake.requests) == 4  # only the malformed reply was sent back for repair


def test_managed_free_text_empty_reply_is_an_error_not_silence():
    fake = FakeLLM(["   "])
    [reply] = ManagedLLM(fake, on_error="skip-and-record").generate(
        [LLMRequest.from_prompt("hi", key="x")])
    assert reply.error == "the reply was empty"


def test_managed_unavailable_server_raises_even_under_skip():
    fake = FakeLLM(fail_with=LLMUnavailableError("down"))
    with pytest.raises(LLMUnavailableError):
        ManagedLLM(fake, on_error="skip-and-record").generate([ask("a")])


def test_managed_cache_makes_a_rerun_free(tmp_path):
    fake = FakeLLM([json_reply(name="Oslo", population=1)])
    first = ManagedLLM(fake, cache=LLMCache(tmp_path))
    first.generate([ask("a")])
    assert first.meter.as_dict()["llm_calls"] == 1
    again = ManagedLLM(fake, cache=LLMCache(tmp_path))  # the queue is empty: a call would fail
    [reply] = again.generate([ask("a-renamed")])
    assert reply.cached and reply.parsed.name == "Oslo" and reply.key == "a-renamed"
    usage = again.meter.as_dict()
    assert (usage["llm_calls"], usage["cached_calls"], usage["prompt_tokens"]) == (0, 1, 0)


def test_managed_cache_key_changes_with_params_and_schema(tmp_path):
    fake = FakeLLM([json_reply(name="A", population=1)] * 2 + ["free text"])
    llm = ManagedLLM(fake, cache=LLMCache(tmp_path))
    hot = ask("a").model_copy(update={"params": SamplingParams(temperature=0.7)})
    plain = LLMRequest.from_prompt("Name a city.")
    llm.generate([ask("a"), hot, plain])
    assert llm.meter.as_dict()["llm_calls"] == 3


def test_managed_counts_tokens_and_estimates_with_prices(tmp_path):
    fake = FakeLLM([json_reply(name="A", population=1)])
    llm = ManagedLLM(fake, cache=LLMCache(tmp_path))
    requests = [ask("a", "one two three"), ask("b", "four five")]
    estimate = llm.estimate(requests, {"fake": Price(prompt=1.0, completion=2.0)})
    assert (estimate.calls, estimate.cached_calls) == (2, 0)
    assert estimate.prompt_tokens == 3 + 2 + 2 * 4
    assert estimate.max_completion_tokens == 2 * 512
    assert estimate.dollars == pytest.approx((13 * 1.0 + 1024 * 2.0) / 1e6)
    llm.generate(requests[:1])
    assert llm.estimate(requests).cached_calls == 1
    assert llm.meter.as_dict()["prompt_tokens"] == 3


def test_managed_score_is_cached(tmp_path):
    fake = FakeLLM(scores=lambda r: [-1.0] * len(r.continuation.split()))
    llm = ManagedLLM(fake, cache=LLMCache(tmp_path))
    [scored] = llm.score([ScoreRequest(prompt="Paris is in", continuation=" France now")])
    assert scored.total == -2.0 and scored.minimum == -1.0
    [again] = llm.score([ScoreRequest(prompt="Paris is in", continuation=" France now")])
    assert again.cached and again.logprobs == scored.logprobs
    assert len(fake.scored) == 1


def test_managed_estimate_bounds_the_repair_turns():
    from kgx.llm.structured import repair_request

    fake = FakeLLM()
    llm = ManagedLLM(fake)
    requests = [ask("a", "one two three"), LLMRequest.from_prompt("free text", key="b")]
    estimate = llm.estimate(requests)
    repair = repair_request(requests[0], "", "the reply is not valid JSON")
    assert estimate.repair_calls == 1  # free text gets no repair turn
    assert estimate.repair_prompt_tokens == fake.count_prompt_tokens(repair) + 512
    assert estimate.repair_completion_tokens == 512
    assert "up to 3 calls" in estimate.summary()
    assert ManagedLLM(fake, repair=False).estimate(requests).repair_calls == 0
