"""Answering a question from retrieved chunks with any LLM, citing the passages it used.

The prompt asks for a short phrase (a name, a date, a number), so that answers can be scored
by exact match and token F1 against short gold answers. Passages are numbered [1]..[k], each
followed by the facts and paths that led to it; citations are those numbers, and any the LLM
invents (out of range, repeated) are dropped.

A reply that stays malformed follows the LLM's `on_error` policy: under "raise" it raises
`LLMOutputError`; under "skip-and-record" the answer is "" with the error in `Answer.error`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from kgx.llm.prompts import PromptTemplate
from kgx.llm.protocol import LLM
from kgx.llm.types import LLMRequest, LLMResponse, SamplingParams

from .protocol import RetrievedChunk

PASSAGE_CHARS = 1200
FACTS_PER_PASSAGE = 5


class AnswerReply(BaseModel):
    """The LLM's reply: a short answer and the numbers of the passages that support it."""

    answer: str
    citations: list[int] = Field(default_factory=list)


RAG_ANSWER = PromptTemplate(
    name="rag.answer.v1",
    system="You answer questions from numbered passages. Reply with JSON only.",
    user=("Answer the QUESTION from the PASSAGES. Answer with a short phrase (a name, place, "
          "date, number, or yes/no), not a sentence. Cite the numbers of the passages that "
          "support the answer.\n\nPASSAGES:\n{passages}\n\nQUESTION: {question}\n\n"
          'Reply with JSON: "answer" holds the short phrase, "citations" the list of passage '
          "numbers."),
    reply=AnswerReply,
    max_tokens=64,
)


class Answer(BaseModel):
    """An answer to one question, with 1-based citations into the chunks it was given.

        answer = answer_question(llm, "Who designed the Analytical Engine?", chunks)
        answer.answer, [c.chunk_id for c in answer.cited()]
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str
    answer: str
    citations: list[int] = Field(default_factory=list)
    chunks: list[RetrievedChunk] = Field(default_factory=list)
    error: str | None = None
    """Why the answer is empty, when the LLM's reply could not be used (skip-and-record)."""
    prompt_version: str = RAG_ANSWER.name

    def cited(self) -> list[RetrievedChunk]:
        """The chunks the answer cites, in citation order."""
        return [self.chunks[number - 1] for number in self.citations]


def answer_question(llm: LLM, question: str, chunks: Sequence[RetrievedChunk], *,
                    max_tokens: int = 64) -> Answer:
    """Answer one question from `chunks` (best first); see `answer_questions`."""
    [answer] = answer_questions(llm, [(question, chunks)], max_tokens=max_tokens)
    return answer


def answer_questions(llm: LLM, items: Sequence[tuple[str, Sequence[RetrievedChunk]]], *,
                     max_tokens: int = 64) -> list[Answer]:
    """Answer every (question, chunks) pair with one `generate` call for the whole batch."""
    if not items:
        return []
    requests = [answer_request(question, chunks, key=f"question-{i}", max_tokens=max_tokens)
                for i, (question, chunks) in enumerate(items)]
    responses = llm.generate(requests)
    return [_answer(question, list(chunks), response)
            for (question, chunks), response in zip(items, responses, strict=True)]


def answer_request(question: str, chunks: Sequence[RetrievedChunk], *, key: str = "question",
                   max_tokens: int = 64) -> LLMRequest:
    """The LLM request that answers `question` from `chunks`."""
    user = RAG_ANSWER.user.format(passages=format_passages(chunks), question=question)
    return LLMRequest.from_prompt(user, system=RAG_ANSWER.system, response_model=AnswerReply,
                                  key=key, params=SamplingParams(max_tokens=max_tokens))


def format_passages(chunks: Sequence[RetrievedChunk]) -> str:
    """Chunks as numbered passages [1]..[k], each with its facts and paths below it."""
    if not chunks:
        return "(no passages were found)"
    return "\n\n".join(_passage(number, chunk) for number, chunk in enumerate(chunks, 1))


def _passage(number: int, chunk: RetrievedChunk) -> str:
    text = " ".join(chunk.text.split())
    if len(text) > PASSAGE_CHARS:
        text = text[:PASSAGE_CHARS - 1] + "…"
    where = ", ".join(x for x in (chunk.title, chunk.page and f"p. {chunk.page}") if x)
    head = f"[{number}] {where}: {text}" if where else f"[{number}] {text}"
    facts = [*chunk.evidence, *chunk.paths][:FACTS_PER_PASSAGE]
    return head + "".join(f"\n    fact: {fact}" for fact in facts)


def _answer(question: str, chunks: list[RetrievedChunk], response: LLMResponse) -> Answer:
    reply = response.parsed
    if not response.ok or not isinstance(reply, AnswerReply):
        return Answer(question=question, answer="", chunks=chunks,
                      error=response.error or "the reply did not follow the answer schema")
    valid = [n for n in dict.fromkeys(reply.citations) if 1 <= n <= len(chunks)]
    return Answer(question=question, answer=reply.answer.strip(), citations=valid,
                  chunks=chunks)
