"""Vector indexes over chunk and fact texts, kept in step with the store.

A LadybugDB store keeps an hnswlib index per kind in `<store>/vectors/<kind>/`; warming up embeds
only the ids the index lacks and drops those the store no longer has. Every save writes a new
generation of files and then swaps `manifest.json` atomically, so a crash leaves the previous
index intact. Neo4j gets a native vector index on an `embedding` property instead, and stores
without a folder an exact in-memory one.

    index = open_vector_index(context, "chunks")
    index.sync({"chk_1": "Ada wrote the first program."}, shared_encoder())
    index.search(shared_encoder().encode(["Who wrote it?"])[0], k=5)   # [("chk_1", 0.61)]
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from kgx.errors import require
from kgx.graphdb import NativeVectorIndexes

log = logging.getLogger("kgx.retrieval")

DIMENSIONS = 384  # all-MiniLM-L6-v2
FORMAT = 1
EXACT_BELOW = 2_000  # fewer live vectors than this are searched exactly
_COMPACT_SHARE = 0.25  # rebuild the hnswlib graph once this share of its slots is deleted
_WRITE_ROWS = 1_000
_SAVE_EVERY = 8_192  # texts embedded between saves of a local index


class VectorIndex(Protocol):
    """Cosine search over the unit vectors of some texts, keyed by graph ids."""

    embedded: int
    """Texts embedded by the last `sync` (the incremental cost)."""
    dropped: int
    """Ids removed by the last `sync` because the store no longer has them."""

    def sync(self, items: Mapping[str, str], encoder) -> None:
        """Make the index hold exactly `items` (id → text), embedding only what it lacks."""

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The `k` nearest ids with their cosine similarity, best first."""

    def exact_copy(self) -> ExactVectorIndex:
        """Every id and its vector, in memory (for scoring all items at once)."""


def open_vector_index(context, kind: str) -> VectorIndex:
    """The index of `kind` for the context's store: native on Neo4j, else a local folder."""
    if isinstance(context.store, NativeVectorIndexes):
        return Neo4jVectorIndex(context.store, kind)
    folder = context.cache_folder("vectors")
    if folder is None:
        return ExactVectorIndex()
    return LocalVectorIndex(folder / kind, model=getattr(context.encoder, "name", "unknown"))


class ExactVectorIndex:
    """An in-memory matrix searched with one matrix product; for small or uncached corpora."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.matrix = np.zeros((0, DIMENSIONS), dtype=np.float32)
        self.embedded = self.dropped = 0

    def sync(self, items: Mapping[str, str], encoder) -> None:
        keep = [i for i, id_ in enumerate(self.ids) if id_ in items]
        known = set(self.ids)
        new = [id_ for id_ in items if id_ not in known]
        self.dropped = len(self.ids) - len(keep)
        self.embedded = len(new)
        vectors = encode_texts(encoder, [items[i] for i in new])
        self.ids = [self.ids[i] for i in keep] + new
        self.matrix = np.concatenate([self.matrix[keep], vectors]).astype(np.float32)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        return [(self.ids[i], s) for i, s in top_scores(self.matrix @ vector, k)]

    def exact_copy(self) -> ExactVectorIndex:
        return self


def encode_texts(encoder, texts: Sequence[str]) -> np.ndarray:
    """One vector per text, each distinct text encoded once (repeated passages, facts)."""
    unique = list(dict.fromkeys(texts))
    if not unique:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = np.asarray(encoder.encode(unique), dtype=np.float32)
    if len(unique) == len(texts):
        return vectors
    row = {text: i for i, text in enumerate(unique)}
    return vectors[[row[text] for text in texts]]


def aligned_matrix(vectors: ExactVectorIndex, index: Mapping[str, int]) -> np.ndarray:
    """The rows of an exact index reordered to positions `index` gives (zeros for ids it
    lacks)."""
    matrix = np.zeros((len(index), vectors.matrix.shape[1]), dtype=np.float32)
    for row, id_ in enumerate(vectors.ids):
        position = index.get(id_)
        if position is not None:
            matrix[position] = vectors.matrix[row]
    return matrix


def top_scores(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Positions and values of the `k` largest scores, best first (ties: lower position)."""
    k = min(k, len(scores))
    if k <= 0:
        return []
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    order = part[np.lexsort((part, -scores[part]))]
    return [(int(i), float(scores[i])) for i in order]


