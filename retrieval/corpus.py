"""What the retrievers read from a store, loaded once: chunks, entities, mentions and facts.

A fact is a Proposition node (its text, its ABOUT entities, its chunk) or a RELATION edge
verbalised as "subject predicate object", so a graph without propositions (spaCy) has facts too.

    context = RetrievalContext(open_store("./kgx-store"))
    corpus = context.corpus()          # one snapshot, shared by every retriever of the context
    corpus.chunks[0].title, len(corpus.facts)
"""

from __future__ import annotations

import bisect
import functools
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kgx.errors import ConfigError, InputError
from kgx.graphdb import LocalFolder, cypher

from .protocol import RetrievedChunk

if TYPE_CHECKING:
    import numpy as np

VECTOR_KINDS = ("chunks", "propositions", "relations", "entities")
_QUESTION_CACHE = 256


@dataclass(frozen=True)
class CorpusChunk:
    """A chunk with the document fields evaluators compare against gold passages."""

    id: str
    doc_id: str
    text: str
    external_id: str | None = None
    title: str | None = None
    page: int | None = None
    """The 1-based page where the chunk starts, for documents with pages (PDF)."""

    def indexed_text(self) -> str:
        """What is embedded and BM25-indexed: the document title (if not already there), then
        the chunk, since passages often name their subject only in the title."""
        if self.title and not self.text.startswith(self.title):
            return f"{self.title}\n{self.text}"
        return self.text


@dataclass(frozen=True)
class Fact:
    """A proposition or a verbalised relation, with its chunk and entities as corpus indexes."""

    id: str
    text: str
    chunk: int
    entities: tuple[int, ...]
    kind: str  # "proposition" or "relation"


@dataclass(frozen=True)
class RelationEdge:
    """A RELATION edge between two entities (corpus indexes); `chunk` is -1 if unknown."""

    subject: int
    predicate: str
    object: int
    chunk: int


@dataclass
class RetrievalCorpus:
    """A snapshot of a store's graph as plain lists, indexed by position for numpy work."""

    chunks: list[CorpusChunk]
    entity_ids: list[str]
    entity_names: list[str]
    entity_aliases: list[tuple[str, ...]]
    mentions: list[tuple[int, int]]
    """(chunk, entity) pairs of MENTIONS edges."""
    relations: list[RelationEdge]
    facts: list[Fact]
    proposition_entities: list[tuple[int, ...]] = field(default_factory=list)
    """The ABOUT entities of every proposition, chunk known or not (for the entity graph)."""
    entity_types: list[str] = field(default_factory=list)
    """Each entity's type (spaCy's NER label, an LLM's type, or "ENTITY"), by position."""
    uri: str = ""

    def __post_init__(self) -> None:
        self.chunk_index = {chunk.id: i for i, chunk in enumerate(self.chunks)}
        self.entity_index = {id_: i for i, id_ in enumerate(self.entity_ids)}
        self.fact_index = {fact.id: i for i, fact in enumerate(self.facts)}

    @classmethod
    def load(cls, store) -> RetrievalCorpus:
        """Read the snapshot with a handful of parameter-free queries; raise if it has no chunks."""
        store.connect()
        chunks = sorted(store.query(cypher.RETRIEVAL_CHUNKS).records(),
                        key=lambda r: (r["doc_id"] or "", r["position"] or 0, r["id"]))
        if not chunks:
            raise InputError(f"the store {store.uri} has no chunks to retrieve from. Run `kgx "
                             f"extract PATH --store {store.uri}` first, or pass the right store.")
        entities = sorted(store.query(cypher.RETRIEVAL_ENTITIES).records(), key=lambda r: r["id"])
        loader = _FactLoader(
            [CorpusChunk(r["id"], r["doc_id"] or "", r["text"] or "", r["external_id"],
                         r["title"] or None, _page(r["page_starts"], r["start_char"]))
             for r in chunks],
            entities)
        return loader.load(store)

    @functools.cached_property
    def chunk_facts(self) -> list[list[int]]:
        """The facts of each chunk, as fact indexes."""
        out: list[list[int]] = [[] for _ in self.chunks]
        for i, fact in enumerate(self.facts):
            out[fact.chunk].append(i)
        return out

    @functools.cached_property
    def entity_chunks(self) -> list[set[int]]:
        """The chunks each entity is mentioned in or is part of a fact of."""
        out: list[set[int]] = [set() for _ in self.entity_ids]
        for chunk, entity in self.mentions:
            out[entity].add(chunk)
        for fact in self.facts:
            for entity in fact.entities:
                out[entity].add(fact.chunk)
        return out

    def items(self, kind: str) -> dict[str, str]:
        """Id → text of what a vector index of `kind` embeds."""
        if kind == "chunks":
            return {c.id: c.indexed_text() for c in self.chunks}
        if kind == "entities":
            return dict(zip(self.entity_ids, self.entity_names, strict=True))
        if kind in ("propositions", "relations"):
            return {f.id: f.text for f in self.facts if f.kind == kind[:-1]}
        raise ConfigError(f"unknown vector index kind {kind!r}; use one of {VECTOR_KINDS}")

    def retrieved(self, chunk: int, score: float, evidence: tuple[str, ...] = (),
                  paths: tuple[str, ...] = ()) -> RetrievedChunk:
        """The answerer's view of chunk number `chunk`."""
        c = self.chunks[chunk]
        return RetrievedChunk(chunk_id=c.id, doc_id=c.doc_id, text=c.text, score=float(score),
                              evidence=evidence, paths=paths, external_id=c.external_id,
                              title=c.title, page=c.page)


