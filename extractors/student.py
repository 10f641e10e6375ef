"""The distilled student: entities, triples and propositions from ONE constrained call per chunk.

By default it runs the student shipped with kgx (SmolLM2-135M-Instruct plus the LoRA adapter
trained on GPT-3.5 NER + OpenIE, see kgx/distill/student/MODEL_CARD.md) in llama.cpp on CPU
(`--llm student` runs it through transformers). Any LLM can stand in: `--llm
student-llamacpp:PATH` for an adapter you trained with `kgx distill train`, or an
OpenAI-compatible server (vLLM with the LoRA loaded) serving the same prompt.

    extractor = StudentExtractor(load_llm("student"))
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from kgx.distill.format import DEFAULT_FORMAT, StudentFormat, StudentGraph, student_format
from kgx.errors import ConfigError
from kgx.llm.types import LLMRequest, SamplingParams
from kgx.models import Chunk, ChunkExtraction, Proposition, Provenance, Relation

from .llm_facts import EntityTable, StepFailure, clean_name, provenance
from .prompts import TypedEntity, reply_cap

EXTRACTOR_NAME = "student.v1"
MAX_TOKENS = 768
REPLY_PER_TOKEN = 4.5
"""The reply cap grows with the chunk (`reply_cap`), up to MAX_TOKENS."""
MIN_CONFIDENCE = 0.7
"""`StudentExtractor.min_confidence` by default (validation, 156 passages, llama.cpp: fuzzy
triple F1 0.236 -> 0.243, triple precision 0.294 -> 0.328, entity F1 0.632 -> 0.645,
embedding triple F1 0.393 -> 0.394; 0.75 gave 0.244, 0.391, 0.651; see the model card)."""
UNIQUE_RELATIONS = True
"""`StudentExtractor.unique_relations` by default (validation, 156 passages: fuzzy triple F1
0.219 -> 0.227, embedding 0.381 -> 0.391, entities unchanged; see the model card)."""


class StudentExtractor:
    """Single-pass extraction by a distilled student: exactly one LLM request per chunk."""

    name = EXTRACTOR_NAME
    default_llm = "student-llamacpp"
    """The LLM spec used when the user names none (`--llm local`, the default): the shipped
    student in llama.cpp (the model card compares it with transformers, `--llm student`)."""

    def __init__(self, llm, *, propositions: bool = False, max_tokens: int = MAX_TOKENS,
                 reply_format: str | None = None, copy_filter: bool = True,
                 exact_ends: bool = True, unique_relations: bool | None = None,
                 min_confidence: float | None = None) -> None:
        self.llm = llm
        self.model = llm.model
        self.version = "3"
        """2: a triple repeated in the reply is read once (`unique_relations`); 3: triples
        carry the student's confidence, and those under `min_confidence` are dropped."""
        self.propositions = propositions
        self.max_tokens = max_tokens
        self.format: StudentFormat = student_format(reply_format or _learned_format(llm))
        """The reply format: the one the student adapter learned, unless given."""
        self.copy_filter = copy_filter
        """Keep only listed entities that occur in the chunk (ignoring case): the teacher's
        entities are spans of the passage (99.3% of them), so others are the student's
        inventions. Triple ends are kept either way."""
        self.exact_ends = exact_ends
        """Triple ends join a listed entity only by the same (normalised) name; otherwise they
        become nodes of their own. With False, near-spellings join by rapidfuzz WRatio >= 90,
        which also joins "Darwin's evolutionary theory" to Darwin (student v1's behaviour)."""
        self.unique_relations = (UNIQUE_RELATIONS if unique_relations is None
                                 else unique_relations)
        """Read a triple once: the same subject and object entities with the same predicate
        (ignoring case and spacing) as an earlier one is a repeat, not a second edge."""
        self.min_confidence = (default_min_confidence() if min_confidence is None
                               else min_confidence)
        """Drop triples the student wrote with less confidence than this: the geometric mean
        of its line's token probabilities, which each relation keeps as its `confidence`
        (backends that report no log-probs give every triple 1.0). By default
        `$KGX_STUDENT_MIN_CONFIDENCE`, or MIN_CONFIDENCE; 0 keeps every triple."""
        self.failures: list[StepFailure] = []
        self.malformed: list[str] = []
        """Chunks whose v2 reply had lines that fit no section (dropped) or was cut off at
        the token cap (its complete lines kept): not format-valid, though not lost."""

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
            graph, error = self._read(chunk, reply)
            if graph is None:
                self.failures.append(StepFailure(chunk.id, self.format.version, error))
                results.append(ChunkExtraction(chunk_id=chunk.id))
            else:
                confidences = line_confidences(getattr(reply, "logprobs", None))
                results.append(self._chunk_extraction(chunk, graph, run_id, confidences))
        return results

    def _read(self, chunk: Chunk, reply) -> tuple[StudentGraph | None, str]:
        """The reply's graph, or None and why. A v1 reply was validated against its schema by
        the LLM layer; a v2 reply is read here, and a cut-off reply keeps its complete lines."""
        if reply is None:
            return None, "no reply"
        if self.format.response_model is not None:
            return reply.parsed, reply.error or "no reply"
        if reply.error and not reply.text:
            return None, reply.error
        graph = self.format.parse(reply.text)
        if graph.malformed or reply.finish_reason == "length":
            self.malformed.append(chunk.id)
        return graph, ""

    def _request(self, chunk: Chunk) -> LLMRequest:
        system, user = self.format.messages(chunk.text, propositions=self.propositions)
        return LLMRequest.from_prompt(user["content"], system=system["content"],
                                      response_model=self.format.response_model, key=chunk.id,
                                      params=SamplingParams(max_tokens=reply_cap(
                                          chunk.n_tokens, REPLY_PER_TOKEN, self.max_tokens),
                                          logprobs=True))

    def _chunk_extraction(self, chunk: Chunk, graph: StudentGraph, run_id: str,
                          confidences: dict[str, float]) -> ChunkExtraction:
        text = chunk.text.casefold()
        listed = [n for n in graph.entities if not self.copy_filter or n.casefold() in text]
        table = EntityTable(TypedEntity(name=n, type="") for n in listed)
        where = provenance(chunk, self, run_id, self.format.version)
        relations = self._relations(graph, table, chunk, where, confidences)
        propositions = [Proposition(text=text, provenance=where,
                                    entities=tuple(e for e in table.entities
                                                   if e.name.casefold() in text.casefold()))
                        for text in (t.strip() for t in graph.propositions) if text]
        return ChunkExtraction(chunk_id=chunk.id, entities=table.entities, relations=relations,
                               propositions=propositions)

    def _relations(self, graph: StudentGraph, table: EntityTable, chunk: Chunk,
                   where: Provenance, confidences: dict[str, float]) -> list[Relation]:
        """The reply's triples whose ends and predicate are usable and whose confidence is at
        least `min_confidence`, each read once (with `unique_relations`)."""
        relations, seen = [], set()
        fuzzy = not self.exact_ends
        for subject, predicate, obj in graph.triples:
            confidence = confidences.get(_triple_key(subject, predicate, obj), 1.0)
            if confidence < self.min_confidence:  # before its ends make nodes
                continue
            s, p, o = (table.get(subject, fuzzy=fuzzy), clean_name(predicate),
                       table.get(obj, fuzzy=fuzzy))
            if not (s and p and o) or s.id == o.id:
                continue
            key = (s.id, p.casefold(), o.id)  # clean_name has collapsed the spacing
            if not (self.unique_relations and key in seen):
                seen.add(key)
                relations.append(Relation(subject=s, predicate=p, object=o,
                                          evidence=chunk.text, provenance=where,
                                          confidence=confidence))
        return relations


