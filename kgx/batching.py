"""When the pipeline writes: a batch closes after N documents or T seconds, whichever comes first.

Extractors with an LLM are slow (seconds to minutes a chunk on a CPU), so they commit small
batches often: a crash or kill then loses at most about a minute of extraction. spaCy is fast and
writes faster in big batches, so it keeps 128 documents a batch and no time limit.

    policy = commit_policy(extractor, documents=None, seconds=None)   # the extractor's defaults
    for items, extractions in close_batches(work, policy, extract):
        store.upsert(...)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from kgx.errors import ConfigError
from kgx.models import Chunk, ChunkExtraction, Document

BULK_DOCUMENTS = 128
"""Documents per batch of extractors without an LLM (spaCy)."""
LLM_DOCUMENTS = 16
LLM_SECONDS = 60.0
"""An LLM extractor's batch closes after this many documents or seconds."""
BULK_CHUNKS_PER_CALL = 64
"""Chunks per extract call of a model-free extractor given a time limit."""


@dataclass(frozen=True)
class CommitPolicy:
    """How big a batch grows before it is written, and how many chunks one extract call gets."""

    documents: int
    seconds: float | None
    chunks_per_call: int | None
    """None: the whole batch in one call (what spaCy's nlp.pipe likes best)."""


@dataclass(frozen=True)
class Work:
    """One document to extract: the chunks to send, and whether writing them finishes it
    (False when only its failed chunks are retried)."""

    document: Document
    chunks: list[Chunk]
    completes: bool = True


def commit_policy(extractor, documents: int | None = None,
                  seconds: float | None = None) -> CommitPolicy:
    """The batch limits for `extractor`: the given ones, else its kind's defaults."""
    llm = getattr(extractor, "llm", None)
    if llm is None:
        per_call = None if seconds is None else BULK_CHUNKS_PER_CALL
        return CommitPolicy(documents or BULK_DOCUMENTS, seconds, per_call)
    per_call = chunks_per_call(llm)
    return CommitPolicy(documents or max(LLM_DOCUMENTS, per_call),
                        LLM_SECONDS if seconds is None else seconds, per_call)


def chunks_per_call(llm) -> int:
    """Chunks one extract call sends: what the backend runs at once (a transformers batch,
    HTTP requests in flight, llama.cpp's batch slots), 1 for backends that run one request at
    a time."""
    backend = getattr(llm, "backend", llm)
    for attribute in ("batch_size", "concurrency"):
        value = getattr(backend, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    return 1


Extract = Callable[[Sequence[Chunk]], list[ChunkExtraction]]


def close_batches(work: Iterable[Work], policy: CommitPolicy,
                  extract: Extract) -> Iterator[tuple[list[Work], list[ChunkExtraction]]]:
    """Extract `work` in calls of about `policy.chunks_per_call` chunks (whole documents), and
    yield each batch, with one extraction per chunk, as soon as it is full or old enough."""
    batch: list[Work] = []
    found: list[ChunkExtraction] = []
    group: list[Work] = []
    opened = time.monotonic()
    for item in work:
        group.append(item)
        if not _group_full(group, policy, len(batch)):
            continue
        if not batch:
            opened = time.monotonic()
        batch, found = batch + group, found + _extract_checked(group, extract)
        group = []
        if _batch_closes(batch, policy, opened):
            yield batch, found
            batch, found = [], []
    if group:
        batch, found = batch + group, found + _extract_checked(group, extract)
    if batch:
        yield batch, found


def _group_full(group: list[Work], policy: CommitPolicy, in_batch: int) -> bool:
    if in_batch + len(group) >= policy.documents:
        return True
    return (policy.chunks_per_call is not None
            and sum(len(w.chunks) for w in group) >= policy.chunks_per_call)


def _batch_closes(batch: list[Work], policy: CommitPolicy, opened: float) -> bool:
    if len(batch) >= policy.documents:
        return True
    return policy.seconds is not None and time.monotonic() - opened >= policy.seconds


def _extract_checked(group: list[Work], extract: Extract) -> list[ChunkExtraction]:
    chunks = [chunk for item in group for chunk in item.chunks]
    extractions = extract(chunks) if chunks else []
    if len(extractions) != len(chunks):
        raise ConfigError(f"the extractor returned {len(extractions)} results for "
                          f"{len(chunks)} chunks; it must return one per chunk")
    return extractions