class LocalVectorIndex:
    """An hnswlib index persisted in `folder`, updated incrementally and saved atomically.

        index = LocalVectorIndex(Path("kgx-store/vectors/chunks"), model="all-MiniLM-L6-v2")
        index.sync(items, encoder)    # loads the saved index, embeds what is new, saves
    """

    def __init__(self, folder: Path, *, model: str, m: int = 16, ef_construction: int = 200,
                 ef_search: int = 100) -> None:
        self.folder = folder
        self.model = model
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self.ids: list[str | None] = []  # slot (hnswlib label) → id; None once deleted
        self._index = None
        self._exact: ExactVectorIndex | None = None
        self._generation = ""
        self.embedded = self.dropped = 0
        self.live = 0
        """How many ids the index holds, as of the last `sync`."""

    def sync(self, items: Mapping[str, str], encoder) -> None:
        self._load()
        known = {id_: slot for slot, id_ in enumerate(self.ids) if id_ is not None}
        gone = [slot for id_, slot in known.items() if id_ not in items]
        new = [id_ for id_ in items if id_ not in known]
        self.embedded, self.dropped = len(new), len(gone)
        if gone:
            for slot in gone:
                self._index.mark_deleted(slot)
                self.ids[slot] = None
            if self.ids.count(None) > _COMPACT_SHARE * len(self.ids):
                self._compact()
            self._save()
        if new:
            log.info("embedding %d new texts into %s", len(new), self.folder)
            new.sort(key=items.__getitem__)  # equal texts side by side: each part embeds one
        for start in range(0, len(new), _SAVE_EVERY):  # a long first build saves as it goes
            part = new[start:start + _SAVE_EVERY]
            self._add(part, encode_texts(encoder, [items[i] for i in part]))
            self._save()
        self.live = len(self.ids) - self.ids.count(None)
        self._exact = self.exact_copy() if self.live < EXACT_BELOW else None

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        k = min(k, self.live)
        if k <= 0:
            return []
        if self._exact is not None:
            return self._exact.search(vector, k)
        self._index.set_ef(max(self.ef_search, k))
        try:
            labels, distances = self._index.knn_query(vector[None, :], k=k, num_threads=1)
        except RuntimeError:  # too few reachable live neighbours after many deletions
            self._exact = self.exact_copy()
            return self._exact.search(vector, k)
        return [(self.ids[label], 1.0 - float(d))
                for label, d in zip(labels[0], distances[0], strict=True)
                if self.ids[label] is not None]

    def _new_index(self, capacity: int):
        hnswlib = require("hnswlib", "local")
        index = hnswlib.Index(space="ip", dim=DIMENSIONS)
        index.init_index(max_elements=max(capacity, 16), ef_construction=self.ef_construction,
                         M=self.m, random_seed=7)
        return index

    def _add(self, new: list[str], vectors: np.ndarray) -> None:
        needed = len(self.ids) + len(new)
        if needed > self._index.get_max_elements():
            self._index.resize_index(max(needed, 2 * self._index.get_max_elements()))
        self._index.add_items(vectors, np.arange(len(self.ids), needed))
        self.ids.extend(new)

    def _compact(self) -> None:
        """Rebuild from the live vectors, so deleted slots stop slowing the search."""
        slots = [slot for slot, id_ in enumerate(self.ids) if id_ is not None]
        vectors = np.asarray(self._index.get_items(slots), dtype=np.float32) if slots else None
        ids = [self.ids[slot] for slot in slots]
        self._index, self.ids = self._new_index(len(ids)), []
        if ids:
            self._add(ids, vectors)

    def exact_copy(self) -> ExactVectorIndex:
        """The live vectors as an exact in-memory index."""
        exact = ExactVectorIndex()
        slots = [slot for slot, id_ in enumerate(self.ids) if id_ is not None]
        if slots:
            exact.ids = [self.ids[slot] for slot in slots]
            exact.matrix = np.asarray(self._index.get_items(slots), dtype=np.float32)
        return exact

    # -- files: manifest.json names the current generation of index-*.bin and ids-*.json ----

    def _load(self) -> None:
        if self._index is None:
            saved = self._read_saved()
            if saved is None:
                self._index, self.ids = self._new_index(1024), []
            else:
                self._index, self.ids, self._generation = saved

    def _read_saved(self):
        """(index, ids, generation) of the saved index, or None if none is usable."""
        manifest = _read_json(self.folder / "manifest.json")
        if manifest is None:
            return None
        if (manifest.get("format"), manifest.get("model"), manifest.get("dimensions")) != (
                FORMAT, self.model, DIMENSIONS):
            log.info("vector index %s was built differently; rebuilding it", self.folder)
            return None
        generation = manifest.get("generation", "")
        index_file = self.folder / f"index-{generation}.bin"
        ids = _read_json(self.folder / f"ids-{generation}.json")
        # hnswlib trusts the file it loads (a damaged one crashes the process): check it first.
        if not isinstance(ids, list) or _digest(index_file) != manifest.get("digest"):
            log.warning("the vector index in %s is missing or damaged; rebuilding it", self.folder)
            return None
        index = require("hnswlib", "local").Index(space="ip", dim=DIMENSIONS)
        index.load_index(str(index_file), max_elements=max(len(ids), 16))
        if index.get_current_count() != len(ids):
            log.warning("the vector index in %s does not match its ids; rebuilding it",
                        self.folder)
            return None
        return index, ids, generation

    def _save(self) -> None:
        generation = f"{time.time_ns():x}-{os.getpid()}"
        previous = self._generation
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            index_file = self.folder / f"index-{generation}.bin"
            self._index.save_index(str(index_file))
            _fsync(index_file)
            _write_atomic(self.folder / f"ids-{generation}.json", json.dumps(self.ids))
            _write_atomic(self.folder / "manifest.json", json.dumps({
                "format": FORMAT, "model": self.model, "dimensions": DIMENSIONS,
                "generation": generation, "digest": _digest(index_file)}))
        except OSError as e:
            log.warning("cannot save the vector index in %s (%s); it stays in memory",
                        self.folder, e)
            return
        self._generation = generation
        self._remove_stale(previous)

    def _remove_stale(self, previous: str | None) -> None:
        """Delete the generation just replaced, and leftovers of crashed saves an hour old."""
        hour_ago = time.time() - 3600
        for path in self.folder.iterdir():
            if path.name == "manifest.json" or self._generation in path.name:
                continue
            with contextlib.suppress(OSError):
                if (previous and previous in path.name) or path.stat().st_mtime < hour_ago:
                    path.unlink()


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.warning("cannot read %s (%s); the index is rebuilt", path, e)
        return None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _digest(path: Path) -> str | None:
    """BLAKE2b of a file's bytes, or None if it cannot be read."""
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


