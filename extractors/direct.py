"""The direct baseline: one prompt per chunk for entities and triples, the way LangChain's
LLMGraphTransformer and neo4j-graphrag's LLMEntityRelationExtractor extract."""

from __future__ import annotations

from collections.abc import Sequence

from kgx.llm.types import LLMRequest
from kgx.models import Chunk, ChunkExtraction, Relation

from .llm_facts import EntityTable, StepFailure, clean_name, provenance, run_step
from .prompts import DIRECT_GRAPH, DirectGraph

EXTRACTOR_NAME = "direct.v1"


class DirectExtractor:
    """Single-pass LLM extraction, the comparison baseline for SynthKG and the student.

        extractor = DirectExtractor(load_llm("local"))
    """

    name = EXTRACTOR_NAME

    def __init__(self, llm) -> None:
        self.llm = llm
        self.model = llm.model
        self.version = "1"
        self.failures: list[StepFailure] = []

    def warm_up(self) -> None:
        """Load the model or reach the server."""
        self.llm.warm_up()

    def extract(self, chunks: Sequence[Chunk], run_id: str) -> list[ChunkExtraction]:
        """One batched call: a graph per chunk, in order."""
        graphs = run_step(self.llm, DIRECT_GRAPH, [(c.id, {"text": c.text}) for c in chunks],
                          self.failures)
        return [self._chunk_extraction(c, graphs.get(c.id), run_id) for c in chunks]

    def plan(self, chunks: Sequence[Chunk]) -> list[LLMRequest]:
        """The requests `extract` would send, for `--dry-run`."""
        return [DIRECT_GRAPH.request(c.id, text=c.text) for c in chunks]

    def _chunk_extraction(self, chunk: Chunk, graph: DirectGraph | None,
                          run_id: str) -> ChunkExtraction:
        if graph is None:
            return ChunkExtraction(chunk_id=chunk.id)
        table = EntityTable(graph.entities)
        where = provenance(chunk, self, run_id, DIRECT_GRAPH.name)
        edges = [(table.get(t.subject), clean_name(t.predicate), table.get(t.object))
                 for t in graph.triples]
        relations = [Relation(subject=s, predicate=p, object=o, evidence=chunk.text,
                              provenance=where)
                     for s, p, o in edges if s and p and o and s.id != o.id]
        return ChunkExtraction(chunk_id=chunk.id, entities=table.entities, relations=relations)
