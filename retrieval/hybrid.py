"""Reciprocal rank fusion (RRF) of several retrievers: each chunk scores Σ 1 / (k + rank).

    retriever = HybridRetriever(open_store("./kgx-store"), retrievers=("dense", "bm25", "graph"))
    retriever.retrieve("Where does the founder of Les Films du Losange work?", top_k=5)
"""

from __future__ import annotations

from collections.abc import Sequence

from kgx.errors import ConfigError

from .corpus import RetrievalContext, check_request
from .protocol import RetrievedChunk, Retriever

DEFAULT_PARTS = ("dense", "bm25", "hipporag2")
RRF_K = 60


def rrf_fuse(rankings: Sequence[Sequence[RetrievedChunk]], k: int = RRF_K,
             top_k: int | None = None) -> list[RetrievedChunk]:
    """Fuse ranked lists: a chunk's score is Σ 1 / (k + rank) over the lists it is in (rank 1
    first); its evidence and paths are gathered from every list, in list order."""
    scores: dict[str, float] = {}
    first: dict[str, RetrievedChunk] = {}
    evidence: dict[str, dict[str, None]] = {}
    paths: dict[str, dict[str, None]] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + 1.0 / (k + rank)
            first.setdefault(hit.chunk_id, hit)
            evidence.setdefault(hit.chunk_id, {}).update(dict.fromkeys(hit.evidence))
            paths.setdefault(hit.chunk_id, {}).update(dict.fromkeys(hit.paths))
    order = sorted(scores, key=lambda c: (-scores[c], c))[:top_k]
    return [first[c].model_copy(update={"score": scores[c], "evidence": tuple(evidence[c]),
                                        "paths": tuple(paths[c])}) for c in order]


class HybridRetriever:
    """Several retrievers fused by RRF; they share one corpus snapshot and vector indexes.

        retriever = HybridRetriever(store, retrievers=("dense", "graph"))   # no I/O yet
        retriever.retrieve("Who founded X?", top_k=5)

    `retrievers` holds names (built with `make_retriever`, sharing this retriever's context)
    or ready Retriever objects; each contributes its best `depth` chunks to the fusion.
    """

    name = "hybrid"

    def __init__(self, store, *, retrievers: Sequence[str | Retriever] = DEFAULT_PARTS,
                 rrf_k: int = RRF_K, depth: int = 50, llm=None,
                 context: RetrievalContext | None = None) -> None:
        from . import RETRIEVERS

        if not retrievers:
            raise ConfigError("hybrid retrieval needs at least one retriever to fuse")
        for part in retrievers:
            if (isinstance(part, str) and part not in RETRIEVERS) or part == "hybrid":
                known = ", ".join(r for r in RETRIEVERS if r != "hybrid")
                raise ConfigError(f"hybrid cannot fuse {part!r}; choose among: {known}")
        if rrf_k < 0 or depth < 1:
            raise ConfigError(f"hybrid needs rrf_k >= 0 and depth >= 1, got {rrf_k}, {depth}")
        self.store = store
        self.rrf_k, self.depth, self.llm = rrf_k, depth, llm
        self.context = context or RetrievalContext(store)
        self.parts = [self._part(p) for p in retrievers]

    def _part(self, part: str | Retriever) -> Retriever:
        if not isinstance(part, str):
            return part
        from . import make_retriever

        if part == "text2cypher":
            return make_retriever(part, self.store, llm=self.llm)
        return make_retriever(part, self.store, context=self.context)

    def warm_up(self) -> None:
        """Warm up every part (the shared corpus and indexes load once)."""
        for part in self.parts:
            part.warm_up()

    def retrieve(self, question: str, top_k: int = 10) -> list[RetrievedChunk]:
        """The fused ranking of every part's best `depth` (at least `top_k`) chunks."""
        check_request(question, top_k)
        depth = max(self.depth, top_k)
        return rrf_fuse([part.retrieve(question, depth) for part in self.parts], self.rrf_k,
                        top_k)
