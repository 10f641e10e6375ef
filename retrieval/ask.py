"""One question through a warmed-up retriever and, if asked, the LLM: what `kgx ask` reports.

    retriever = make_retriever("graph", store); retriever.warm_up()
    report = ask_report(retriever, "Who designed the Analytical Engine?", llm, top_k=5)
"""

from __future__ import annotations

from typing import Any


def ask_report(retriever, question: str, llm, *, top_k: int = 5,
               answer_tokens: int | None = 64) -> dict[str, Any]:
    """Retrieve `top_k` chunks, answer from them unless `answer_tokens` is None, as one dict.

    Keys: question, retriever, answer, citations (1-based passage numbers), answer_error,
    cypher (text2cypher's query), retrieval_error, chunks (`RetrievedChunk` dumps, best first).
    """
    from .answer import answer_question

    chunks = retriever.retrieve(question, top_k)
    answer = None if answer_tokens is None else answer_question(
        llm, question, chunks, max_tokens=answer_tokens)
    return {
        "question": question,
        "retriever": retriever.name,
        "answer": None if answer is None else answer.answer,
        "citations": [] if answer is None else answer.citations,
        "answer_error": None if answer is None else answer.error,
        "cypher": getattr(retriever, "last_query", None),
        "retrieval_error": getattr(retriever, "last_error", None),
        "chunks": [chunk.model_dump(mode="json") for chunk in chunks],
    }
