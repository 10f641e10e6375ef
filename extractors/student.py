"""The distilled student: entities, triples and propositions from ONE constrained call per chunk.

By default it runs the student shipped with kgx (SmolLM2-135M-Instruct plus the LoRA adapter
trained on GPT-3.5 NER + OpenIE, see kgx/distill/student/MODEL_CARD.md) through transformers on
CPU. Any LLM can stand in: `--llm student:PATH` for an adapter you trained with `kgx distill
train`, or an OpenAI-compatible server (vLLM with the LoRA loaded) serving the same prompt.

    extractor = StudentExtractor(load_llm("student"))
"""

from __future__ import annotations

from collections.abc import Sequence

from kgx.distill.format import PROMPT_VERSION, SYSTEM, StudentGraph, student_messages
from kgx.llm.types import LLMRequest, SamplingParams
from kgx.models import Chunk, ChunkExtraction, Proposition, Relation

from .llm_facts import EntityTable, StepFailure, clean_name, provenance
from .prompts import TypedEntity, reply_cap

EXTRACTOR_NAME = "student.v1"
MAX_TOKENS = 768
REPLY_PER_TOKEN = 4.5
"""The reply cap grows with the chunk (`reply_cap`), up to MAX_TOKENS."""


class StudentExtractor:
    """Single-pass extraction by a distilled student: exactly one LLM request per chunk."""

    name = EXTRACTOR_NAME
    default_llm = "student"
    """The LLM spec used when the user names none (`--llm local`, the default)."""

    def __init__(self, llm, *, propositions: bool = False, max_tokens: int = MAX_TOKENS) -> None:
        self.llm = llm
        self.model = llm.model
        self.version = "1"
        self.propositions = propositions
        self.max_tokens = max_tokens
        self.failures: list[StepFailure] = []

    def warm_up(self) -> None:
        """Load the student (base model plus adapter) or reach its server."""
        self.llm.warm_up()

    def plan(self, chunks: Sequence[Chunk]) -> list[LLMRequest]:
        """The requests `extract` sends: one per chunk (also what `--dry-run` prices)."""
        return [self._request(c) for c in chunks]

    def extract(self, chunks: Sequence[Chunk], run_id: str) -> list[ChunkExtraction]:
        """One batched generate call over the chunks; a graph per chunk, in order."""
        if not chunks:
            return []
        replies = {r.key: r for r in self.llm.generate(self.plan(chunks))}
        results = []
        for chunk in chunks:
            reply = replies.get(chunk.id)
            if reply is None or reply.parsed is None:
                error = reply.error if reply is not None else "no reply"
                self.failures.append(StepFailure(chunk.id, PROMPT_VERSION, error or "no reply"))
                results.append(ChunkExtraction(chunk_id=chunk.id))
            else:
                results.append(self._chunk_extraction(chunk, reply.parsed, run_id))
        return results

    def _request(self, chunk: Chunk) -> LLMRequest:
        system, user = student_messages(chunk.text, propositions=self.propositions)
        assert system["content"] == SYSTEM
        return LLMRequest.from_prompt(user["content"], system=system["content"],
                                      response_model=StudentGraph, key=chunk.id,
                                      params=SamplingParams(max_tokens=reply_cap(
                                          chunk.n_tokens, REPLY_PER_TOKEN, self.max_tokens)))

    def _chunk_extraction(self, chunk: Chunk, graph: StudentGraph,
                          run_id: str) -> ChunkExtraction:
        table = EntityTable(TypedEntity(name=n, type="") for n in graph.entities)
        where = provenance(chunk, self, run_id, PROMPT_VERSION)
        relations = []
        for subject, predicate, obj in graph.triples:
            s, p, o = table.get(subject), clean_name(predicate), table.get(obj)
            if s and p and o and s.id != o.id:
                relations.append(Relation(subject=s, predicate=p, object=o,
                                          evidence=chunk.text, provenance=where))
        propositions = [Proposition(text=text, provenance=where,
                                    entities=tuple(e for e in table.entities
                                                   if e.name.casefold() in text.casefold()))
                        for text in (t.strip() for t in graph.propositions) if text]
        return ChunkExtraction(chunk_id=chunk.id, entities=table.entities, relations=relations,
                               propositions=propositions)
