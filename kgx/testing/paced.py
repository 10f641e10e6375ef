"""Extractors that misbehave on purpose (slowly, or by killing their process), so a test can
fault the workers of a Ray run."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from kgx.models import Chunk, ChunkExtraction


class _Wrapped:
    """Another extractor's name, version and results, with `before` run ahead of each call."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.model = getattr(inner, "model", None)

    @property
    def version(self) -> str:
        return self.inner.version

    def warm_up(self) -> None:
        self.inner.warm_up()

    def before(self, chunks: Sequence[Chunk]) -> None:
        raise NotImplementedError

    def extract(self, chunks: Sequence[Chunk], run_id: str) -> list[ChunkExtraction]:
        self.before(chunks)
        return self.inner.extract(chunks, run_id)


class PacedExtractor(_Wrapped):
    """Another extractor (same name and results) that sleeps `seconds` before each call.

        extractor = PacedExtractor(get_extractor("spacy"), seconds=0.3)
    """

    def __init__(self, inner, seconds: float) -> None:
        super().__init__(inner)
        self.seconds = seconds

    def before(self, chunks: Sequence[Chunk]) -> None:
        time.sleep(self.seconds)


class PoisonedExtractor(_Wrapped):
    """Another extractor whose process dies (`os._exit`) on any chunk containing `marker`: a
    document that kills every worker it is sent to, as one that runs out of memory would."""

    def __init__(self, inner, marker: str) -> None:
        super().__init__(inner)
        self.marker = marker

    def before(self, chunks: Sequence[Chunk]) -> None:
        if any(self.marker in chunk.text for chunk in chunks):
            os._exit(1)
