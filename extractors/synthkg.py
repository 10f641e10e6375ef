"""The SynthKG teacher workflow (Distill-SynthKG): decontextualize, type entities, then state
propositions with (source, predicate, target) quadruples, chunk by chunk.

For each chunk of about 256 tokens:
1. **Decontextualize** it with the previous chunk as context (full names for pronouns and
   partial names). A rewrite whose ROUGE-1 F1 against the original is below 0.70 is dropped and
   the original chunk is kept: the model changed more than mentions.
2. **Typed entities** of the (rewritten) chunk.
3. **Propositions with quadruples**: each proposition is a retrieval unit and the evidence of
   the relations it states.

Each step is one batched `generate` call over every chunk of the batch, so HTTP backends run
them concurrently. Document-level aggregation is the pipeline's entity resolution, which merges
the chunks' entities into one node per thing. A document of n chunks costs 3n - 1 calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from kgx.llm.types import LLMRequest
from kgx.models import Chunk, ChunkExtraction, Proposition, Relation

from .llm_facts import EntityTable, StepFailure, clean_name, provenance, run_step
from .prompts import (
    SYNTHKG_DECONTEXTUALIZE,
    SYNTHKG_ENTITIES,
    SYNTHKG_PROPOSITIONS,
    Propositions,
)

EXTRACTOR_NAME = "synthkg.v1"
ROUGE1_THRESHOLD = 0.70


class SynthKGExtractor:
    """The multi-step teacher; `llm` is any kgx `LLM` (see `kgx.llm.load_llm`).

        extractor = SynthKGExtractor(load_llm("openai:gpt-4o-mini"))
        extract_corpus(paths, store, ExtractConfig(extractor="synthkg"), extractor=extractor)
    """

    name = EXTRACTOR_NAME

    def __init__(self, llm, *, rouge1_threshold: float = ROUGE1_THRESHOLD) -> None:
        self.llm = llm
        self.model = llm.model
        self.version = "1"
        self.rouge1_threshold = rouge1_threshold
        self.failures: list[StepFailure] = []
        self.rewrites = Counter[str]()
        """How many rewrites were kept, dropped by the ROUGE-1 filter, or not made."""

    def warm_up(self) -> None:
        """Load the model or reach the server."""
        self.llm.warm_up()

    def extract(self, chunks: Sequence[Chunk], run_id: str) -> list[ChunkExtraction]:
        """Run the three steps over all `chunks`; one extraction per chunk, in order."""
        texts = self._decontextualize(chunks)
        typed = run_step(self.llm, SYNTHKG_ENTITIES,
                         [(c.id, {"text": texts[c.id]}) for c in chunks], self.failures)
        tables = {c.id: EntityTable(typed[c.id].entities if c.id in typed else ())
                  for c in chunks}
        facts = run_step(self.llm, SYNTHKG_PROPOSITIONS, [
            (c.id, {"text": texts[c.id],
                    "entities": "; ".join(e.name for e in tables[c.id].entities) or "(none)"})
            for c in chunks], self.failures)
        return [self._chunk_extraction(c, tables[c.id], facts.get(c.id), run_id)
                for c in chunks]

    def plan(self, chunks: Sequence[Chunk]) -> list[LLMRequest]:
        """The requests `extract` would send, for `--dry-run` (entity lists not yet known)."""
        return ([SYNTHKG_DECONTEXTUALIZE.request(key, **f) for key, f in _with_context(chunks)]
                + [SYNTHKG_ENTITIES.request(c.id, text=c.text) for c in chunks]
                + [SYNTHKG_PROPOSITIONS.request(c.id, text=c.text, entities="(none)")
                   for c in chunks])

    def _decontextualize(self, chunks: Sequence[Chunk]) -> dict[str, str]:
        """The text each chunk is read as: its accepted rewrite, or itself."""
        rewrites = run_step(self.llm, SYNTHKG_DECONTEXTUALIZE, _with_context(chunks),
                            self.failures)
        texts = {c.id: c.text for c in chunks}
        for chunk in chunks:
            rewrite = rewrites.get(chunk.id)
            if rewrite is None:
                self.rewrites["none"] += 1
            elif rouge1_f1(chunk.text, rewrite.text) >= self.rouge1_threshold:
                texts[chunk.id] = rewrite.text
                self.rewrites["kept"] += 1
            else:
                self.rewrites["dropped"] += 1
        return texts

    def _chunk_extraction(self, chunk: Chunk, table: EntityTable, facts: Propositions | None,
                          run_id: str) -> ChunkExtraction:
        where = provenance(chunk, self, run_id, SYNTHKG_PROPOSITIONS.name)
        propositions, relations = [], []
        for item in facts.propositions if facts else []:
            statement = " ".join(item.text.split())
            if not statement:
                continue
            edges = [(table.get(q.source), clean_name(q.predicate), table.get(q.target))
                     for q in item.quadruples]
            edges = [(s, p, o) for s, p, o in edges if s and p and o and s.id != o.id]
            about = tuple({e.id: e for s, _, o in edges for e in (s, o)}.values())
            proposition = Proposition(text=statement, entities=about, provenance=where)
            propositions.append(proposition)
            relations += [Relation(subject=s, predicate=p, object=o, evidence=statement,
                                   proposition_id=proposition.id, provenance=where)
                          for s, p, o in edges]
        return ChunkExtraction(chunk_id=chunk.id, entities=table.entities, relations=relations,
                               propositions=propositions)


def _with_context(chunks: Sequence[Chunk]) -> list[tuple[str, dict[str, str]]]:
    """Decontextualization inputs: every chunk that has a previous chunk, with that as context."""
    by_position = {(c.doc_id, c.index): c for c in chunks}
    return [(c.id, {"context": by_position[(c.doc_id, c.index - 1)].text, "text": c.text})
            for c in chunks if (c.doc_id, c.index - 1) in by_position]


def rouge1_f1(reference: str, candidate: str) -> float:
    """ROUGE-1 F1: unigram overlap of two texts (lowercased words), as the SynthKG filter uses."""
    ref, cand = Counter(_words(reference)), Counter(_words(candidate))
    overlap = sum((ref & cand).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(cand.values()), overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def _words(text: str) -> list[str]:
    import re

    return re.findall(r"\w+", text.lower())
