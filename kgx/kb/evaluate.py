"""Does the knowledge base help? The student's accuracy on held-out problems without and with it.

    _, held_out = split_problems(load_problems(path), held_out=0.5, seed=0)
    with open_store("./kgx-store") as store:
        report = evaluate_kb(load_llm("local"), held_out[:40], store, method="bm25")
    report.accuracy_without, report.accuracy_with, report.delta
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from kgx.graphdb import GraphStore
from kgx.kb.index import KBIndex, Method
from kgx.kb.problems import Problem
from kgx.kb.store import load_entries
from kgx.kb.student import Solution, StageProgress, solve, stage_progress
from kgx.llm.protocol import LLM


class ProblemRecord(BaseModel):
    """One held-out problem: the student's answers without and with the retrieved entries."""

    id: str
    source: str
    question: str
    gold: str
    answer_without: str | None
    correct_without: bool
    answer_with: str | None
    correct_with: bool
    entry_ids: list[str]
    reply_without: str
    reply_with: str
    error_without: str | None = None
    error_with: str | None = None


class KBReport(BaseModel):
    """Accuracy without and with the knowledge base, and every problem's record."""

    student: str
    method: str
    top_k: int
    kb_entries: int
    n: int
    excluded: int
    """Problems given but not evaluated because the KB was built from them."""
    accuracy_without: float
    accuracy_with: float
    delta: float
    failures_without: int
    failures_with: int
    per_problem: list[ProblemRecord]


def evaluate_kb(student: LLM, problems: Sequence[Problem], store: GraphStore, *,
                method: Method = "bm25", k: int = 3, encoder=None,
                on_progress: StageProgress | None = None) -> KBReport:
    """Solve each problem twice, plainly and with its top-`k` entries from `store`.

    Problems the KB has an entry about are left out (and counted in `excluded`): a KB is never
    scored on the problems it was built from.
    """
    entries = load_entries(store)
    index = KBIndex(entries, method, encoder=encoder)
    built_from = {entry.problem.strip() for entry in entries}
    held_out = [p for p in problems if p.question.strip() not in built_from]
    plain = solve(student, held_out, on_progress=stage_progress(on_progress, "without KB"))
    found = index.search_many([p.question for p in held_out], k) if held_out else []
    notes = [[hit.entry for hit in hits] for hits in found]
    helped = solve(student, held_out, notes, on_progress=stage_progress(on_progress, "with KB"))
    return _report(student.model, method, k, len(entries), len(problems) - len(held_out),
                   plain, helped)


def _report(student: str, method: str, k: int, kb_entries: int, excluded: int,
            plain: list[Solution], helped: list[Solution]) -> KBReport:
    n = len(plain)
    without = sum(s.correct for s in plain) / n if n else 0.0
    with_kb = sum(s.correct for s in helped) / n if n else 0.0
    return KBReport(
        student=student, method=method, top_k=k, kb_entries=kb_entries, n=n, excluded=excluded,
        accuracy_without=without, accuracy_with=with_kb, delta=with_kb - without,
        failures_without=sum(s.error is not None for s in plain),
        failures_with=sum(s.error is not None for s in helped),
        per_problem=[_record(a, b) for a, b in zip(plain, helped, strict=True)])


def _record(plain: Solution, helped: Solution) -> ProblemRecord:
    problem = plain.problem
    return ProblemRecord(
        id=problem.id, source=problem.source, question=problem.question, gold=problem.answer,
        answer_without=plain.answer, correct_without=plain.correct, answer_with=helped.answer,
        correct_with=helped.correct, entry_ids=list(helped.entry_ids), reply_without=plain.reply,
        reply_with=helped.reply, error_without=plain.error, error_with=helped.error)


def kb_markdown(report: KBReport) -> str:
    """The accuracy table of a `KBReport`, with what was measured how."""
    from kgx.evaluation.reports import markdown_table

    table = markdown_table(["student", "accuracy without KB", "accuracy with KB", "delta", "n"],
                           [[report.student, report.accuracy_without, report.accuracy_with,
                             report.delta, report.n]])
    failures = ""
    if report.failures_without or report.failures_with:
        failures = (f" {report.failures_without} replies without and {report.failures_with} "
                    "with the KB were unusable and count as wrong.")
    return (f"## NesyCD knowledge base: student accuracy\n\n{table}\n"
            f"Top-{report.top_k} entries by {report.method} from a KB of {report.kb_entries} "
            f"entries; {report.excluded} problems the KB was built from were left out."
            f"{failures}\n")
