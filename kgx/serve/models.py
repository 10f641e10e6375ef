"""The typed requests and responses of the kgx HTTP API (also what the MCP tools return)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kgx.retrieval import DEFAULT_RETRIEVER


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    """Every error: what went wrong and what to do about it."""

    error: str


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    store: str
    backend: Literal["ladybug", "neo4j"]
    version: str
    auth_required: bool = Field(description="true when API calls need a Bearer token")
    writable: bool = Field(description="false when started with --read-only")


class Stats(BaseModel):
    """Nodes per label and edges per relationship type."""

    counts: dict[str, int]


class LabelSchema(BaseModel):
    label: str
    properties: dict[str, str]


class RelationshipSchema(BaseModel):
    type: str
    source: str
    target: str
    properties: dict[str, str]


class ValueCount(BaseModel):
    value: str
    count: int


class Schema(BaseModel):
    """The graph schema, with the most frequent entity types and predicates in this store."""

    nodes: list[LabelSchema]
    relationships: list[RelationshipSchema]
    entity_types: list[ValueCount]
    predicates: list[ValueCount]


class QueryRequest(_Request):
    cypher: str = Field(min_length=1, max_length=20_000, description="read-only Cypher")
    params: dict[str, Any] = Field(default_factory=dict, description="bound as $name")


class QueryResponse(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = Field(description="true when the row cap cut the result")
    row_cap: int
    elapsed_ms: float


class EntitySummary(BaseModel):
    id: str
    name: str
    type: str | None = None
    aliases: list[str] = []


class EntityHit(EntitySummary):
    score: float = Field(description="rapidfuzz WRatio of the best matching name or alias, 0-100")
    matched: str = Field(description="the name or alias that matched")


class SearchResults(BaseModel):
    query: str
    hits: list[EntityHit]


class Provenance(BaseModel):
    """Where a fact comes from; `span_start`/`span_end` are offsets in `chunk_text`."""

    doc_id: str | None = None
    document_title: str | None = None
    chunk_id: str | None = None
    chunk_text: str | None = None
    chunk_start: int | None = Field(None, description="the chunk's offset in its document")
    start_char: int | None = Field(None, description="evidence start in the document")
    end_char: int | None = Field(None, description="evidence end in the document")
    page: int | None = Field(None, description="1-based page where the evidence starts (PDF)")
    span_start: int | None = Field(None, description="evidence start in chunk_text")
    span_end: int | None = Field(None, description="evidence end in chunk_text")
    extractor: str | None = None
    extractor_version: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    run_id: str | None = None


class Fact(BaseModel):
    """A RELATION edge: subject -[predicate]-> object, its evidence and provenance."""

    id: str
    predicate: str
    subject: EntitySummary
    object: EntitySummary
    evidence: str | None = None
    confidence: float | None = None
    proposition_id: str | None = None
    provenance: Provenance


class PropositionFact(BaseModel):
    id: str
    text: str
    provenance: Provenance


class Mention(BaseModel):
    chunk_id: str
    doc_id: str
    title: str | None = None


class EntityDetail(BaseModel):
    """An entity, its aliases, its facts with full provenance, and where it is mentioned."""

    entity: EntitySummary
    facts: list[Fact]
    propositions: list[PropositionFact]
    mentions: list[Mention]
    facts_truncated: bool


class GraphNode(BaseModel):
    id: str
    name: str
    type: str | None = None


class GraphEdge(BaseModel):
    id: str
    source: str
    target: str
    predicate: str


class Neighbourhood(BaseModel):
    center: str
    hops: int
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    truncated: bool = Field(description="true when `limit` edges cut the neighbourhood")


class _DocumentFields(BaseModel):
    id: str
    external_id: str | None = None
    title: str | None = None
    source: str | None = None
    extracted_with: list[str] = []


class DocumentSummary(_DocumentFields):
    chunks: int = 0


class DocumentList(BaseModel):
    total: int
    documents: list[DocumentSummary]


class ChunkSummary(BaseModel):
    id: str
    position: int
    start_char: int
    end_char: int
    n_tokens: int | None = None


class DocumentDetail(_DocumentFields):
    text: str
    chunks: list[ChunkSummary]


class DeletedDocument(BaseModel):
    """What deleting one document removed with it."""

    id: str
    run_id: str
    chunks: int
    relations: int
    propositions: int
    entities: int = Field(description="entities nothing mentions any more")
    aliases: int = Field(description="aliases only this document used")


class AskRequest(_Request):
    question: str = Field(min_length=1, max_length=2_000)
    retriever: Literal["dense", "bm25", "graph", "ppr", "hipporag2", "hybrid",
                       "text2cypher"] = DEFAULT_RETRIEVER
    top_k: int = Field(5, ge=1, le=50)
    answer: bool = Field(True, description="false: retrieve only, no answer")
    answerer: Literal["graph", "llm"] | None = Field(
        None, description="graph: from the graph, no LLM; llm: the server's LLM, grounded. "
                          "Default: graph with the bundled tiny model, llm with another")
    grounded: bool = Field(True, description="llm answerer: fall back to the graph answer (or "
                                             "abstain) when the LLM's answer is not in the "
                                             "passages or the graph")


class AskPassage(BaseModel):
    chunk_id: str
    doc_id: str
    title: str | None = None
    external_id: str | None = None
    text: str
    score: float
    evidence: list[str]
    paths: list[str]
    cited: bool


class AskResponse(BaseModel):
    """What `kgx ask --json` prints: the answer, cited passages and the entity paths to them."""

    question: str
    retriever: str
    answerer: str | None
    answer: str | None
    """None when not asked or when the answerer abstained ("not found in the graph")."""
    abstained: bool
    confidence: float | None
    answer_kind: str | None
    answer_path: str | None
    answer_facts: list[str]
    answer_reason: str | None
    grounding: str | None
    citations: list[int]
    answer_error: str | None
    cypher: str | None
    retrieval_error: str | None
    passages: list[AskPassage]


class SkippedInput(BaseModel):
    source: str
    reason: str


class Job(BaseModel):
    """A background extraction of uploaded documents."""

    id: str
    status: Literal["queued", "running", "complete", "failed"]
    files: list[str]
    extractor: str
    documents_done: int = 0
    documents_total: int | None = None
    documents_written: int = 0
    documents_already_done: int = 0
    chunks: int = 0
    relations: int = 0
    skipped: list[SkippedInput] = []
    run_id: str | None = None
    error: str | None = None
    created_at: str
    finished_at: str | None = None
