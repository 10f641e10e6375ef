"""Extractors that misbehave on purpose (slowly, or by killing their process), so a test can
fault the workers of a Ray run."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from kgx.models import Chunk, ChunkExtraction


class PacedExtractor:
    """Another extractor (same name and results) that sleeps `seconds` before each call.

        extractor = PacedExtractor(get_extractor("spacy"), seconds=0.3)
    """

    def __init__(self, inner, seconds: float) -> None:
        self.inner = inner
        self.seconds = seconds
        self.name = inner.name
        self.model = getattr(inner, "model", None)

    @property
    def version(self) -> str:
        return self.inner.version

    def warm_up(self) -> None:
        self.inner.warm_up()

    def extract(self, chunks: Sequence[Chunk], run_id: str) -> list[ChunkExtraction]:
        time.sleep(self.seconds)
        return self.inner.extract(chunks, run_id)


class PoisonedExtractor:
    """Another extractor whose process dies (`os._exit`) on any chunk containing `marker`: a
    document that kills every worker it is sent to, as one that runs out of memory would."""

    def __init__(self, inner, marker: str) -> None:
        self.inner = inner
        self.marker = marker
        self.name = inner.name
        self.model = getattr(inner, "model", None)

    @property
    def version(self) -> str:
        return self.inner.version

    def warm_up(self) -> None:
        self.inner.warm_up()

    def extract(self, chunks: Sequence[Chunk], run_id: str) -> list[ChunkExtraction]:
        if any(self.marker in chunk.text for chunk in chunks):
            os._exit(1)
        return self.inner.extract(chunks, run_id)
