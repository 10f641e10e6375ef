"""The `Retriever` protocol: graph retrievers that feed RAG answering implement it by shape."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict


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


@runtime_checkable
class Retriever(Protocol):
    """Finds the chunks that best answer a question."""

    name: str

    def warm_up(self) -> None:
        """Load models and open stores."""

    def retrieve(self, question: str, top_k: int = 10) -> list[RetrievedChunk]:
        """The `top_k` best chunks for `question`, best first."""
