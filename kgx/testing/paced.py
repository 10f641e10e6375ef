"""An extractor slowed to a known pace, so a test can kill a worker in the middle of a run."""

from __future__ import annotations

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
