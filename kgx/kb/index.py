"""Retrieval over the knowledge base: the top-k entries for a new problem, by BM25 or MiniLM.

NesyCD gives the student the top-3 entries; ties are broken by the entries' order (id order
when they come from `load_entries`), so a search always returns the same list.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from kgx.errors import ConfigError, InputError, require
from kgx.kb.entries import KnowledgeEntry

Method = Literal["bm25", "dense"]
METHODS = ("bm25", "dense")


@dataclass(frozen=True)
class ScoredEntry:
    """An entry and its similarity to the query (BM25 score, or cosine for dense)."""

    entry: KnowledgeEntry
    score: float


class KBIndex:
    """Top-k knowledge entries for a problem text; the index is built on first use.

        index = KBIndex(load_entries(store), method="bm25")
        [best, *_] = index.search("Janet's ducks lay 16 eggs per day...", k=3)
        best.entry.summary, best.score
    """

    def __init__(self, entries: Sequence[KnowledgeEntry], method: Method = "bm25",
                 encoder=None) -> None:
        if method not in METHODS:
            raise ConfigError(f"unknown retrieval method {method!r}; use one of "
                              f"{', '.join(METHODS)}.")
        if not entries:
            raise InputError("the knowledge base is empty: build it with `kgx kb build "
                             "PROBLEMS.jsonl` or load one with `kgx kb import FILE.jsonl`.")
        self.entries = list(entries)
        self.method = method
        self._encoder = encoder
        """A `SentenceEncoder` for dense search; the shared MiniLM one when None."""
        self._bm25 = None
        self._vectors = None

    def warm_up(self) -> None:
        """Build the index now instead of on the first search."""
        texts = [entry.retrieval_text() for entry in self.entries]
        if self.method == "bm25" and self._bm25 is None:
            bm25s = _bm25s()
            self._bm25 = bm25s.BM25()
            self._bm25.index(bm25s.tokenize(texts, stopwords="en", show_progress=False),
                             show_progress=False)
        elif self.method == "dense" and self._vectors is None:
            self._vectors = self._dense_encoder().encode(texts)

    def search(self, query: str, k: int = 3) -> list[ScoredEntry]:
        """The `k` entries most similar to `query`, best first."""
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[str], k: int = 3) -> list[list[ScoredEntry]]:
        """`search` for each query, in one pass over the index."""
        if k < 1:
            raise ConfigError(f"top-k must be at least 1, got {k}.")
        self.warm_up()
        scores = self._bm25_scores(queries) if self.method == "bm25" else self._cosines(queries)
        return [self._top(row, k) for row in scores]

    def _top(self, scores: Sequence[float], k: int) -> list[ScoredEntry]:
        order = sorted(range(len(self.entries)), key=lambda i: (-scores[i], i))[:k]
        return [ScoredEntry(self.entries[i], float(scores[i])) for i in order]

    def _bm25_scores(self, queries: Sequence[str]) -> list[list[float]]:
        tokens = _bm25s().tokenize(list(queries), stopwords="en", return_ids=False,
                                   show_progress=False)
        empty = [0.0] * len(self.entries)
        return [list(self._bm25.get_scores(t)) if t else empty for t in tokens]

    def _cosines(self, queries: Sequence[str]) -> list[list[float]]:
        vectors = self._dense_encoder().encode(list(queries))
        return (vectors @ self._vectors.T).tolist()

    def _dense_encoder(self):
        if self._encoder is None:
            from kgx.embeddings import shared_encoder

            self._encoder = shared_encoder()
        return self._encoder


def _bm25s():
    bm25s = require("bm25s", "local")
    # bm25s sets its own logger to DEBUG on import, which would print to every CLI run.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s
