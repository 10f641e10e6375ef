"""`kgx eval kg|propositions|teacher|mine-essays|harvest|qa|kb`: score graphs, propositions,
harvests, retrievers and the knowledge base, and write reports.

`qa` lives in kgx/cli/qa.py and `kb` in kgx/cli/kb.py, beside their other commands.

Each evaluation writes NAME.json (every figure), NAME.md (a markdown table) and, where a curve
helps, NAME.png into --out, and prints the markdown table at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from kgx.cli.console import console_status, open_llm, progress, require_file, written
from kgx.cli.options import OnError, StoreOption, llm_options
from kgx.errors import ConfigError
from kgx.graphdb import GraphStore, open_store

if TYPE_CHECKING:
    from kgx.llm.spec import LLMSettings

eval_app = typer.Typer(help="Evaluate graphs and propositions: SynthKG KG metrics, MINE fact "
                            "recall, teacher agreement and APS proposition metrics.",
                       no_args_is_help=True)

OutDirOption = Annotated[Path, typer.Option(
    "--out", "-o", help="Folder for the reports (NAME.json, NAME.md, NAME.png)")]


class Judge(str, Enum):
    """The entailment judges (kgx.evaluation.entailment.JUDGE_KINDS)."""

    embedding = "embedding"
    lexical = "lexical"
    llm = "llm"


JudgeOption = Annotated[Judge, typer.Option(
    "--judge", help="Entailment judge: embedding (MiniLM cosine fallback, not NLI), lexical "
                    "(token containment fallback, not NLI) or llm (asks --llm)")]
JudgeThresholdOption = Annotated[float | None, typer.Option(
    "--judge-threshold", min=0.0, max=1.0,
    help="Score from which the judge counts a pair as entailed (default: embedding 0.8, "
         "lexical 0.75, llm 0.5)")]
_JUDGE_OMITS = ("llm_retries", "on_error", "llm_max_tokens")  # --judge llm: replies that fail
# are recorded and score 0

LimitOption = Annotated[int | None, typer.Option(
    "--limit", min=1, help="Evaluate only the first N questions / essays / documents")]


@eval_app.command("kg")
@llm_options(on_error=OnError.skip_and_record, omit=_JUDGE_OMITS)
def kg(
    out: OutDirOption,
    store: StoreOption = None,
    gold: Annotated[Path | None, typer.Option(
        help="2WikiMultihopQA questions JSONL with gold_triples: SynthKG semantic score, "
             "coverage and token F1 per question, over the triples of its gold passages")] = None,
    threshold: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Cosine from which a gold triple counts as covered")] = 0.7,
    mine: Annotated[Path | None, typer.Option(
        help="MINE folder (essays.json, facts.json): fact recall of the essays' KGs; "
             "extract `kgx eval mine-essays` output into the store first")] = None,
    teacher: Annotated[Path | None, typer.Option(
        help="Teacher OpenIE JSON (docs[].extracted_entities/extracted_triples): entity and "
             "triple F1 of the store's documents against it")] = None,
    limit: LimitOption = None,
    judge: JudgeOption = Judge.embedding,
    judge_threshold: JudgeThresholdOption = None,
    *,
    settings: LLMSettings,
) -> None:
    """Evaluate the graph in --store against 2Wiki gold triples, MINE facts or a teacher.

    Give at least one of --gold, --mine and --teacher. Reports go to --out as synthkg.*,
    mine.* and teacher.*; --judge and --llm choose how MINE facts are judged. --teacher
    compares the store's documents; `kgx eval teacher` also takes a predictions file.
    """
    if not (gold or mine or teacher):
        raise ConfigError("Nothing to evaluate: give --gold QUESTIONS.jsonl, --mine FOLDER "
                          "or --teacher TEACHER.json.")
    for path in (gold, teacher, mine and mine / "essays.json", mine and mine / "facts.json"):
        require_file(path)
    settings = settings if mine and judge is Judge.llm else None
    console, tables = Console(stderr=True), []
    with open_store(store, read_only=True) as graph:
        if gold:
            tables.append(_synthkg(graph, gold, out, threshold, limit, console))
        if mine:
            with _scorer(console, judge, judge_threshold, settings) as scorer:
                tables.append(_mine(graph, mine, out, scorer, limit, console))
        if teacher:
            tables.append(_teacher_from_store(graph, teacher, out, limit, console))
    typer.echo("\n".join(tables))


@eval_app.command("propositions")
@llm_options(on_error=OnError.skip_and_record, omit=_JUDGE_OMITS)
def propositions(
    predicted: Annotated[Path, typer.Argument(
        help='JSONL of {"sentence", "propositions": [...]} per line (optionally "passage"); '
             "`kgx propositions` output works as is")],
    out: OutDirOption,
    reference: Annotated[Path | None, typer.Option(
        help="PropSegmEnt JSONL (sentence, reference_propositions) for reference-based P/R; "
             "sentences are matched by text")] = None,
    judge: JudgeOption = Judge.embedding,
    judge_threshold: JudgeThresholdOption = None,
    *,
    settings: LLMSettings,
) -> None:
    """Score predicted propositions (APS): reference-free, and against --reference if given.

    Reports go to --out as propositions.*. Precision: does the sentence (or passage) entail
    each proposition? Recall: do a sentence's propositions together entail it?
    Reference-based: a predicted and a gold proposition match when each entails the other.
    """
    from kgx.evaluation.aps import (
        evaluate_propositions,
        load_predicted_propositions,
        load_reference_propositions,
    )
    from kgx.evaluation.reports import aps_markdown, write_report

    items = load_predicted_propositions(require_file(predicted))
    references = load_reference_propositions(require_file(reference)) if reference else None
    console = Console(stderr=True)
    settings = settings if judge is Judge.llm else None
    with _scorer(console, judge, judge_threshold, settings) as scorer, \
            console_status(console, f"judging {len(items)} sentences"):
        report = evaluate_propositions(items, scorer, references)
    markdown = aps_markdown(report)
    written(console, write_report(out, "propositions", report, markdown))
    typer.echo(markdown)


@eval_app.command("teacher")
def teacher(
    teacher_file: Annotated[Path, typer.Argument(
        help="Teacher OpenIE JSON: docs[].{title, text, extracted_entities, "
             "extracted_triples}")],
    out: OutDirOption,
    store: StoreOption = None,
    predictions: Annotated[Path | None, typer.Option(
        help='JSONL of {"id" or "title"[, "text"], "entities": [...], "triples": '
             "[[s, p, o], ...]}; without it the documents in --store are compared")] = None,
    limit: LimitOption = None,
) -> None:
    """Agreement with a teacher's entities and triples, from --predictions or --store.

    Entity and triple P/R/F1 under exact, normalised, fuzzy and embedding matching,
    micro-averaged over documents, go to --out as teacher.*. Documents are paired by passage
    text, else by title.
    """
    require_file(teacher_file)
    console = Console(stderr=True)
    if predictions is None:
        with open_store(store, read_only=True) as graph:
            typer.echo(_teacher_from_store(graph, teacher_file, out, limit, console))
        return
    from kgx.evaluation.teacher import load_predicted_documents

    documents = load_predicted_documents(require_file(predictions))
    typer.echo(_agreement(teacher_file, documents, out, limit, console))


@eval_app.command("mine-essays")
def mine_essays(
    folder: Annotated[Path, typer.Argument(help="MINE folder with essays.json and facts.json")],
    out: Annotated[Path, typer.Option("--out", "-o", help="JSONL file to write")],
    limit: LimitOption = None,
) -> None:
    """Write MINE essays as kgx input JSONL, ready for `kgx extract`.

    Each line is {"id": topic, "title": topic, "text": essay}; run `kgx extract OUT --store
    ...` and then `kgx eval kg --mine FOLDER --store ...`.
    """
    from kgx.evaluation.mine import load_mine_essays, write_essays_jsonl

    require_file(folder / "essays.json")
    count = write_essays_jsonl(load_mine_essays(folder, limit), out)
    typer.echo(f"{count} essays written to {out}")


# -- the evaluations ---------------------------------------------------------------------------

def _synthkg(graph: GraphStore, gold: Path, out: Path, threshold: float, limit: int | None,
             console: Console) -> str:
    from kgx.evaluation.multihop import evaluate_multihop, load_multihop_questions
    from kgx.evaluation.reports import coverage_plot, multihop_markdown, write_report

    questions = load_multihop_questions(gold, limit)
    with progress(console, "embedding triples") as advance:
        report = evaluate_multihop(graph, questions, threshold=threshold, on_progress=advance)
    markdown = multihop_markdown(report)
    written(console, write_report(out, "synthkg", report, markdown, coverage_plot(report)))
    return markdown


def _mine(graph: GraphStore, folder: Path, out: Path, scorer, limit: int | None,
          console: Console) -> str:
    from kgx.evaluation.mine import evaluate_mine, load_mine_essays
    from kgx.evaluation.reports import mine_markdown, write_report

    essays = load_mine_essays(folder, limit)
    with progress(console, "essays") as advance:
        report = evaluate_mine(graph, essays, scorer, on_progress=advance)
    markdown = mine_markdown(report)
    written(console, write_report(out, "mine", report, markdown))
    return markdown


def _teacher_from_store(graph: GraphStore, teacher_file: Path, out: Path, limit: int | None,
                        console: Console) -> str:
    from kgx.evaluation.teacher import documents_from_store

    return _agreement(teacher_file, documents_from_store(graph), out, limit, console)


def _agreement(teacher_file: Path, documents, out: Path, limit: int | None,
               console: Console) -> str:
    from kgx.evaluation.reports import agreement_markdown, write_report
    from kgx.evaluation.teacher import agreement, load_teacher, pair_documents

    pairs = pair_documents(load_teacher(teacher_file), documents, limit)
    with progress(console, "embedding entities and triples") as advance:
        report = agreement(pairs, on_progress=advance)
    markdown = agreement_markdown(report)
    written(console, write_report(out, "teacher", report, markdown))
    return markdown


# -- helpers -----------------------------------------------------------------------------------

@contextmanager
def _scorer(console: Console, judge: Judge, threshold: float | None, settings) -> Iterator:
    """The entailment scorer `judge` names; with "llm", the model is closed afterwards."""
    from kgx.evaluation.entailment import make_scorer

    if settings is None:
        yield make_scorer(judge.value, threshold=threshold)
        return
    with open_llm(settings, console) as client:
        scorer = make_scorer("llm", client, threshold=threshold)
        yield scorer
    if scorer.failures:
        console.print(f"[yellow]{len(scorer.failures)} judge replies failed and scored 0; "
                      f"first: {scorer.failures[0]}[/yellow]", soft_wrap=True)


# -- kgx eval harvest ---------------------------------------------------------------------------

@eval_app.command("harvest")
def harvest(
    harvest_file: Annotated[Path, typer.Argument(
        help='`kgx harvest` JSONL: {"relation", "entities", "score", "rank", "prompts", '
             '"model"} per line')],
    out: OutDirOption,
    relations: Annotated[Path | None, typer.Option(
        help="BertNet relation file the harvest was run with (conceptnet.json, lama.json); "
             "read for its held-out seeds")] = None,
    heldout_seeds: Annotated[int | None, typer.Option(
        "--heldout-seeds", min=1,
        help="Take the last N seeds of each relation in --relations as gold: the N given to "
             "`kgx harvest --holdout`, seeds the harvest did not get")] = None,
    gold: Annotated[Path | None, typer.Option(
        help='More gold: JSONL of {"relation", "entities": [...]} per line')] = None,
    kb: Annotated[Path | None, typer.Option(
        help='KB for novelty: JSONL of {"relation", "entities"}, or BertNet JSON '
             "(ent_tuples or seed_ent_tuples)")] = None,
    baseline: Annotated[Path | None, typer.Option(
        help="BertNet results JSON to compare with side by side, e.g. "
             "baseline_roberta_large/conceptnet.json")] = None,
    k: Annotated[str, typer.Option(
        "--k", help="Cut-offs for precision@k, comma-separated")] = "10,50,100",
) -> None:
    """Score a BertNet harvest: precision@k, recall, novelty, diversity, baseline table.

    Precision and recall are against the held-out seeds (--relations with --heldout-seeds)
    plus --gold; novelty against --kb. Entities are compared normalised (underscores to
    spaces, casefolded). Reports go to --out as harvest.json, harvest.md and, with gold,
    harvest.png.
    """
    from kgx.evaluation.harvest import HarvestSources, evaluate_sources, parse_cutoffs
    from kgx.evaluation.harvest_report import harvest_markdown, precision_plot
    from kgx.evaluation.reports import write_report

    for path in (harvest_file, relations, gold, kb, baseline):
        require_file(path)
    sources = HarvestSources(harvest=harvest_file, relations=relations,
                             heldout_seeds=heldout_seeds, gold=gold, kb=kb, baseline=baseline,
                             ks=parse_cutoffs(k))
    report = evaluate_sources(sources)
    markdown = harvest_markdown(report)
    written(Console(stderr=True), write_report(out, "harvest", report, markdown,
                                                precision_plot(report)))
    typer.echo(markdown)


def _register_late_commands() -> None:
    """Evaluations whose commands live in their own modules (qa with retrieval, kb with kb)."""
    from kgx.cli.kb import eval_kb
    from kgx.cli.qa import eval_qa

    eval_app.command("qa")(eval_qa)
    eval_app.command("kb")(eval_kb)


_register_late_commands()
