"""The student at work: solve problems, optionally with knowledge-base entries in the prompt.

    solutions = solve(load_llm("local"), problems)                 # plain
    found = index.search_many([p.question for p in problems], k=3)
    solutions = solve(llm, problems, [[hit.entry for hit in hits] for hits in found])
    sum(s.correct for s in solutions) / len(solutions)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kgx.errors import ConfigError
from kgx.kb.entries import KnowledgeEntry
from kgx.kb.problems import Problem, answers_match, extract_answer
from kgx.kb.prompts import student_request
from kgx.llm.protocol import LLM

Progress = Callable[[int, int], None]
StageProgress = Callable[[str, int, int], None]
"""Progress of a run with several stages: called with (stage, done, total)."""
BATCH = 32
"""Requests per generate call: one call for a small set, progress updates for a large one."""


@dataclass(frozen=True)
class Solution:
    """The student's reply to one problem, its final answer, and whether that is right."""

    problem: Problem
    reply: str
    answer: str | None
    correct: bool
    entry_ids: tuple[str, ...] = ()
    """The knowledge-base entries the prompt carried."""
    error: str | None = None
    """Why the reply is unusable (empty, refused), when it is; such a reply counts as wrong."""


def solve(llm: LLM, problems: Sequence[Problem],
          entries: Sequence[Sequence[KnowledgeEntry]] | None = None, *,
          on_progress: Progress | None = None) -> list[Solution]:
    """One `Solution` per problem, in order; `entries[i]` go into problem i's prompt."""
    if entries is not None and len(entries) != len(problems):
        raise ConfigError(f"solve got {len(entries)} entry lists for {len(problems)} problems; "
                          "pass one list (possibly empty) per problem.")
    notes = entries if entries is not None else [()] * len(problems)
    solutions: list[Solution] = []
    for start in range(0, len(problems), BATCH):
        part = range(start, min(start + BATCH, len(problems)))
        replies = llm.generate([student_request(problems[i].question, notes[i],
                                                key=problems[i].id) for i in part])
        solutions += [_graded(problems[i], reply, notes[i])
                      for i, reply in zip(part, replies, strict=True)]
        if on_progress:
            on_progress(len(solutions), len(problems))
    return solutions


def _graded(problem: Problem, reply, notes: Sequence[KnowledgeEntry]) -> Solution:
    answer = extract_answer(reply.text) if reply.ok else None
    return Solution(problem, reply.text, answer, answers_match(answer, problem.answer),
                    tuple(entry.id for entry in notes), reply.error)


def stage_progress(on_progress: StageProgress | None, stage: str) -> Progress | None:
    """A (done, total) callback that reports to `on_progress` under the name `stage`."""
    if on_progress is None:
        return None
    return lambda done, total: on_progress(stage, done, total)
