"""Where the extraction stages run: in this process (`LocalEngine`) or on a Ray cluster.

The pipeline (`kgx.pipeline.extract_corpus`) is one definition for every engine. An engine only
decides where documents are read and chunked and where the extractor runs; the driver process
always resolves entities and writes each batch, with its completion marks, in one store
transaction. So resume, idempotent re-runs and provenance are the same on every engine.

    extract_corpus(paths, store, config)                          # LocalEngine
    extract_corpus(paths, store, config, engine="ray")            # a local Ray, one actor a CPU
    extract_corpus(paths, store, config, engine=RayEngine(address="ray://head:10001", workers=8))
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from kgx.batching import CommitPolicy, Work, close_batches
from kgx.chunking import chunk_document
from kgx.errors import ConfigError
from kgx.ingest import IngestResult, read_documents
from kgx.models import Chunk, ChunkExtraction, Document

ENGINES = ("local", "ray")

Batches = Iterator[tuple[list[Work], list[ChunkExtraction]]]


class Engine(Protocol):
    """Runs the read, chunk and extract stages of one run; the driver writes what it yields."""

    def read(self, paths: Sequence[str | Path], config) -> IngestResult:
        """The documents under `paths` and the inputs skipped, in input order."""
        ...

    def chunks(self, document: Document, max_tokens: int) -> list[Chunk]:
        """The chunks of one document (the same on every engine)."""
        ...

    def extractor(self, extractor, config):
        """The extractor the driver accounts with; `extractor` is None for `config`'s own."""
        ...

    def batches(self, work: list[Work], extractor, policy: CommitPolicy,
                run_id: str) -> Batches:
        """Each batch of `work` (whole documents, in order) with one extraction per chunk."""
        ...

    def close(self) -> None:
        """Release workers; the engine can be used again afterwards."""
        ...


class LocalEngine:
    """Every stage in this process, one batch after the other (the default)."""

    def read(self, paths: Sequence[str | Path], config) -> IngestResult:
        return read_documents(paths, max_bytes=config.max_bytes, options=config.input)

    def chunks(self, document: Document, max_tokens: int) -> list[Chunk]:
        return chunk_document(document, max_tokens=max_tokens)

    def extractor(self, extractor, config):
        from kgx.pipeline import make_extractor

        return extractor or make_extractor(config)

    def batches(self, work: list[Work], extractor, policy: CommitPolicy,
                run_id: str) -> Batches:
        return close_batches(work, policy, lambda chunks: extractor.extract(chunks, run_id))

    def close(self) -> None:
        pass


def get_engine(engine: str | Engine | None) -> Engine:
    """The engine `engine` names ("local" or "ray", the latter with its defaults), or itself."""
    if engine is None or engine == "local":
        return LocalEngine()
    if engine == "ray":
        from kgx.ray_engine import RayEngine

        return RayEngine()
    if isinstance(engine, str):
        raise ConfigError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    return engine
