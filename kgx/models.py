"""The typed records kgx stages pass on: documents, chunks, entities, relations, propositions.

Every id is derived from content (see `kgx.ids`), so extracting the same input twice yields the
same ids and the graph stores can upsert with MERGE semantics.

    >>> doc = Document(title="Ada", text="Ada Lovelace wrote the first program.")
    >>> doc.id == Document(title="Ada", text="Ada Lovelace wrote the first program.").id
    True
"""

from __future__ import annotations

import bisect

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kgx.ids import entity_id, stable_id, version_key

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Document(BaseModel):
    """One input document: a file, or one record of a `.jsonl` corpus."""

    model_config = _FROZEN

    text: str
    title: str = ""
    source: str = ""
    external_id: str | None = None
    page_starts: tuple[int, ...] = Field(
        default=(), description="character offset where each page starts (PDF); empty if none")
    id: str = ""

    @model_validator(mode="after")
    def _derive_id(self) -> Document:
        if not self.id:
            digest = stable_id("doc", self.external_id, self.title, self.text)
            object.__setattr__(self, "id", digest)
        return self

    @property
    def key(self) -> str:
        """What identifies a document across versions: its external id, else its source."""
        return version_key(self.external_id, self.source)

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding character `offset`, or None for a text without pages."""
        if not self.page_starts:
            return None
        return max(1, bisect.bisect_right(self.page_starts, offset))


class Chunk(BaseModel):
    """A run of whole sentences of a document, within the chunker's token budget."""

    model_config = _FROZEN

    doc_id: str
    index: int = Field(ge=0)
    text: str
    start: int = Field(ge=0, description="character offset of the chunk in its document")
    end: int = Field(ge=0)
    n_tokens: int = Field(ge=0)
    id: str = ""

    @model_validator(mode="after")
    def _derive_id(self) -> Chunk:
        if self.end < self.start:
            raise ValueError(f"chunk end {self.end} is before its start {self.start}")
        if not self.id:
            object.__setattr__(self, "id", stable_id("chk", self.doc_id, self.start, self.text))
        return self


class Provenance(BaseModel):
    """Where a fact came from and what produced it."""

    model_config = _FROZEN

    doc_id: str
    chunk_id: str
    start: int = Field(ge=0, description="character offset of the evidence in the document")
    end: int = Field(ge=0)
    extractor: str = Field(description="versioned extractor name, e.g. 'spacy.svo.v1'")
    extractor_version: str
    model: str | None = None
    prompt_version: str | None = None
    run_id: str = ""
    page: int | None = Field(default=None, ge=1,
                             description="1-based page where the evidence starts (PDF)")

    def fact_key(self) -> tuple[object, ...]:
        """The part of the provenance that identifies a fact (the run id does not)."""
        return (self.doc_id, self.chunk_id, self.start, self.end, self.extractor,
                self.extractor_version, self.model, self.prompt_version)


class Entity(BaseModel):
    """A named thing. `canonical_id` is its node id once resolved; new names derive one."""

    model_config = _FROZEN

    name: str = Field(min_length=1)
    type: str = "ENTITY"
    aliases: tuple[str, ...] = ()
    canonical_id: str = ""

    @model_validator(mode="after")
    def _derive_id(self) -> Entity:
        if not self.name.strip():
            raise ValueError("an entity name must contain more than white space")
        if not self.canonical_id:
            object.__setattr__(self, "canonical_id", entity_id(self.name, self.type))
        return self

    @property
    def id(self) -> str:
        """The graph node id of this entity."""
        return self.canonical_id


class Proposition(BaseModel):
    """An atomic, self-contained statement drawn from a chunk, about some entities."""

    model_config = _FROZEN

    text: str = Field(min_length=1)
    entities: tuple[Entity, ...] = ()
    provenance: Provenance

    @property
    def id(self) -> str:
        """A stable id from the statement and where it was found."""
        return stable_id("prop", self.text, *self.provenance.fact_key())


class Relation(BaseModel):
    """A directed, typed edge between two entities, with the evidence it rests on."""

    model_config = _FROZEN

    subject: Entity
    predicate: str = Field(min_length=1)
    object: Entity
    evidence: str = ""
    proposition_id: str | None = None
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    provenance: Provenance

    @property
    def id(self) -> str:
        """A stable id: same endpoints, predicate and provenance give the same edge."""
        return stable_id("rel", self.subject.id, self.predicate, self.object.id,
                         *self.provenance.fact_key())


class ChunkExtraction(BaseModel):
    """What an extractor found in one chunk."""

    model_config = ConfigDict(extra="forbid")

    chunk_id: str
    entities: list[Entity] = []
    relations: list[Relation] = []
    propositions: list[Proposition] = []


class GraphBatch(BaseModel):
    """Everything a store writes in one batch; `completed` marks documents finished for a key."""

    model_config = ConfigDict(extra="forbid")

    documents: list[Document] = []
    chunks: list[Chunk] = []
    entities: list[Entity] = []
    mentions: list[tuple[str, str]] = Field(default=[], description="(chunk id, entity id)")
    relations: list[Relation] = []
    propositions: list[Proposition] = []
    completed_key: str | None = None
    completed: list[str] = Field(default=[], description="ids of documents now fully extracted")
    surfaces: list[tuple[str, str, str]] = Field(
        default=[], description="(chunk id, entity id, surface form): how a chunk names an entity")
    replaces: list[str] = Field(
        default=[], description="ids of older versions of the batch's documents, deleted first")
    run_id: str = Field(default="", description="the run writing the batch's documents")