# -- Neo4j: native vector indexes on an `embedding` property -----------------------------------


class Neo4jVectorIndex:
    """A store's native vector index (Neo4j): missing embeddings are written as properties,
    then queried natively; the Cypher is the store's (graphdb/neo4j_queries.py).

    Deleted nodes take their embedding with them, so only additions cost anything.
    """

    def __init__(self, store: NativeVectorIndexes, kind: str) -> None:
        self.store = store
        self.kind = kind
        self.embedded = self.dropped = 0

    def sync(self, items: Mapping[str, str], encoder) -> None:
        done = self.store.embedded_ids(self.kind)
        new = [id_ for id_ in items if id_ not in done]
        self.embedded, self.dropped = len(new), 0
        for start in range(0, len(new), _WRITE_ROWS * 4):
            part = new[start:start + _WRITE_ROWS * 4]
            self._write(part, encode_texts(encoder, [items[i] for i in part]))
        self.store.ensure_vector_index(self.kind)

    def _write(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        rows = [{"id": id_, "vector": vector.tolist()}
                for id_, vector in zip(ids, vectors, strict=True)]
        for start in range(0, len(rows), _WRITE_ROWS):
            self.store.write_embeddings(self.kind, rows[start:start + _WRITE_ROWS])

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        if k <= 0:
            return []
        return self.store.vector_search(self.kind, vector.tolist(), k)

    def exact_copy(self) -> ExactVectorIndex:
        """The stored embeddings, sorted by id, as an exact in-memory index."""
        rows = self.store.embeddings(self.kind)
        exact = ExactVectorIndex()
        if rows:
            exact.ids = [id_ for id_, _ in rows]
            exact.matrix = np.asarray([vector for _, vector in rows], dtype=np.float32)
        return exact


class MergedVectorIndex:
    """Several indexes searched as one (propositions and relations make the facts)."""

    def __init__(self, parts: Sequence[VectorIndex]) -> None:
        self.parts = list(parts)

    @property
    def embedded(self) -> int:
        return sum(part.embedded for part in self.parts)

    @property
    def dropped(self) -> int:
        return sum(part.dropped for part in self.parts)

    def sync(self, items: Mapping[str, str], encoder) -> None:
        raise NotImplementedError("sync each part; a merged index does not know which is which")

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        hits = [hit for part in self.parts for hit in part.search(vector, k)]
        return heapq.nlargest(k, hits, key=lambda hit: hit[1])

    def exact_copy(self) -> ExactVectorIndex:
        exact = ExactVectorIndex()
        copies = [part.exact_copy() for part in self.parts]
        exact.ids = [id_ for copy in copies for id_ in copy.ids]
        exact.matrix = np.concatenate([copy.matrix for copy in copies]).astype(np.float32)
        return exact
