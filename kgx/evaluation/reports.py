"""Report files: NAME.json (every figure), NAME.md (a markdown table) and NAME.png (a curve).

    paths = write_report(Path("eval-out"), "synthkg", report, multihop_markdown(report),
                         coverage_plot(report))
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel

from kgx.evaluation.aps import APSReport
from kgx.evaluation.kg_metrics import KGScores
from kgx.evaluation.mine import MineReport
from kgx.evaluation.multihop import MultihopReport
from kgx.evaluation.teacher import AgreementReport

Plot = Callable[[Path], None]


def write_report(out: Path, name: str, report: BaseModel, markdown: str,
                 plot: Plot | None = None) -> list[Path]:
    """Write NAME.json, NAME.md and, given a plot function, NAME.png into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.json", out / f"{name}.md"]
    paths[0].write_text(json.dumps(report.model_dump(mode="json"), indent=2,
                                   ensure_ascii=False) + "\n", encoding="utf-8")
    paths[1].write_text(markdown, encoding="utf-8")
    if plot is not None:
        paths.append(out / f"{name}.png")
        plot(paths[2])
    return paths


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; floats are written with three decimals."""
    def cell(value: object) -> str:
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def multihop_markdown(report: MultihopReport) -> str:
    """SynthKG metrics overall and per question type."""
    threshold = report.overall.threshold

    def row(name: str, questions: int, scores: KGScores) -> list[object]:
        return [name, questions, scores.gold_triples, scores.extracted_triples,
                scores.semantic_score, scores.coverage, scores.token_f1]

    counts = {kind: sum(q.type == kind for q in report.per_question) for kind in report.by_type}
    rows = [row("all", report.questions_evaluated, report.overall)]
    rows += [row(kind, counts[kind], scores) for kind, scores in report.by_type.items()]
    table = markdown_table(["questions", "n", "gold triples", "extracted triples",
                            "semantic score", f"coverage@{threshold:g}", "token F1"], rows)
    return (f"## SynthKG KG metrics (2WikiMultihopQA gold triples)\n\n{table}\n"
            f"{report.questions_evaluated} of {report.questions_read} questions evaluated; "
            f"{report.questions_missing_passages} skipped because a gold passage is not in "
            "the store. Embeddings: all-MiniLM-L6-v2.\n")


def coverage_plot(report: MultihopReport) -> Plot:
    """Coverage against the cosine threshold, overall and per question type."""
    series = {"all": report.overall.coverage_curve,
              **{kind: scores.coverage_curve for kind, scores in report.by_type.items()}}
    return lambda path: _line_plot(path, series, "cosine threshold", "coverage",
                                   "Gold-triple coverage vs threshold")


def mine_markdown(report: MineReport) -> str:
    """Fact recall per essay and overall, naming the judge."""
    rows = [[e.topic, e.entities, e.relations, e.facts, e.recalled, e.recall]
            for e in report.essays]
    rows.append(["all", sum(e.entities for e in report.essays),
                 sum(e.relations for e in report.essays), report.facts, report.recalled,
                 report.recall])
    table = markdown_table(["essay", "entities", "relations", "facts", "recalled", "recall"],
                           rows)
    missing = (f"\n{len(report.essays_not_in_store)} essays were not in the store and were "
               "skipped.\n" if report.essays_not_in_store else "")
    return (f"## MINE fact recall\n\nJudge: {report.judge_label}; a fact counts as recalled "
            f"from a score of {report.judge_threshold:g}. Context: top-{report.top_k} entities "
            f"and their {report.hops}-hop neighbourhood.\n\n{table}{_failures(report)}"
            f"{missing}")


def agreement_markdown(report: AgreementReport) -> str:
    """Entity and triple P/R/F1 against the teacher per matching mode."""
    rows = [[mode, s.entities.precision, s.entities.recall, s.entities.f1,
             s.triples.precision, s.triples.recall, s.triples.f1]
            for mode, s in report.by_mode.items()]
    table = markdown_table(["matching", "entity P", "entity R", "entity F1", "triple P",
                            "triple R", "triple F1"], rows)
    return (f"## Agreement with the teacher\n\n{table}\nMicro-averaged over {report.documents} "
            f"documents; {report.teacher_dropped_triples} teacher triples without exactly "
            "three parts were left out.\n")


def aps_markdown(report: APSReport) -> str:
    """Reference-free and reference-based APS figures, naming the judge."""
    free = report.reference_free
    rows: list[list[object]] = [["reference-free", free.precision, free.recall, "",
                                 free.sentences, free.propositions]]
    based = report.reference_based
    if based is not None:
        rows.append(["reference-based", based.precision, based.recall, based.f1,
                     based.sentences, based.predicted_propositions])
    table = markdown_table(["metric", "precision", "recall", "F1", "sentences",
                            "propositions"], rows)
    return (f"## Proposition segmentation (APS)\n\nJudge: {report.judge_label}; precision and "
            "recall average its scores, and reference-based matching needs a score of "
            f"{report.judge_threshold:g} both ways.\n\n{table}{_failures(report)}")


def _failures(report: APSReport | MineReport) -> str:
    if not report.judge_failures:
        return ""
    return (f"\n{report.judge_failures} judge replies failed and scored 0; see the LLM "
            "errors printed during the run.\n")


def _line_plot(path: Path, series: dict[str, dict[str, float]], xlabel: str, ylabel: str,
               title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for name, points in series.items():
        axes.plot([float(x) for x in points], list(points.values()), marker="o", label=name)
    axes.set(xlabel=xlabel, ylabel=ylabel, title=title, ylim=(0, 1.02))
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
