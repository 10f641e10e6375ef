"""The `Extractor` protocol: what every entity and relation extractor looks like to kgx.

An implementation needs no base class; it satisfies the protocol by shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from kgx.models import Chunk, ChunkExtraction

if TYPE_CHECKING:
    from kgx.llm.protocol import Metered
    from kgx.llm.types import LLMRequest


@runtime_checkable
class Extractor(Protocol):
    """Turns chunks into entities, relations and propositions, with provenance on every fact.

        >>> extractor = get_extractor("spacy")        # doctest: +SKIP
        >>> extractor.warm_up()                        # doctest: +SKIP
        >>> results = extractor.extract(chunks, run_id="run-1")  # doctest: +SKIP
        >>> [r.chunk_id for r in results] == [c.id for c in chunks]  # doctest: +SKIP
        True
    """

    name: str
    """Versioned name stored with every fact, e.g. "spacy.svo.v1"; new behaviour, new version."""

    version: str
    """Versions of the code and model behind it, e.g. "spacy-3.8.7/en_core_web_sm-3.8.0"."""

    model: str | None
    """The model it runs, or None for a model-free extractor."""

    def warm_up(self) -> None:
        """Load models or open connections; constructors do no I/O. Calling it twice is a no-op."""
        ...

    def extract(self, chunks: Sequence[Chunk], run_id: str) -> list[ChunkExtraction]:
        """One `ChunkExtraction` per chunk, in the order given; `run_id` goes into provenance."""
        ...


@runtime_checkable
class Plannable(Protocol):
    """An LLM extractor that can list the requests a set of chunks will cost, so that a dry run
    can price them (`kgx extract --dry-run`) without sending any."""

    llm: Metered

    def plan(self, chunks: Sequence[Chunk]) -> list[LLMRequest]:
        """The requests extracting `chunks` sends; a multi-step extractor guesses the later
        steps' inputs from the chunk texts."""
        ...