def _page(page_starts: list[int] | None, start: int | None) -> int | None:
    """The 1-based page holding character `start` of a document with pages."""
    if not page_starts or start is None:
        return None
    return max(1, bisect.bisect_right(page_starts, start))


class _FactLoader:
    """Turns the rows of the fact queries into corpus indexes, dropping dangling references."""

    def __init__(self, chunks: list[CorpusChunk], entities: list[dict[str, Any]]) -> None:
        self.chunks = chunks
        self.chunk_index = {c.id: i for i, c in enumerate(chunks)}
        self.entities = entities
        self.entity_index = {r["id"]: i for i, r in enumerate(entities)}
        self.facts: dict[tuple[str, int], Fact] = {}

    def load(self, store) -> RetrievalCorpus:
        mentions = sorted({
            (self.chunk_index[r["chunk"]], self.entity_index[r["entity"]])
            for r in store.query(cypher.RETRIEVAL_MENTIONS).records()
            if r["chunk"] in self.chunk_index and r["entity"] in self.entity_index})
        relations = self._relations(store)
        about = self._proposition_entities(store)
        self._propositions(store, about)
        facts = sorted(self.facts.values(), key=lambda f: f.id)
        names = [r["name"] or r["id"] for r in self.entities]
        return RetrievalCorpus(
            chunks=self.chunks, entity_ids=[r["id"] for r in self.entities], entity_names=names,
            entity_aliases=[tuple(r["aliases"] or ()) for r in self.entities], mentions=mentions,
            relations=relations, facts=facts, proposition_entities=list(about.values()),
            entity_types=[r.get("type") or "ENTITY" for r in self.entities], uri=store.uri)

    def _relations(self, store) -> list[RelationEdge]:
        rows = sorted(store.query(cypher.RETRIEVAL_RELATIONS).records(), key=lambda r: r["id"])
        edges = []
        for r in rows:
            s, o = self.entity_index.get(r["subject"]), self.entity_index.get(r["object"])
            if s is None or o is None:
                continue
            chunk = self.chunk_index.get(r["chunk"], -1)
            predicate = r["predicate"] or "related to"
            edges.append(RelationEdge(s, predicate, o, chunk))
            if chunk >= 0:
                text = " ".join([self.entities[s]["name"] or "", predicate,
                                 self.entities[o]["name"] or ""])
                self._add(Fact(r["id"], text, chunk, tuple(dict.fromkeys((s, o))), "relation"))
        return edges

    def _proposition_entities(self, store) -> dict[str, tuple[int, ...]]:
        about: dict[str, list[int]] = {}
        for r in store.query(cypher.RETRIEVAL_ABOUT).records():
            if r["entity"] in self.entity_index:
                about.setdefault(r["proposition"], []).append(self.entity_index[r["entity"]])
        return {p: tuple(sorted(set(e))) for p, e in sorted(about.items())}

    def _propositions(self, store, about: dict[str, tuple[int, ...]]) -> None:
        for r in store.query(cypher.RETRIEVAL_PROPOSITIONS).records():
            chunk = self.chunk_index.get(r["chunk"])
            if chunk is not None and r["text"]:
                self._add(Fact(r["id"], r["text"], chunk, about.get(r["id"], ()), "proposition"))

    def _add(self, fact: Fact) -> None:
        """Keep one fact per (text, chunk): a repeated statement should not count twice."""
        key = (fact.text.casefold(), fact.chunk)
        kept = self.facts.get(key)
        if kept is None or (fact.kind, fact.id) < (kept.kind, kept.id):
            self.facts[key] = fact


