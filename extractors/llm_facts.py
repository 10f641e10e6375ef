"""Building blocks the LLM extractors share: running one prompt step over many chunks, recording
failures, naming entities consistently within a chunk, and provenance."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from kgx.ids import normalize_name
from kgx.llm.prompts import PromptTemplate
from kgx.models import Chunk, Entity, Provenance

from .prompts import TypedEntity

FUZZY_MATCH = 90  # rapidfuzz WRatio at which a name is taken for a listed entity
MAX_NAME_CHARS = 200
UNTYPED = "ENTITY"


@dataclass(frozen=True)
class StepFailure:
    """One prompt step that failed for one chunk and was skipped (on_error="skip-and-record")."""

    chunk_id: str
    step: str
    error: str


def run_step(llm, template: PromptTemplate, inputs: Sequence[tuple[str, dict[str, Any]]],
             failures: list[StepFailure]) -> dict[str, BaseModel]:
    """Send `template` for every (chunk id, fields) in one batch; the parsed replies by chunk id.

    Failed requests are left out of the result and added to `failures`; under
    on_error="raise" the LLM raises instead.
    """
    if not inputs:
        return {}
    replies = llm.generate([template.request(key, **fields) for key, fields in inputs])
    parsed: dict[str, BaseModel] = {}
    for reply in replies:
        if reply.parsed is not None:
            parsed[reply.key] = reply.parsed
        else:
            failures.append(StepFailure(reply.key, template.name, reply.error or "no reply"))
    return parsed


def clean_name(name: str) -> str | None:
    """A usable entity name, or None for empty or runaway strings."""
    name = " ".join(name.split()).strip(" .,;:'\"")
    return name if name and len(name) <= MAX_NAME_CHARS else None


class EntityTable:
    """The entities of one chunk; relation endpoints are looked up here so names agree.

    A name matches a listed entity exactly (after normalisation), else by rapidfuzz WRatio of
    at least 90, else becomes a new untyped entity.
    """

    def __init__(self, typed: Iterable[TypedEntity] = ()) -> None:
        self._by_key: dict[str, Entity] = {}
        for item in typed:
            name = clean_name(item.name)
            if name:
                kind = "_".join(item.type.upper().split()) or UNTYPED
                self._by_key.setdefault(normalize_name(name), Entity(name=name, type=kind))

    def get(self, name: str, *, fuzzy: bool = True) -> Entity | None:
        """The entity `name` refers to (added if new), or None for an unusable name.

        `fuzzy=False` matches exact (normalised) names only: for replies that point at listed
        entities by number, where a written-out end is meant as a new node ("Darwin's theory"
        is not "Darwin", though WRatio scores the pair above 90)."""
        name = clean_name(name)
        if name is None:
            return None
        key = normalize_name(name)
        if key not in self._by_key:
            self._by_key[key] = ((self._fuzzy(key) if fuzzy else None)
                                 or Entity(name=name, type=UNTYPED))
        return self._by_key[key]

    def _fuzzy(self, key: str) -> Entity | None:
        from rapidfuzz import fuzz, process

        best = process.extractOne(key, list(self._by_key), scorer=fuzz.WRatio,
                                  score_cutoff=FUZZY_MATCH)
        return None if best is None else self._by_key[best[0]]

    @property
    def entities(self) -> list[Entity]:
        """Every distinct entity, in the order first seen."""
        return list({e.id: e for e in self._by_key.values()}.values())


def provenance(chunk: Chunk, extractor, run_id: str, prompt_version: str,
               span: tuple[int, int] | None = None) -> Provenance:
    """Provenance of a fact from `chunk` (or from the character `span` of its document)."""
    start, end = span or (chunk.start, chunk.end)
    return Provenance(doc_id=chunk.doc_id, chunk_id=chunk.id, start=start, end=end,
                      extractor=extractor.name, extractor_version=extractor.version,
                      model=extractor.llm.model, prompt_version=prompt_version, run_id=run_id)
