"""Roles between people and things, read from passages: "the director of film X", "X's father".

A question names a chain of roles from an entity it names: "the spouse of the director of film
X" is X -director-> D -spouse-> answer. `role_chain` reads the chain (nearest the entity last in
the question, first in the chain); `role_holders` finds who holds a role in a passage: the
PERSONs named after the role's first cue in the text ("directed by", "son of"), then the
others, never the passage's own subject; `through_role` follows a role to the holder's own
passage. `life_role` tells whether a date or place is the birth or death a question asks for.

    chain = role_chain("Who is the spouse of the director of film Marianne And Juliane?")
    # ["director", "spouse"]
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

from .linking import matching_key

if TYPE_CHECKING:
    from .graph_answer import GraphAnswerer

ROLES = ("director", "directed", "composer", "performer", "producer", "father", "mother",
         "author", "writer", "creator", "founder", "spouse", "wife", "husband", "son",
         "daughter", "singer", "star")
TITLE_MATCH = 85.0
"""rapidfuzz ratio at which a passage title names an option or a person."""
# spaCy's small model often calls a person ORG or WORK_OF_ART ("Niklas Busch Thor": ORG).
_HOLDER_TYPES = frozenset({"PERSON", "ORG", "WORK_OF_ART", "PRODUCT", "FAC", "ENTITY"})
_CUES = {
    "father": ("son of", "daughter of", "child of", "father"),
    "mother": ("son of", "daughter of", "child of", "mother"),
    "son": ("son", "children", "father of"), "daughter": ("daughter", "children", "mother of"),
    "director": ("directed by", "director"), "directed": ("directed by", "director"),
    "performer": ("performed by", "recorded by", "singer", "by"), "singer": ("by", "singer"),
    "spouse": ("marri", "wife", "husband", "spouse"), "wife": ("marri", "wife"),
    "husband": ("marri", "husband"), "composer": ("composed by", "music by", "composer"),
    "producer": ("produced by", "producer"), "author": ("written by", "author", "by"),
    "writer": ("written by", "writer", "by"), "founder": ("founded by", "founder"),
    "creator": ("created by", "creator"), "star": ("starring", "stars"),
}
# "(10 December 1815 – 27 November 1852)": a biography's birth and death dates.
_LIFESPAN = re.compile(r"\([^()]*?\b\d{4}\b[^()]*?[-–—][^()]*?\b\d{4}\b[^()]*\)")
# Kinship words that are two roles: the mother's father, the spouse's father.
_COMPOUND = (
    ("maternal grandfather", ("mother", "father")),
    ("maternal grandmother", ("mother", "mother")),
    ("paternal grandfather", ("father", "father")),
    ("paternal grandmother", ("father", "mother")),
    ("grandfather", ("father", "father")), ("grandmother", ("father", "mother")),
    ("father-in-law", ("spouse", "father")), ("mother-in-law", ("spouse", "mother")),
)


def role_chain(question: str) -> list[str]:
    """The roles from the entity the question names to the answer, in walking order."""
    lowered = question.casefold()
    found: list[tuple[int, tuple[str, ...]]] = []
    for pattern, roles in _COMPOUND:
        for match in re.finditer(rf"\b{pattern}\b", lowered):
            if not any(at <= match.start() < at + 20 for at, _ in found):
                found.append((match.start(), roles))
            lowered = lowered[:match.start()] + " " * len(match.group()) + lowered[match.end():]
    for role in ROLES:
        for match in re.finditer(rf"\b{role}", lowered):
            found.append((match.start(), (role,)))
    found.sort()
    # "the spouse of the director of X": the last-named role is walked first.
    return [role for _, roles in reversed(found) for role in roles]


def first_role(question: str) -> str | None:
    """The role the question names first ("the director of film X" -> "director")."""
    lowered = question.casefold()
    found = [(lowered.find(role), role) for role in ROLES if re.search(rf"\b{role}", lowered)]
    return min(found)[1] if found else None


def option_passage(answerer: GraphAnswerer, option: str, ranked: list[tuple[int, int]]
                   ) -> int | None:
    """The chunk about `option`: a retrieved passage titled like it, else any passage with its
    title, else the first retrieved passage that names it."""
    key = matching_key(option)
    best, best_score = None, TITLE_MATCH
    for _, chunk in ranked:
        title = answerer.corpus.chunks[chunk].title
        score = fuzz.ratio(key, matching_key(title)) if title else 0.0
        if score >= best_score and (best is None or score > best_score):
            best, best_score = chunk, score
    if best is not None:
        return best
    exact = answerer.titles.get(key)
    if exact:
        return exact[0]
    folded = option.casefold()
    return next((chunk for _, chunk in ranked
                 if folded in answerer.corpus.chunks[chunk].text.casefold()), None)


def role_holders(answerer: GraphAnswerer, chunk: int, role: str) -> list[int]:
    """The people of `chunk` that may hold `role`, likeliest first: those named after the
    role's first cue in the text, in text order, then the others; never the passage's own
    subject. People are PERSON entities and the types spaCy mistakes them for."""
    corpus = answerer.corpus
    text = corpus.chunks[chunk].text
    title = matching_key(corpus.chunks[chunk].title or "")
    title_words = set(title.split())
    people = []
    for entity in answerer.chunk_entities[chunk]:
        key = matching_key(corpus.entity_names[entity])
        # The subject itself ("Aurelio", "De Laurentiis"), not a relative sharing a surname.
        if corpus.entity_types[entity] not in _HOLDER_TYPES or \
                set(key.split()) <= title_words or fuzz.ratio(key, title) >= TITLE_MATCH:
            continue
        name = corpus.entity_names[entity]
        at = text.find(name)
        if at >= 0:
            people.append((at, entity))
    folded = text.casefold()
    cues = [folded.find(cue) for cue in _CUES.get(role, (role,))]
    after = min((at for at in cues if at >= 0), default=-1)
    people.sort(key=lambda p: (p[0] < after, p[0]))  # those after the cue first, in order
    return [entity for _, entity in people]


def through_role(answerer: GraphAnswerer, chunk: int, role: str,
                 ranked: list[tuple[int, int]]) -> int | None:
    """The passage of the person who holds `role` in `chunk`, or None when no likely holder
    has a passage of their own."""
    for entity in role_holders(answerer, chunk, role):
        found = option_passage(answerer, answerer.corpus.entity_names[entity], ranked)
        if found is not None and found != chunk:
            return found
    return None


def walk_roles(answerer: GraphAnswerer, question: str, ranked: list[tuple[int, int]],
               person_answer: bool) -> tuple[int | None, set[int]]:
    """(the passage the answer is read from, the entities that hold the last role).

    The walk starts at the passage of the entity the question names best and follows every
    role of the chain to its holder's passage; when the answer is a person (`person_answer`),
    the last role is not followed: its likely holders in the last passage are the answer."""
    chain = role_chain(question)
    if not chain:
        return None, set()
    for start in answerer.question_titles(question, ranked)[:2]:
        if matching_key(answerer.corpus.chunks[start].title or "") in ROLES:
            continue
        chunk: int | None = start
        walked = chain[:-1] if person_answer else chain
        for role in walked:
            chunk = through_role(answerer, chunk, role, ranked)
            if chunk is None:
                break
        if chunk is None:
            continue
        holders = set(role_holders(answerer, chunk, chain[-1])[:1]) if person_answer else set()
        return (chunk if chunk != start else None), holders
    return None, set()


def life_role(question: str, name: str, text: str) -> float:
    """1 when `name` is the date a "born" question wants (in the first half of a biography's
    lifespan, or after "born on") or a "died" question wants (the second half), or the place
    after "born in" or "died in", else 0."""
    lowered = question.casefold()
    for verb, pattern in (("born", r"\b(?:born|birth)"), ("died", r"\b(?:die|died|death)")):
        if re.search(pattern, lowered) and re.search(
                rf"\b{verb}(?: (?:in|at|on))? (?:the )?{re.escape(name)}", text):
            return 1.0
    match = _LIFESPAN.search(text)
    if match is None:
        return 0.0
    birth, death = re.split(r"[-–—]", match.group(0), maxsplit=1)
    if re.search(r"\b(?:born|birth)", lowered) and name in birth:
        return 1.0
    if re.search(r"\b(?:die|died|death)", lowered) and name in death:
        return 1.0
    return 0.0
