"""One question through a warmed-up retriever and an answerer: what `kgx ask` reports.

Two answerers:
- "graph" (`kgx.retrieval.graph_answer`): no LLM; the best-supported entity or value of the
  retrieved passages and the graph around them, or an abstention below its confidence floor;
- "llm": the LLM reads the passages. With `grounded` (the default) its answer must be a span of
  the retrieved text, an entity of the graph or yes/no; otherwise kgx falls back to the graph
  answer, or abstains when the graph has none, and says which happened.

The default follows the LLM: "graph" with no LLM or a tiny one that cannot read (the bundled
SmolLM2, the student), the grounded "llm" with any other.

    retriever = make_retriever("hybrid", store); retriever.warm_up()
    report = ask_report(retriever, "Who designed the Analytical Engine?", llm=None)
    report["answer"], report["answerer"], report["answer_path"]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kgx.errors import ConfigError
from kgx.normalization import normalize_text

from .linking import matching_key
from .protocol import RetrievedChunk

ANSWERERS = ("graph", "llm")
READER_TOO_SMALL = ("local", "hf:local", "student", "student-llamacpp")
"""LLM specs whose models are too small to read passages: the graph answers for them."""


def default_answerer(llm_spec: str | None) -> str:
    """"graph" with no LLM or the bundled tiny models, else "llm" (grounded)."""
    if llm_spec is None:
        return "graph"
    scheme = llm_spec.split(":", 1)[0]
    return "graph" if llm_spec in READER_TOO_SMALL or scheme in READER_TOO_SMALL else "llm"


def check_answerer(name: str, llm) -> None:
    if name not in ANSWERERS:
        raise ConfigError(f"unknown answerer {name!r}; choose one of: {', '.join(ANSWERERS)}")
    if name == "llm" and llm is None:
        raise ConfigError("the llm answerer needs an LLM (--llm); use --answerer graph to "
                          "answer from the graph alone")


def graph_answerer(retriever):
    """A warmed-up `GraphAnswerer` over the retriever's snapshot (shared where it has one)."""
    from .corpus import RetrievalContext
    from .graph_answer import GraphAnswerer

    context = getattr(retriever, "context", None)  # text2cypher keeps no snapshot
    answerer = GraphAnswerer(context or RetrievalContext(retriever.store))
    answerer.warm_up()
    return answerer


class AskAnswerer:
    """Answers batches of (question, chunks) with the graph or a grounded LLM.

        answer = AskAnswerer("llm", graph_answerer(retriever), llm)
        [result] = answer([(question, chunks)])       # an AnswerResult
    """

    def __init__(self, name: str, graph, llm=None, *, grounded: bool = True,
                 max_tokens: int = 64) -> None:
        check_answerer(name, llm)
        self.name, self.graph, self.llm = name, graph, llm
        self.grounded, self.max_tokens = grounded, max_tokens

    def __call__(self, items: Sequence[tuple[str, Sequence[RetrievedChunk]]]) -> list:
        graph_answers = [self.graph.answer(question, chunks) for question, chunks in items]
        if self.name == "graph":
            return graph_answers
        from .answer import answer_questions

        replies = answer_questions(self.llm, items, max_tokens=self.max_tokens)
        return [self.ground(reply, found, chunks)
                for reply, found, (_, chunks) in zip(replies, graph_answers, items, strict=True)]

    def ground(self, reply, found, chunks: Sequence[RetrievedChunk]):
        """The LLM's `reply` if grounded, else (with `grounded`) the graph's answer `found` or
        an abstention; the result says which in `grounding`."""
        text = reply.answer.strip()
        where = grounded_in(text, chunks, self.graph) if text else None
        common = {"answerer": "llm", "llm_error": reply.error}
        if where is not None:
            return found.model_copy(update={
                "answer": text, "best_guess": text, "confidence": None, "passages":
                reply.citations, "grounding": where, "reason": "the LLM's answer", "facts": [],
                "path": None, **common})
        said = f"the LLM's answer {text!r} is not in the passages or the graph" if text else \
            "the LLM gave no usable answer"
        if not self.grounded:
            return found.model_copy(update={
                "answer": text or None, "best_guess": text or None, "confidence": None,
                "passages": reply.citations, "grounding": f"ungrounded: {said} (kept)",
                "reason": "the LLM's answer", "facts": [], "path": None, **common})
        # The graph's answer (or its abstention) stands in; `answerer` says it is the graph's.
        if found.answer is not None:
            return found.model_copy(update={
                "grounding": f"{said}: fell back to the graph answer", "llm_error": reply.error})
        return found.model_copy(update={"grounding": f"{said}: abstained",
                                        "llm_error": reply.error})


def grounded_in(answer: str, chunks: Sequence[RetrievedChunk], graph) -> str | None:
    """Where `answer` is found: "yes/no", "a span of passage N" or "an entity of the graph";
    None when it is in neither (SQuAD-normalised text, accent-folded names)."""
    wanted = normalize_text(answer)
    if wanted in ("yes", "no"):
        return "yes/no"
    if not wanted:
        return None
    for number, chunk in enumerate(chunks, 1):
        text = normalize_text(f"{chunk.title or ''} {chunk.text}")
        if f" {wanted} " in f" {text} ":
            return f"a span of passage {number}"
    if matching_key(answer) in graph.linker.exact:
        return "an entity of the graph"
    return None


def ask_report(retriever, question: str, llm, *, top_k: int = 5, answer_tokens: int | None = 64,
               answerer: str | None = None, grounded: bool = True,
               graph=None) -> dict[str, Any]:
    """Retrieve `top_k` chunks and answer from them (not when `answer_tokens` is None), as one
    dict.

    `answerer` defaults to "graph" without `llm` and "llm" with one; `graph` is a warmed-up
    `GraphAnswerer` to reuse. Keys: question, retriever, answerer, answer (None: abstained or
    not asked), abstained, confidence, answer_kind, answer_path, answer_facts, answer_reason,
    grounding, citations (1-based passage numbers), answer_error, cypher, retrieval_error,
    chunks (`RetrievedChunk` dumps, best first).
    """
    chunks = retriever.retrieve(question, top_k)
    result = None
    if answer_tokens is not None:
        name = answerer or ("graph" if llm is None else "llm")
        ask = AskAnswerer(name, graph or graph_answerer(retriever), llm, grounded=grounded,
                          max_tokens=answer_tokens)
        [result] = ask([(question, chunks)])
    return {
        "question": question,
        "retriever": retriever.name,
        "answerer": None if result is None else result.answerer,
        "answer": None if result is None else result.answer,
        "abstained": result is not None and result.answer is None,
        "confidence": None if result is None else result.confidence,
        "answer_kind": None if result is None else result.kind,
        "answer_path": None if result is None else result.path,
        "answer_facts": [] if result is None else list(result.facts),
        "answer_reason": None if result is None else result.reason,
        "grounding": None if result is None else result.grounding,
        "citations": [] if result is None else list(result.passages),
        "answer_error": None if result is None else result.llm_error,
        "cypher": getattr(retriever, "last_query", None),
        "retrieval_error": getattr(retriever, "last_error", None),
        "chunks": [chunk.model_dump(mode="json") for chunk in chunks],
    }
