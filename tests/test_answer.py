"""Answering from retrieved chunks: queued LLM replies, and one real model."""

from __future__ import annotations

import pytest

from kgx.errors import LLMOutputError
from kgx.llm.managed import ManagedLLM
from kgx.retrieval.answer import Answer, answer_question, answer_questions
from kgx.retrieval.protocol import RetrievedChunk
from kgx.testing.fake_llm import FakeLLM, json_reply

CHUNKS = [
    RetrievedChunk(chunk_id="c1", doc_id="d1", title="Ada", score=2.0,
                   text="Ada Lovelace worked with Charles Babbage.",
                   evidence=("Ada Lovelace | worked with | Charles Babbage",)),
    RetrievedChunk(chunk_id="c2", doc_id="d2", title="Babbage", score=1.0,
                   text="Charles Babbage designed the Analytical Engine.",
                   paths=("Charles Babbage -[designed]-> Analytical Engine",)),
]
QUESTION = "Who designed the Analytical Engine?"


class GenerateSpy:
    """Counts `generate` calls on a wrapped LLM."""

    def __init__(self, llm) -> None:
        self.llm, self.calls = llm, 0

    def generate(self, requests):
        self.calls += 1
        return self.llm.generate(requests)


def test_answer_parses_citations_and_drops_invalid_ones():
    fake = FakeLLM([json_reply(answer=" Charles Babbage ", citations=[2, 2, 0, 7, 1])])
    answer = answer_question(ManagedLLM(fake), QUESTION, CHUNKS)
    assert answer.answer == "Charles Babbage" and answer.citations == [2, 1]
    assert [c.chunk_id for c in answer.cited()] == ["c2", "c1"]
    assert answer.error is None and answer.prompt_version == "rag.answer.v1"
    prompt = fake.requests[0].prompt_text()
    assert "[1] Ada: Ada Lovelace worked with Charles Babbage." in prompt
    assert "fact: Ada Lovelace | worked with | Charles Babbage" in prompt
    assert "fact: Charles Babbage -[designed]-> Analytical Engine" in prompt
    assert "short phrase" in prompt and QUESTION in prompt
    assert fake.requests[0].params.max_tokens == 64


def test_answer_batch_is_one_generate_call():
    fake = FakeLLM([json_reply(answer="Charles Babbage", citations=[2]),
                    json_reply(answer="London", citations=[])])
    spy = GenerateSpy(ManagedLLM(fake))
    answers = answer_questions(spy, [(QUESTION, CHUNKS), ("Where was Ada born?", [])],
                               max_tokens=32)
    assert spy.calls == 1 and [a.answer for a in answers] == ["Charles Babbage", "London"]
    assert answers[1].chunks == [] and answers[1].citations == []
    assert "(no passages were found)" in fake.requests[1].prompt_text()
    assert {r.params.max_tokens for r in fake.requests} == {32}
    assert answer_questions(spy, []) == [] and spy.calls == 1


def test_answer_failed_reply_is_recorded_or_raises():
    fake = FakeLLM(["not json", "still not json"])
    answer = answer_question(ManagedLLM(fake, on_error="skip-and-record"), QUESTION, CHUNKS)
    assert answer.answer == "" and answer.citations == [] and "JSON" in answer.error
    assert Answer.model_validate(answer.model_dump()) == answer
    fake.queue("not json", "still not json")
    with pytest.raises(LLMOutputError):
        answer_question(ManagedLLM(fake), QUESTION, CHUNKS)


def test_answer_real_llm_short_reply(llama_server):
    from kgx.llm.openai_http import OpenAICompatibleLLM

    llm = ManagedLLM(OpenAICompatibleLLM(llama_server.model, llama_server.url,
                                         timeout_s=300, max_retries=1),
                     on_error="skip-and-record")
    answer = answer_question(llm, QUESTION, CHUNKS, max_tokens=32)
    assert all(1 <= n <= len(CHUNKS) for n in answer.citations)
    assert answer.error is None or answer.answer == ""
    assert llm.meter.calls >= 1 and llm.meter.completion_tokens <= 32 * llm.meter.calls