def default_min_confidence() -> float:
    """`$KGX_STUDENT_MIN_CONFIDENCE` (0..1), or MIN_CONFIDENCE when unset."""
    raw = os.environ.get("KGX_STUDENT_MIN_CONFIDENCE", "").strip()
    if not raw:
        return MIN_CONFIDENCE
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"KGX_STUDENT_MIN_CONFIDENCE={raw!r} is not a number from 0 to 1; "
                          f"set it to e.g. 0.7 (the default), or 0 to keep every triple.")
    return value


def line_confidences(logprobs: Sequence[tuple[str, float]] | None) -> dict[str, float]:
    """Each triple line of a reply (by `_triple_key`) with the geometric mean of its tokens'
    probabilities, its newline's included; the first of repeated lines counts. Empty
    without log-probs."""
    lines: dict[str, float] = {}
    text, total, count = "", 0.0, 0
    for piece, logprob in logprobs or ():
        total, count = total + logprob, count + 1
        head, newline, rest = piece.partition("\n")
        text += head
        if newline:
            lines.setdefault(_triple_key(*text.split("|")), math.exp(total / count))
            text, total, count = rest.split("\n")[-1], 0.0, 0
    if text and count:
        lines.setdefault(_triple_key(*text.split("|")), math.exp(total / count))
    return lines


def _triple_key(*parts: str) -> str:
    return "|".join(part.strip() for part in parts)


def _learned_format(llm) -> str:
    """The reply format of the student behind `llm` (its adapter's `student_format.json`, as
    the student backends record it); v2 for any other LLM serving the student's prompt."""
    return getattr(getattr(llm, "backend", llm), "student_format", None) or DEFAULT_FORMAT
