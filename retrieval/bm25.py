"""BM25 over chunk texts (with their document titles), with bm25s.

The index is built at warm-up. Beside a LadybugDB store it is cached in `<store>/bm25/<key>/`,
where the key hashes the chunk ids and the parameters: a store that changed gets a new key, and
the folder is written under a temporary name and renamed, so a crash never leaves half an index.

    retriever = BM25Retriever(open_store("./kgx-store"))
    retriever.retrieve("Which valve has part number QZ-4471?", top_k=5)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from kgx.errors import ConfigError, require

from .corpus import RetrievalContext, RetrievalCorpus, check_request
from .protocol import RetrievedChunk
from .vectors import top_scores

log = logging.getLogger("kgx.retrieval")
FORMAT = 1


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-cased word tokens without English stop words (no stemming: no extra dependency)."""
    bm25s = require("bm25s", "local")
    return bm25s.tokenize(texts, stopwords="en", return_ids=False, show_progress=False)


class BM25Index:
    """A bm25s index over a corpus's chunks, in corpus order.

        index = BM25Index.build(corpus, cache=Path("kgx-store/bm25"))
        index.search("part number QZ-4471", k=5)    # [(chunk position, score), ...]
    """

    def __init__(self, model) -> None:
        self.model = model

    @classmethod
    def build(cls, corpus: RetrievalCorpus, *, k1: float = 1.5, b: float = 0.75,
              cache: Path | None = None) -> BM25Index:
        """Load the cached index for this corpus, or index it (and cache it if asked)."""
        bm25s = require("bm25s", "local")
        key = _key(corpus, k1, b)
        folder = cache / key if cache is not None else None
        if folder is not None and (folder / "chunk_ids.json").exists():
            try:
                model = bm25s.BM25.load(str(folder), load_vocab=True, show_progress=False)
                ids = json.loads((folder / "chunk_ids.json").read_text(encoding="utf-8"))
                if ids == [c.id for c in corpus.chunks]:
                    return cls(model)
            except (OSError, ValueError) as e:
                log.warning("cannot read the BM25 index in %s (%s); rebuilding it", folder, e)
        model = bm25s.BM25(k1=k1, b=b)
        model.index(tokenize([c.indexed_text() for c in corpus.chunks]), show_progress=False)
        if cache is not None:
            _save(model, corpus, cache, key)
        return cls(model)

    def search(self, question: str, k: int) -> list[tuple[int, float]]:
        """Chunk positions and BM25 scores of the best `k` chunks sharing a word with `question`."""
        words = [w for w in tokenize([question])[0] if w in self.model.vocab_dict]
        if not words:
            return []
        scores = np.asarray(self.model.get_scores(words), dtype=np.float32)
        return [(i, s) for i, s in top_scores(scores, k) if s > 0]


def _key(corpus: RetrievalCorpus, k1: float, b: float) -> str:
    digest = hashlib.blake2b(digest_size=12)
    digest.update(f"{FORMAT}|{k1}|{b}".encode())
    for chunk in corpus.chunks:  # chunk ids derive from content, titles included via doc ids
        digest.update(b"\x1f" + chunk.id.encode())
    return digest.hexdigest()


def _save(model, corpus: RetrievalCorpus, cache: Path, key: str) -> None:
    """Write under a temporary name, rename into place, then remove older indexes."""
    tmp = cache / f"{key}.{os.getpid()}.tmp"
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        model.save(str(tmp), show_progress=False)
        (tmp / "chunk_ids.json").write_text(json.dumps([c.id for c in corpus.chunks]),
                                            encoding="utf-8")
        shutil.rmtree(cache / key, ignore_errors=True)  # a stale copy with other chunk ids
        os.replace(tmp, cache / key)
    except OSError as e:
        log.warning("cannot cache the BM25 index in %s (%s); it stays in memory", cache, e)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    for old in cache.iterdir():
        if old.name != key:
            with contextlib.suppress(OSError):
                shutil.rmtree(old)


class BM25Retriever:
    """Lexical retrieval: bm25s scores of the question's words over chunk texts.

        retriever = BM25Retriever(store)       # no I/O until warm_up()
        retriever.retrieve("QZ-4471 valve", top_k=3)

    A question sharing no word with the corpus gets no chunks.
    """

    name = "bm25"

    def __init__(self, store, *, k1: float = 1.5, b: float = 0.75, cache: bool = True,
                 context: RetrievalContext | None = None) -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise ConfigError(f"bm25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.store = store
        self.k1, self.b, self.cache = k1, b, cache
        self.context = context or RetrievalContext(store)
        self._ready = False

    def warm_up(self) -> None:
        """Load the corpus and its BM25 index (from the cache beside the store when fresh)."""
        if self._ready:
            return
        self.corpus = self.context.corpus()
        cache = self.context.cache_folder("bm25") if self.cache else None
        self.index = self.context.shared(
            ("bm25", self.k1, self.b),
            lambda: BM25Index.build(self.corpus, k1=self.k1, b=self.b, cache=cache))
        self._ready = True

    def retrieve(self, question: str, top_k: int = 10) -> list[RetrievedChunk]:
        """The `top_k` chunks with the highest BM25 score."""
        check_request(question, top_k)
        self.warm_up()
        return [self.corpus.retrieved(chunk, score)
                for chunk, score in self.index.search(question, top_k)]
