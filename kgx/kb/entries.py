"""A knowledge-base entry: what a teacher wrote about one mistake of a student, and its id.

    entry = KnowledgeEntry(problem="Janet's ducks lay 16 eggs...", summary="Subtract what is "
                           "used before multiplying by the price.", knowledge="Revenue = units "
                           "sold × price.", concepts=["subtraction", "unit price"],
                           student_answer="32", gold_answer="18", teacher="gpt-4o",
                           prompt_version="nesycd.teacher.v1")
    entry.id          # "kb_…", a hash of the content
    entry.concept_entities()   # Entity(name="subtraction", type="CONCEPT"), …
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kgx.ids import stable_id
from kgx.models import Entity

CONCEPT_TYPE = "CONCEPT"


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string with seconds, the `created_at` format."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


class KnowledgeEntry(BaseModel):
    """A learning summary and supplementary knowledge about one student error, with provenance.

    `id` is derived from the content when not given; an entry edited by hand keeps its id.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = ""
    problem: str = Field(min_length=1)
    summary: str = Field(min_length=1, description="the learning summary")
    knowledge: str = Field(min_length=1, description="the supplementary knowledge")
    concepts: list[str] = Field(default_factory=list)
    student_answer: str | None = None
    gold_answer: str | None = None
    source: str = ""
    student: str = ""
    teacher: str = ""
    prompt_version: str = ""
    created_at: str = Field(default_factory=utc_now)

    @field_validator("problem", "summary", "knowledge")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must contain more than white space")
        return value

    @field_validator("concepts")
    @classmethod
    def _concept_names(cls, value: list[str]) -> list[str]:
        if any(not name.strip() for name in value):
            raise ValueError("concept names must contain more than white space")
        return value

    @model_validator(mode="after")
    def _derive_id(self) -> KnowledgeEntry:
        if not self.id:
            object.__setattr__(self, "id", content_id(self))
        return self

    def concept_entities(self) -> list[Entity]:
        """One CONCEPT entity per distinct concept; names that normalise alike are one entity."""
        entities = {}
        for name in self.concepts:
            entity = Entity(name=name.strip(), type=CONCEPT_TYPE)
            entities.setdefault(entity.id, entity)
        return list(entities.values())

    def retrieval_text(self) -> str:
        """What retrieval matches a new problem against: the problem, concepts and the advice."""
        return "\n".join([self.problem, ", ".join(self.concepts), self.summary, self.knowledge])

    def prompt_text(self) -> str:
        """How the entry is shown to the student."""
        concepts = f" ({', '.join(self.concepts)})" if self.concepts else ""
        return f"Lesson{concepts}: {self.summary}\nKnowledge: {self.knowledge}"


def content_id(entry: KnowledgeEntry) -> str:
    """The hash of what the entry says and who wrote it from what; time and source are left out."""
    return stable_id("kb", entry.problem.strip(), entry.student_answer, entry.summary.strip(),
                     entry.knowledge.strip(), "\x1e".join(entry.concepts), entry.teacher,
                     entry.prompt_version)
