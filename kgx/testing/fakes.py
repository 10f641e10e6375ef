"""Fakes for fast orchestration tests: an extractor that finds listed names, and can crash."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise

from kgx.errors import ExtractionError
from kgx.models import Chunk, ChunkExtraction, Entity, Provenance, Relation


class GazetteerExtractor:
    """Finds the given names in each chunk and links consecutive ones with `co-occurs with`.

        extractor = GazetteerExtractor({"Ada Lovelace": "PERSON", "Babbage": "PERSON"})
    """

    name = "test.gazetteer.v1"
    version = "1"
    model = None

    def __init__(self, names: Mapping[str, str], *, fail_on_call: int | None = None) -> None:
        self.names = dict(names)
        self.fail_on_call = fail_on_call
        self.calls = 0

    def warm_up(self) -> None:
        """Nothing to load."""

    def extract(self, chunks: Sequence[Chunk], run_id: str) -> list[ChunkExtraction]:
        """One extraction per chunk; raises on the `fail_on_call`-th call if set."""
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise ExtractionError(f"scripted failure on call {self.calls}")
        return [self._extract(chunk, run_id) for chunk in chunks]

    def _extract(self, chunk: Chunk, run_id: str) -> ChunkExtraction:
        found = sorted((chunk.text.find(n), n) for n in self.names if n in chunk.text)
        entities = [Entity(name=n, type=self.names[n]) for _, n in found]
        relations = [
            Relation(subject=a, predicate="co-occurs with", object=b, evidence=chunk.text,
                     provenance=Provenance(doc_id=chunk.doc_id, chunk_id=chunk.id,
                                           start=chunk.start, end=chunk.end, extractor=self.name,
                                           extractor_version=self.version, run_id=run_id))
            for a, b in pairwise(entities)
        ]
        return ChunkExtraction(chunk_id=chunk.id, entities=entities, relations=relations)
