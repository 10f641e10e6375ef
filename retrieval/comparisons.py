"""The graph answerer's comparison questions: "which of two" and yes/no.

A "which of two" question ("Who lived longer, A or B?") is answered with one of its options,
chosen by the years in each option's passage: the first year of a biography is the birth, the
second the death; the first year of a film's or a company's passage is when it came out or was
founded. With a role in the question ("the director of"), the option's passage leads to the
person in that role first (its first PERSON after the role word), and that person's passage
gives the years.

A yes/no question about two named things ("Are A and B both from the same country?") compares
their passages: the first nationality (NORP) or country (GPE) each names, or whether both say
the question's other words ("both American"). Without evidence the answer is "yes", the more
common answer on the tuning sets, with a confidence that says so.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .protocol import AnswerResult
from .questions import YEAR, QuestionShape, content_words
from .roles import first_role, option_passage, through_role

if TYPE_CHECKING:
    from .graph_answer import GraphAnswerer

_DECIDED, _GUESSED = 0.7, 0.5
BOTH_SHARE = 0.5
"""A "both X" question is answered yes when each passage says at least this share of X's
words (tuned on the tuning halves)."""
ORIGINS = 3
"""Nationalities or countries read from each passage of a "same country" question."""
_NATIONALITY = ("NORP", "GPE")


def answer_choice(answerer: GraphAnswerer, question: str, shape: QuestionShape,
                  ranked: list[tuple[int, int]]) -> AnswerResult:
    """One of `shape.options`, by the years of their passages and the comparison asked."""
    role = first_role(question)
    facts, passages, years = [], [], []
    for option in shape.options:
        chunk = option_passage(answerer, option, ranked)
        if chunk is not None and role:
            chunk = through_role(answerer, chunk, role, ranked) or chunk
        found = YEAR.findall(answerer.corpus.chunks[chunk].text) if chunk is not None else []
        years.append([int(y) for y in found])
        if chunk is not None:
            passages += [rank + 1 for rank, c in ranked if c == chunk]
            title = answerer.corpus.chunks[chunk].title or option
            facts.append(f"{title}: {', '.join(found[:2]) or 'no year'}")
    pick, decided = _compare(shape.comparator, years)
    return AnswerResult(
        question=question, answer=shape.options[pick],
        confidence=_DECIDED if decided else _GUESSED, kind="choice",
        best_guess=shape.options[pick], facts=facts, passages=sorted(set(passages)),
        reason=(f"compared the years of the two options' passages ({shape.comparator})"
                if decided else "the passages did not settle it: the first option"))


def _compare(comparator: str | None, years: list[list[int]]) -> tuple[int, bool]:
    """(index of the winning option, whether the years decided it)."""
    def value(found: list[int]) -> float | None:
        if comparator in ("longer", "died_first", "died_later"):
            if len(found) < 2:
                return None
            birth, death = found[0], found[1]
            return death - birth if comparator == "longer" else death
        return float(found[0]) if found else None

    values = [value(found) for found in years]
    if comparator is None or None in values or values[0] == values[1]:
        return 0, False
    smaller_wins = comparator in ("earlier", "died_first")
    first_smaller = values[0] < values[1]
    return (0 if first_smaller == smaller_wins else 1), True


def answer_yes_no(answerer: GraphAnswerer, question: str, shape: QuestionShape,
                  ranked: list[tuple[int, int]]) -> AnswerResult:
    """"yes" or "no" from the passages of the two things the question names."""
    named = _two_named(answerer, question, ranked)
    lowered = question.casefold()
    verdict, reason, facts = None, "", []
    if len(named) == 2:
        role = first_role(question)
        chunks = [(through_role(answerer, c, role, ranked) or c) if role else c for c in named]
        if "same" in lowered and re.search(r"countr|nationalit|from", lowered):
            origins = [_origins(answerer, c) for c in chunks]
            if all(origins):
                verdict = bool(_countries(origins[0]) & _countries(origins[1]))
                reason = (f"compared where each is from: {', '.join(origins[0])} / "
                          f"{', '.join(origins[1])}")
                facts = [f"{answerer.corpus.chunks[c].title}: {', '.join(o)}"
                         for c, o in zip(chunks, origins, strict=True)]
        elif "both" in lowered or "same" in lowered:
            names = " ".join(answerer.corpus.chunks[c].title or "" for c in chunks)
            wanted = content_words(question) - content_words(names) - {"both", "same"}
            if wanted:
                shares = [len(wanted & content_words(answerer.corpus.chunks[c].text))
                          / len(wanted) for c in chunks]
                verdict = min(shares) >= BOTH_SHARE
                reason = (f"whether both passages say {', '.join(sorted(wanted))} (shares "
                          f"{shares[0]:.2f}, {shares[1]:.2f})")
        passages = sorted({rank + 1 for rank, c in ranked if c in chunks})
    else:
        passages = []
    if verdict is None:
        return AnswerResult(question=question, answer="yes", confidence=_GUESSED, kind="yes_no",
                           best_guess="yes", passages=passages,
                           reason="no evidence either way: the more common answer")
    answer = "yes" if verdict else "no"
    return AnswerResult(question=question, answer=answer, confidence=_DECIDED, kind="yes_no",
                       best_guess=answer, facts=facts, passages=passages, reason=reason)


def _two_named(answerer: GraphAnswerer, question: str, ranked: list[tuple[int, int]]
               ) -> list[int]:
    """The passages of the (first) two things the question names, by title."""
    match = re.search(r"^\w+\s+(?:both\s+)?(.+?)\s+and\s+(.+?)"
                      r"(?:\s+(?:both|from|located|in|of|the same|have|had|share|American|"
                      r"British|considered|part|each|known|an?)\b.*)?\??$",
                      " ".join(question.split()), flags=re.IGNORECASE)
    chunks: list[int] = []
    if match:
        for option in match.groups():
            option = re.sub(r"^(?:the )?(?:director|composer|performer|producer|author) of "
                            r"(?:the )?(?:film |movie |song |album )?", "", option,
                            flags=re.IGNORECASE)
            chunk = option_passage(answerer, option.strip(" \"'"), ranked)
            if chunk is not None and chunk not in chunks:
                chunks.append(chunk)
    if len(chunks) < 2:
        chunks = list(dict.fromkeys([*chunks, *answerer.question_titles(question, ranked)]))
    return chunks[:2]


def _origins(answerer: GraphAnswerer, chunk: int) -> list[str]:
    """The first ORIGINS nationalities or countries the passage names, in text order."""
    corpus = answerer.corpus
    text = corpus.chunks[chunk].text
    found = []
    for entity in answerer.chunk_entities[chunk]:
        if corpus.entity_types[entity] in _NATIONALITY:
            at = text.find(corpus.entity_names[entity])
            if at >= 0:
                found.append((at, corpus.entity_names[entity]))
    return [name for _, name in sorted(found)[:ORIGINS]]


_DEMONYMS = {"american": "united states", "us": "united states", "usa": "united states",
             "u.s.": "united states", "british": "united kingdom", "english": "united kingdom",
             "uk": "united kingdom", "french": "france", "german": "germany",
             "italian": "italy", "spanish": "spain", "japanese": "japan", "chinese": "china",
             "indian": "india", "russian": "russia", "soviet": "russia", "canadian": "canada",
             "australian": "australia", "mexican": "mexico", "swedish": "sweden",
             "danish": "denmark", "dutch": "netherlands", "polish": "poland",
             "austrian": "austria", "brazilian": "brazil", "irish": "ireland",
             "norwegian": "norway", "finnish": "finland", "greek": "greece",
             "turkish": "turkey", "korean": "korea", "south korean": "korea",
             "hungarian": "hungary", "czech": "czech republic", "belgian": "belgium",
             "swiss": "switzerland", "argentine": "argentina", "filipino": "philippines",
             "egyptian": "egypt", "iranian": "iran", "portuguese": "portugal",
             "scottish": "united kingdom", "welsh": "united kingdom"}


def _countries(names: list[str]) -> set[str]:
    """Country names for nationalities and countries ("American" -> "united states")."""
    out = set()
    for name in names:
        folded = name.casefold().removeprefix("the ").strip()
        out.add(_DEMONYMS.get(folded, folded))
    return out
