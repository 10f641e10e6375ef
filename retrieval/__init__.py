"""Graph retrieval for RAG question answering: dense, BM25, graph, PageRank, HippoRAG 2, hybrid,
Text2Cypher.

    from kgx.retrieval import make_retriever
    retriever = make_retriever("graph", open_store("./kgx-store"))   # no I/O yet
    retriever.warm_up()                                              # loads and indexes
    for hit in retriever.retrieve("Where does the founder of X work?", top_k=5):
        print(hit.external_id, hit.score, hit.paths)

Retrievers over the same store share what they load when given one `RetrievalContext`; a
hybrid shares it among its parts. Importing this package loads nothing heavy.
"""

from __future__ import annotations

import importlib
import inspect

from kgx.errors import ConfigError
from kgx.lazy import lazy_exports

from .protocol import AnswerResult, RetrievedChunk, Retriever

RETRIEVERS = ("dense", "bm25", "graph", "ppr", "hipporag2", "hybrid", "text2cypher")
DEFAULT_RETRIEVER = "hipporag2"
"""What `kgx ask`, `/ask`, the explorer and `kgx mcp` retrieve with unless told: the retriever
that measures best over the check halves of 2Wiki, MuSiQue and HotpotQA
(`benchmarks/retrieval_protocol.py`; docs/retrieval.md)."""

_CLASSES = {
    "dense": ("dense", "DenseRetriever"),
    "bm25": ("bm25", "BM25Retriever"),
    "graph": ("graph", "PropositionGraphRetriever"),
    "ppr": ("ppr", "PersonalizedPageRankRetriever"),
    "hipporag2": ("hipporag2", "HippoRAG2Retriever"),
    "hybrid": ("hybrid", "HybridRetriever"),
    "text2cypher": ("text2cypher", "Text2CypherRetriever"),
}

_LAZY = {
    **{cls: module for module, cls in _CLASSES.values()},
    "RetrievalContext": "corpus", "RetrievalCorpus": "corpus", "CorpusChunk": "corpus",
    "Fact": "corpus", "EntityLinker": "linking", "LinkedEntity": "linking",
    "EntityGraph": "graph", "RandomWalk": "ppr", "BM25Index": "bm25", "rrf_fuse": "hybrid",
    "GraphAnswerer": "graph_answer", "question_shape": "questions",
    "LocalVectorIndex": "vectors", "Neo4jVectorIndex": "vectors",
    "ExactVectorIndex": "vectors", "open_vector_index": "vectors",
}

__all__ = ["DEFAULT_RETRIEVER", "RETRIEVERS", "AnswerResult", "RetrievedChunk", "Retriever",
           "make_retriever", *sorted(_LAZY)]

__getattr__ = lazy_exports("kgx.retrieval", _LAZY)


def make_retriever(name: str, store, *, llm=None, **options) -> Retriever:
    """The retriever called `name` over `store`, configured by `options`; nothing loads yet.

    `llm` is required by "text2cypher" (and a hybrid fusing it). Options are the keyword
    arguments of the retriever's class, e.g. `make_retriever("dense", store, over="facts")`;
    `context=RetrievalContext(store)` shares one corpus and its indexes between retrievers.
    """
    if name not in _CLASSES:
        raise ConfigError(f"unknown retriever {name!r}; choose one of: {', '.join(RETRIEVERS)}")
    module, class_name = _CLASSES[name]
    cls = getattr(importlib.import_module(f"kgx.retrieval.{module}"), class_name)
    accepted = _options(cls)
    if name == "text2cypher":
        if llm is None:
            raise ConfigError("the text2cypher retriever needs an LLM to write Cypher; pass "
                              "llm=… (CLI: --llm), or pick another retriever")
        if accepted is not None:
            accepted.discard("llm")
    unknown = sorted(set(options) - accepted) if accepted is not None else []
    if unknown:
        raise ConfigError(f"retriever {name!r} has no option {', '.join(map(repr, unknown))}; "
                          f"its options are: {', '.join(sorted(accepted)) or 'none'}")
    if name == "text2cypher":
        return cls(store, llm, **options)
    if accepted is None or "llm" in accepted:  # hybrid, hipporag2: an optional LLM
        options.setdefault("llm", llm)
    return cls(store, **options)


def _options(cls) -> set[str] | None:
    """The keyword options a retriever class takes (None if it takes any)."""
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.name != "store"
            and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