class RetrievalContext:
    """What the retrievers over one store share, each loaded once: corpus, indexes, encoder.

        context = RetrievalContext(store)
        dense = make_retriever("dense", store, context=context)
        graph = make_retriever("graph", store, context=context)   # reuses corpus and vectors

    `cache=False` keeps every index in memory instead of beside a LadybugDB store.
    """

    def __init__(self, store, *, encoder=None, cache: bool = True) -> None:
        self.store = store
        self.cache = cache
        self._encoder = encoder
        self._corpus: RetrievalCorpus | None = None
        self._shared: dict[Hashable, Any] = {}
        self._questions: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def encoder(self):
        """The sentence encoder (MiniLM, shared by the whole process unless one was given)."""
        if self._encoder is None:
            from kgx.embeddings import shared_encoder

            self._encoder = shared_encoder()
        return self._encoder

    def corpus(self) -> RetrievalCorpus:
        """The store's snapshot, read on first call."""
        if self._corpus is None:
            self._corpus = RetrievalCorpus.load(self.store)
        return self._corpus

    def cache_folder(self, name: str) -> Path | None:
        """A folder inside a LadybugDB store for a cached index, or None where there is none."""
        if not self.cache or not isinstance(self.store, LocalFolder):
            return None
        return self.store.cache_folder / name

    def shared(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """`build()` once per key for this context (an index, a graph, a linker)."""
        if key not in self._shared:
            self._shared[key] = build()
        return self._shared[key]

    def vectors(self, kind: str):
        """The vector index of `kind` (chunks, facts, propositions or relations), synced with
        the corpus once; "facts" searches propositions and relations together."""
        from .vectors import MergedVectorIndex, open_vector_index

        if kind == "facts":
            return self.shared(("vectors", kind), lambda: MergedVectorIndex(
                [self.vectors("propositions"), self.vectors("relations")]))

        def build():
            index = open_vector_index(self, kind)
            index.sync(self.corpus().items(kind), self.encoder)
            return index

        return self.shared(("vectors", kind), build)

    def matrix(self, kind: str):
        """The vectors of `kind` as an exact in-memory index (ids and a unit-vector matrix),
        read once from the synced index, for retrievers that score every item."""
        return self.shared(("matrix", kind), lambda: self.vectors(kind).exact_copy())

    def encode(self, question: str) -> np.ndarray:
        """The question's unit vector; recent questions are cached so a hybrid encodes once."""
        vector = self._questions.get(question)
        if vector is None:
            vector = self.encoder.encode([question])[0]
            self._questions[question] = vector
            if len(self._questions) > _QUESTION_CACHE:
                self._questions.popitem(last=False)
        return vector

    def forget_questions(self) -> None:
        """Drop the cached question vectors (benchmarks time each retriever's own encoding)."""
        self._questions.clear()


def check_request(question: str, top_k: int) -> None:
    """Reject an empty question or a non-positive `top_k` with a message saying what to pass."""
    if not isinstance(question, str) or not question.strip():
        raise InputError("the question is empty; pass the text of a question to retrieve for")
    if not isinstance(top_k, int) or top_k < 1:
        raise ConfigError(f"top_k must be a positive integer, got {top_k!r}")
