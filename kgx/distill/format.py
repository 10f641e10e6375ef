"""The student's contract: its prompt, its reply schema and how a teacher's output becomes its
training target. Training and inference both build messages here, so they cannot drift apart.

    messages = student_messages("Ada Lovelace wrote the first program.")
    target = student_target(["Ada Lovelace"], [("Ada Lovelace", "wrote", "first program")])
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, Field

PROMPT_VERSION = "student.graph.v1"
"""Stored with every fact the student extracts; a new prompt or target format is a new version."""

SYSTEM = ("You extract a knowledge graph from a passage in one pass. Reply with JSON only: "
          '{"entities": [names], "triples": [[subject, predicate, object]]}, and '
          '"propositions": [atomic statements] when asked for them.')
PROPOSITIONS_HINT = "\n\nAlso list the passage's propositions."

TripleList = Annotated[list[str], Field(min_length=3, max_length=3)]


MAX_ENTITIES = 32
MAX_TRIPLES = 32
MAX_PROPOSITIONS = 32


class StudentGraph(BaseModel):
    """The student's reply: entity names, (subject, predicate, object) triples, propositions.

    The list bounds go into the decoding grammar: a small model that starts repeating an entity
    is made to move on to the triples instead of looping until the token cap (the teacher's
    passages have 9 entities and 9 triples on average).
    """

    entities: list[str] = Field(default_factory=list, max_length=MAX_ENTITIES)
    triples: list[TripleList] = Field(default_factory=list, max_length=MAX_TRIPLES)
    propositions: list[str] = Field(default_factory=list, max_length=MAX_PROPOSITIONS)


def student_messages(text: str, *, propositions: bool = False) -> list[dict[str, str]]:
    """System and user messages of the student's prompt for one passage or chunk."""
    user = text.strip() + (PROPOSITIONS_HINT if propositions else "")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def student_target(entities: Iterable[str], triples: Iterable[Sequence[str]],
                   propositions: Iterable[str] = ()) -> str:
    """The compact JSON reply the student learns to write; "propositions" only when given.

    Entities keep the teacher's order with duplicates dropped; triples that are not exactly
    three non-empty strings are dropped, since the schema cannot hold them.
    """
    reply: dict[str, Any] = {
        "entities": list(dict.fromkeys(e.strip() for e in entities if e and e.strip())),
        "triples": [[str(part).strip() for part in t] for t in triples
                    if len(t) == 3 and all(str(part).strip() for part in t)],
    }
    kept = [p.strip() for p in propositions if p and p.strip()]
    if kept:
        reply["propositions"] = kept
    return json.dumps(reply, ensure_ascii=False, separators=(",", ":"))
