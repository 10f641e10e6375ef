"""Dense retrieval with MiniLM: the chunks nearest the question, or the chunks of the nearest
facts (propositions and verbalised relations).

    retriever = DenseRetriever(open_store("./kgx-store"))              # over chunks
    facts = DenseRetriever(open_store("./kgx-store"), over="facts")    # facts → their chunks
    retriever.retrieve("Who wrote the first program?", top_k=5)
"""

from __future__ import annotations

from kgx.errors import ConfigError

from .corpus import RetrievalContext, check_request
from .protocol import RetrievedChunk

TARGETS = ("chunks", "facts")
_FACTS_PER_CHUNK = 5  # facts searched per chunk wanted, since several facts share a chunk


class DenseRetriever:
    """Cosine similarity between the question and chunk (or fact) embeddings.

        retriever = DenseRetriever(store, over="chunks")   # no I/O until warm_up()
        retriever.warm_up()                                # embeds what the index lacks
        [hit.chunk_id for hit in retriever.retrieve("Who founded X?", top_k=3)]
    """

    name = "dense"

    def __init__(self, store, *, over: str = "chunks",
                 context: RetrievalContext | None = None) -> None:
        if over not in TARGETS:
            raise ConfigError(f"dense retrieval searches one of {TARGETS}, got over={over!r}")
        self.store = store
        self.over = over
        self.context = context or RetrievalContext(store)
        self._ready = False

    def warm_up(self) -> None:
        """Load the corpus and sync the vector index (only new texts are embedded)."""
        if self._ready:
            return
        self.corpus = self.context.corpus()
        self.index = self.context.vectors(self.over)
        self._ready = True

    def retrieve(self, question: str, top_k: int = 10) -> list[RetrievedChunk]:
        """The `top_k` chunks most similar to the question (through their facts if over facts)."""
        check_request(question, top_k)
        self.warm_up()
        vector = self.context.encode(question)
        if self.over == "chunks":
            return [self.corpus.retrieved(self.corpus.chunk_index[id_], score)
                    for id_, score in self.index.search(vector, top_k)
                    if id_ in self.corpus.chunk_index]
        return self._through_facts(vector, top_k)

    def _through_facts(self, vector, top_k: int) -> list[RetrievedChunk]:
        """Each chunk scores as its best fact, with its matching facts as evidence."""
        best: dict[int, float] = {}
        evidence: dict[int, list[str]] = {}
        for id_, score in self.index.search(vector, top_k * _FACTS_PER_CHUNK):
            position = self.corpus.fact_index.get(id_)
            if position is None:
                continue
            fact = self.corpus.facts[position]
            best.setdefault(fact.chunk, score)
            evidence.setdefault(fact.chunk, []).append(fact.text)
        ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[:top_k]
        return [self.corpus.retrieved(chunk, score, tuple(evidence[chunk]))
                for chunk, score in ranked]
