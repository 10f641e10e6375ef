"""The `Retriever` protocol: graph retrievers that feed RAG answering implement it by shape."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class RetrievedChunk(BaseModel):
    """A chunk handed to the answerer, with its score and the graph facts that led to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chunk_id: str
    doc_id: str
    text: str
    score: float
    evidence: tuple[str, ...] = ()
    """Propositions or facts (e.g. "Ada Lovelace | wrote | first program") that led here."""
    paths: tuple[str, ...] = ()
    """Entity paths from the question's entities, e.g. "Ada Lovelace -[born in]-> London"."""
    external_id: str | None = None
    """The source's id of the chunk's document (e.g. a 2Wiki passage id), for evaluation."""
    title: str | None = None
    page: int | None = None
    """The 1-based page where the chunk starts, for documents with pages (PDF)."""


class AnswerResult(BaseModel):
    """One question answered: the answer (None: abstained), who answered, and the evidence.

    `passages` are 1-based numbers into the chunks the answerer was given, like an LLM
    answer's citations. The graph answerer makes these; a grounded LLM answer is one too.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str
    answer: str | None
    confidence: float | None
    """The graph answerer's probability that the answer is right; None for an LLM's answer."""
    kind: str
    """"entity", "choice" or "yes_no" (from the question's wording)."""
    best_guess: str | None = None
    """The top candidate, kept when the answerer abstained."""
    facts: list[str] = Field(default_factory=list)
    path: str | None = None
    passages: list[int] = Field(default_factory=list)
    reason: str = ""
    """How the answer was reached, in a sentence."""
    answerer: str = "graph"
    """"graph", or "llm" for an LLM's answer (see `kgx.retrieval.ask`)."""
    grounding: str | None = None
    """For LLM answers: where the answer was found, or what replaced an ungrounded one."""
    llm_error: str | None = None
    """Why the LLM's reply could not be used, when it could not."""

    @property
    def error(self) -> str | None:
        """The evaluation harness's name for `llm_error`."""
        return self.llm_error

    @property
    def citations(self) -> list[int]:
        return self.passages


@runtime_checkable
class Retriever(Protocol):
    """Finds the chunks that best answer a question."""

    name: str

    def warm_up(self) -> None:
        """Load models and open stores."""

    def retrieve(self, question: str, top_k: int = 10) -> list[RetrievedChunk]:
        """The `top_k` best chunks for `question`, best first."""
