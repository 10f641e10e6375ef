"""Extractors that misbehave on purpose (slowly, or by killing their process), so a test can
fault the workers of a Ray run."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from kgx.models import Chunk, ChunkExtraction


class _Wrapped:
    """Another extractor's name, version, results, LLM and recorded failures, with `before` run
    ahead of each call and `after` behind it."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.model = getattr(inner, "model", None)

    def __getattr__(self, name: str):
        if name in ("llm", "failures") and "inner" in self.__dict__:
            return getattr(self.inner, name)
        raise AttributeError(name)

    @property
    def version(self) -> str:
        return self.inner.version

    def warm_up(self) -> None:
        self.inner.warm_up()

    def before(self, chunks: Sequence[Chunk]) -> None:
        pass

    def after(self, chunks: Sequence[Chunk]) -> None:
        pass

    def extract(self, chunks: Sequence[Chunk], run_id: str) -> list[ChunkExtraction]:
        self.before(chunks)
        found = self.inner.extract(chunks, run_id)
        self.after(chunks)
        return found


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
    document that kills every worker it is sent to, as one that runs out of memory would.
    With `after_extracting`, it dies once the inner extractor is done (its LLM calls spent)."""

    def __init__(self, inner, marker: str, *, after_extracting: bool = False) -> None:
        super().__init__(inner)
        self.marker = marker
        self.after_extracting = after_extracting

    def before(self, chunks: Sequence[Chunk]) -> None:
        if not self.after_extracting:
            self._die_on_marker(chunks)

    def after(self, chunks: Sequence[Chunk]) -> None:
        if self.after_extracting:
            self._die_on_marker(chunks)

    def _die_on_marker(self, chunks: Sequence[Chunk]) -> None:
        if any(self.marker in chunk.text for chunk in chunks):
            os._exit(1)
