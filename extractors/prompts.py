"""Versioned prompt templates of the LLM extractors, each with the schema its reply must follow.

A template's `name` (e.g. ``synthkg.relations.v1``) is stored with every fact it produced, as
the fact's prompt version. Changing what a prompt says means a new version.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from kgx.llm.prompts import REPLY_FLOOR, PromptTemplate, reply_cap

__all__ = ["REPLY_FLOOR", "PromptTemplate", "reply_cap"]  # re-exported for the extractors

# -- reply schemas -----------------------------------------------------------------------------


class Rewrite(BaseModel):
    """A decontextualized chunk."""

    text: str


class TypedEntity(BaseModel):
    name: str
    type: str


class Entities(BaseModel):
    """Typed entities of a chunk."""

    entities: list[TypedEntity] = Field(default_factory=list)


class Quadruple(BaseModel):
    source: str
    predicate: str
    target: str


class PropositionFacts(BaseModel):
    """One proposition and the (source, predicate, target) facts it states."""

    text: str
    quadruples: list[Quadruple] = Field(default_factory=list)


class Propositions(BaseModel):
    """Propositions with quadruples, SynthKG's relation step."""

    propositions: list[PropositionFacts] = Field(default_factory=list)


class Triple(BaseModel):
    subject: str
    predicate: str
    object: str


class DirectGraph(BaseModel):
    """Entities and triples from one prompt, the direct baseline. Both keys are required, so a
    grammar-constrained small model whose entity list the repeat guard closed still has to write
    its triples instead of ending the object."""

    entities: list[TypedEntity]
    triples: list[Triple]


class SentencePropositions(BaseModel):
    sentence: int = Field(ge=1, description="number of the <s> sentence, from 1")
    propositions: list[str] = Field(default_factory=list)


class GroupedPropositions(BaseModel):
    """Propositions grouped by source sentence (the APS "grouped" format)."""

    groups: list[SentencePropositions] = Field(default_factory=list)


# -- templates ---------------------------------------------------------------------------------


SYNTHKG_DECONTEXTUALIZE = PromptTemplate(
    name="synthkg.decontextualize.v1",
    system="You rewrite text so that it can be understood on its own. Reply with JSON only.",
    user=("Rewrite the PASSAGE so that every mention is in its most informative form: replace "
          "pronouns and partial names with the full names they refer to, using the CONTEXT "
          "(the text just before the passage). Change nothing else; keep every sentence.\n\n"
          "CONTEXT:\n{context}\n\nPASSAGE:\n{text}\n\n"
          'Reply as {{"text": "<the rewritten passage>"}}.'),
    reply=Rewrite,
    reply_per_token=1.5,  # the passage again, with names spelled out
)

SYNTHKG_ENTITIES = PromptTemplate(
    name="synthkg.entities.v1",
    system="You extract named entities from text. Reply with JSON only.",
    user=("List the named entities in the passage (people, organisations, places, works, "
          "events, dates, products, concepts), each with a short type in capitals such as "
          "PERSON, ORG, GPE, WORK, EVENT, DATE.\n\nPASSAGE:\n{text}\n\n"
          'Reply as {{"entities": [{{"name": "...", "type": "..."}}]}}.'),
    reply=Entities,
    reply_per_token=2.0,
)

SYNTHKG_PROPOSITIONS = PromptTemplate(
    name="synthkg.relations.v1",
    system="You turn text into atomic facts. Reply with JSON only.",
    user=("Split the passage into propositions: short, self-contained statements, each stating "
          "one fact with full names. For each proposition list the facts it states as "
          "(source, predicate, target), where source and target are entities, preferably from "
          "the ENTITIES list.\n\nENTITIES: {entities}\n\nPASSAGE:\n{text}\n\n"
          'Reply as {{"propositions": [{{"text": "...", "quadruples": [{{"source": "...", '
          '"predicate": "...", "target": "..."}}]}}]}}.'),
    reply=Propositions,
    max_tokens=1536,
    reply_per_token=4.0,
)

DIRECT_GRAPH = PromptTemplate(
    name="direct.graph.v1",
    system="You build knowledge graphs from text. Reply with JSON only.",
    user=("Extract the entities of the passage, each with a short type in capitals (PERSON, "
          "ORG, GPE, WORK, EVENT, DATE, ...), and the relations between them as "
          "(subject, predicate, object) triples.\n\nPASSAGE:\n{text}\n\n"
          'Reply as {{"entities": [{{"name": "...", "type": "..."}}], "triples": '
          '[{{"subject": "...", "predicate": "...", "object": "..."}}]}}.'),
    reply=DirectGraph,
    max_tokens=1536,
    reply_per_token=3.0,  # typed entities and keyed triples: wordier than the student's JSON
)

APS_GROUPED = PromptTemplate(
    name="aps.grouped.v1",
    system="You split text into propositions. Reply with JSON only.",
    user=("Each sentence of the passage is wrapped in <s>...</s> and numbered from 1. For every "
          "sentence, list its propositions: atomic, self-contained statements that are "
          "supported by the sentence, use full names instead of pronouns, and together "
          "cover everything the sentence says.\n\nPASSAGE:\n{sentences}\n\n"
          'Reply as {{"groups": [{{"sentence": 1, "propositions": ["...", "..."]}}]}}.'),
    reply=GroupedPropositions,
    max_tokens=1536,
    sized_by="sentences",
    reply_per_token=3.0,
)
