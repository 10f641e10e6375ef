"""Build the NesyCD knowledge base: the student solves, the teacher writes about each mistake.

    with open_store("./kgx-store") as store:
        report = build_kb(load_llm("local"), load_llm("openai:gpt-4o-mini"), problems, store,
                          resume=True)
    report.entries_written, report.wrong
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from kgx.graphdb import GraphStore
from kgx.kb.entries import KnowledgeEntry
from kgx.kb.problems import Problem
from kgx.kb.prompts import TEACHER, TeacherEntry, has_words, teacher_request
from kgx.kb.store import entry_problems, save_entries
from kgx.kb.student import Solution, StageProgress, solve, stage_progress
from kgx.llm.protocol import LLM

TEACHER_BATCH = 16
"""Mistakes per teacher call; their entries are saved before the next, so a crash loses little."""


@dataclass
class BuildReport:
    """What one build did; failures are listed as "problem source: error", never dropped."""

    problems: int
    skipped: int = 0
    """Problems that already had an entry (with `resume`), not solved again."""
    solved: int = 0
    correct: int = 0
    wrong: int = 0
    entries_written: int = 0
    links_written: int = 0
    student_failures: list[str] = field(default_factory=list)
    teacher_failures: list[str] = field(default_factory=list)


def build_kb(student: LLM, teacher: LLM, problems: Sequence[Problem], store: GraphStore, *,
             resume: bool = False, on_progress: StageProgress | None = None) -> BuildReport:
    """Solve `problems` with the student and store one teacher-written entry per wrong answer.

    Writing is idempotent: entry ids hash their content, so a rebuild with the same replies
    (the LLM cache gives them) changes nothing. With `resume`, problems that already have an
    entry are skipped; the others are solved again (cheap: cached). `on_progress` hears of
    the stages "solving" and "writing entries".
    """
    report = BuildReport(problems=len(problems))
    todo = list(problems)
    if resume:
        known = entry_problems(store)
        todo = [p for p in problems if p.question.strip() not in known]
        report.skipped = len(problems) - len(todo)
    solutions = solve(student, todo, on_progress=stage_progress(on_progress, "solving"))
    mistakes = _grade(solutions, report)
    for start in range(0, len(mistakes), TEACHER_BATCH):
        batch = mistakes[start:start + TEACHER_BATCH]
        entries = _teach(teacher, student.model, batch, report)
        report.links_written += save_entries(store, entries)
        report.entries_written += len(entries)
        if on_progress:
            on_progress("writing entries", start + len(batch), len(mistakes))
    return report


def _grade(solutions: list[Solution], report: BuildReport) -> list[Solution]:
    """The wrong answers worth a teacher's note; unusable replies are recorded, not taught."""
    report.solved = len(solutions)
    report.correct = sum(s.correct for s in solutions)
    report.student_failures = [f"{s.problem.source or s.problem.id}: {s.error}"
                               for s in solutions if s.error is not None]
    mistakes = [s for s in solutions if not s.correct and s.error is None]
    report.wrong = len(mistakes)
    return mistakes


def _teach(teacher: LLM, student_model: str, mistakes: list[Solution],
           report: BuildReport) -> list[KnowledgeEntry]:
    replies = teacher.generate([teacher_request(s.problem, s.reply, s.answer) for s in mistakes])
    entries = []
    for solution, reply in zip(mistakes, replies, strict=True):
        where = solution.problem.source or solution.problem.id
        if not reply.ok or not isinstance(reply.parsed, TeacherEntry):
            report.teacher_failures.append(f"{where}: {reply.error}")
            continue
        try:
            entries.append(_entry(solution, reply.parsed, student_model, teacher.model))
        except ValidationError as e:  # e.g. a summary of white space only
            report.teacher_failures.append(f"{where}: unusable entry ({e.errors()[0]['msg']})")
    return entries


def _entry(solution: Solution, note: TeacherEntry, student_model: str,
           teacher_model: str) -> KnowledgeEntry:
    problem = solution.problem
    # Concepts are optional, so a placeholder among them ("...") is dropped, not a failure.
    concepts = list(dict.fromkeys(c.strip() for c in note.concepts if has_words(c)))
    return KnowledgeEntry(problem=problem.question, summary=note.summary.strip(),
                          knowledge=note.knowledge.strip(), concepts=concepts,
                          student_answer=solution.answer, gold_answer=problem.answer,
                          source=problem.source, student=student_model, teacher=teacher_model,
                          prompt_version=TEACHER.name)

