"""`kgx kb build|query|export|import` and `kgx eval kb`: the NesyCD symbolic knowledge base.

Build and evaluation split the problem file the same way (--held-out, --seed): the KB is built
from one part and scored on the other, so it is never scored on the problems it came from.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kgx.cli.console import print_usage, stage_progress, written
from kgx.cli.options import (
    ConcurrencyOption,
    MaxTokensOption,
    NoCacheOption,
    OnError,
    RetriesOption,
    StoreOption,
    TimeoutOption,
    llm_settings,
)
from kgx.errors import InputError

kb_app = typer.Typer(help="NesyCD symbolic knowledge base: a teacher's notes on a student's "
                          "mistakes, retrieved into the student's prompt.",
                     no_args_is_help=True)

ProblemsArgument = Annotated[Path, typer.Argument(
    help='GSM8K-style JSONL: {"question", "answer": "worked solution ending in #### N"}')]
StudentOption = Annotated[str, typer.Option(
    "--student", help="Student LLM spec (see `kgx extract --help` for the forms): local, "
                      "openai:MODEL@URL, ...")]
LimitOption = Annotated[int | None, typer.Option(
    "--limit", min=1, help="Use only the first N problems of the split")]
HeldOutOption = Annotated[float, typer.Option(
    "--held-out", min=0.0, max=1.0,
    help="Share of the file kept out of the KB for evaluation; build and eval must agree")]
SeedOption = Annotated[int, typer.Option(help="Seed of the build / held-out split")]


class Method(str, Enum):
    """How entries are retrieved (kgx.kb.index.METHODS)."""

    bm25 = "bm25"
    dense = "dense"


MethodOption = Annotated[Method, typer.Option(
    "--method", help="Retrieval: bm25, or dense (all-MiniLM-L6-v2 cosine)")]
TopKOption = Annotated[int, typer.Option("--top-k", min=1, help="Entries given to the student")]
OnErrorOption = Annotated[OnError, typer.Option(
    "--on-error", help="A reply still unusable after one repair: skip-and-record (a student "
                       "reply counts as wrong, a teacher reply makes no entry) or raise")]


@kb_app.command("build")
def build(
    problems: ProblemsArgument,
    student: StudentOption = "local",
    teacher: Annotated[str, typer.Option(
        "--teacher", help="Teacher LLM spec; it writes one entry per wrong answer")] = "local",
    store: StoreOption = None,
    limit: LimitOption = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Skip problems that already have an entry in the KB")] = False,
    held_out: HeldOutOption = 0.5,
    seed: SeedOption = 0,
    llm_concurrency: ConcurrencyOption = 8,
    llm_timeout: TimeoutOption = 120.0,
    llm_retries: RetriesOption = 4,
    on_error: OnErrorOption = OnError.skip_and_record,
    llm_max_tokens: MaxTokensOption = None,
    teacher_max_tokens: Annotated[int | None, typer.Option(
        "--teacher-max-tokens", min=1,
        help="Cap on the teacher's replies (default: --llm-max-tokens)")] = None,
    no_cache: NoCacheOption = False,
) -> None:
    """Solve the build part of PROBLEMS with --student; --teacher writes an entry per mistake.

    Entries become KnowledgeEntry nodes in --store, linked by KB_ABOUT to CONCEPT entities.
    A rebuild writes nothing new for the same replies; --resume skips problems already in it.
    """
    from kgx.graphdb import open_store
    from kgx.kb.build import build_kb
    from kgx.llm.spec import load_llm

    train = _split(problems, held_out, seed, limit)[0]
    if not train:
        raise InputError(f"no problems left in {problems} to build from with --held-out "
                         f"{held_out}; lower --held-out.")
    options = {"concurrency": llm_concurrency, "timeout": llm_timeout, "retries": llm_retries,
               "on_error": on_error.value, "no_cache": no_cache}
    student_settings = llm_settings(student, max_tokens=llm_max_tokens, **options)
    teacher_settings = llm_settings(teacher, max_tokens=teacher_max_tokens or llm_max_tokens,
                                    **options)
    console = Console(stderr=True)
    with load_llm(student, student_settings) as student_llm, \
            load_llm(teacher, teacher_settings) as teacher_llm, open_store(store) as graph, \
            stage_progress(console) as progress:
        report = build_kb(student_llm, teacher_llm, train, graph, resume=resume,
                          on_progress=progress)
        print_usage(console, student_llm, "student")
        print_usage(console, teacher_llm, "teacher")
    _print_failures(console, "student", report.student_failures)
    _print_failures(console, "teacher", report.teacher_failures)
    typer.echo(f"{report.problems} problems: {report.skipped} already in the KB, "
               f"{report.solved} solved, {report.correct} right, {report.wrong} wrong; "
               f"{report.entries_written} entries written to {graph.uri} "
               f"({len(report.teacher_failures)} teacher replies unusable).")


@kb_app.command("query")
def query(
    problem: Annotated[str, typer.Argument(help="The problem text to find entries for")],
    store: StoreOption = None,
    top_k: TopKOption = 3,
    method: MethodOption = Method.bm25,
    answer: Annotated[bool, typer.Option(
        "--answer", help="Also let --student solve the problem with the entries")] = False,
    student: StudentOption = "local",
    llm_timeout: TimeoutOption = 120.0,
    llm_max_tokens: MaxTokensOption = None,
    no_cache: NoCacheOption = False,
) -> None:
    """Print the top-k knowledge entries for PROBLEM; with --answer, the student's answer too."""
    from kgx.kb.index import KBIndex

    hits = KBIndex(_entries(store), method.value).search(problem, top_k)
    for rank, hit in enumerate(hits, 1):
        typer.echo(_entry_text(rank, hit))
    if answer:
        _answer(problem, [hit.entry for hit in hits], llm_settings(
            student, timeout=llm_timeout, max_tokens=llm_max_tokens, no_cache=no_cache,
            on_error="skip-and-record"))


@kb_app.command("export")
def export(
    out: Annotated[Path, typer.Argument(help="JSONL file to write, one entry per line")],
    store: StoreOption = None,
) -> None:
    """Write every knowledge entry of --store to OUT as JSONL, in id order."""
    from kgx.graphdb import open_store
    from kgx.kb.transfer import export_kb

    with open_store(store, read_only=True) as graph:
        count = export_kb(graph, out)
    typer.echo(f"{count} entries written to {out}")


@kb_app.command("import")
def import_(
    source: Annotated[Path, typer.Argument(help="JSONL of entries, as `kgx kb export` writes")],
    store: StoreOption = None,
) -> None:
    """Upsert the entries of SOURCE into --store; a bad line stops the import before any write."""
    from kgx.graphdb import open_store
    from kgx.kb.store import save_entries
    from kgx.kb.transfer import read_entries

    entries = read_entries(source)  # every line is checked before the store is even opened
    with open_store(store) as graph:
        save_entries(graph, entries, keep_created=False)
    typer.echo(f"{len(entries)} entries imported into {graph.uri}")


def eval_kb(
    problems: ProblemsArgument,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for kb.json and kb.md")],
    student: StudentOption = "local",
    store: StoreOption = None,
    limit: LimitOption = None,
    method: MethodOption = Method.bm25,
    top_k: TopKOption = 3,
    held_out: HeldOutOption = 0.5,
    seed: SeedOption = 0,
    llm_concurrency: ConcurrencyOption = 8,
    llm_timeout: TimeoutOption = 120.0,
    llm_retries: RetriesOption = 4,
    llm_max_tokens: MaxTokensOption = None,
    no_cache: NoCacheOption = False,
) -> None:
    """Student accuracy on the held-out part of PROBLEMS without and with the KB in --store.

    Problems the KB has entries about are left out. Writes kb.json (with a record per
    problem) and kb.md to --out and prints the table.
    """
    from kgx.evaluation.reports import write_report
    from kgx.graphdb import open_store
    from kgx.kb.evaluate import evaluate_kb, kb_markdown
    from kgx.llm.spec import load_llm

    test = _split(problems, held_out, seed, limit)[1]
    if not test:
        raise InputError(f"no held-out problems in {problems} with --held-out {held_out}; "
                         "raise --held-out.")
    settings = llm_settings(student, concurrency=llm_concurrency, timeout=llm_timeout,
                            retries=llm_retries, on_error="skip-and-record",
                            max_tokens=llm_max_tokens, no_cache=no_cache)
    console = Console(stderr=True)
    with open_store(store, read_only=True) as graph:
        _require_entries(graph)
        with load_llm(student, settings) as llm, stage_progress(console) as progress:
            report = evaluate_kb(llm, test, graph, method=method.value, k=top_k,
                                 on_progress=progress)
            print_usage(console, llm, "student")
    markdown = kb_markdown(report)
    written(console, write_report(out, "kb", report, markdown))
    typer.echo(markdown)


# -- helpers -----------------------------------------------------------------------------------

def _split(path: Path, held_out: float, seed: int, limit: int | None):
    """(build, held-out) problems of the file, each cut to `limit`."""
    from kgx.kb.problems import load_problems, split_problems

    train, test = split_problems(load_problems(path), held_out=held_out, seed=seed)
    return train[:limit], test[:limit]


def _entries(store: str | None):
    from kgx.graphdb import open_store
    from kgx.kb.store import load_entries

    with open_store(store, read_only=True) as graph:
        _require_entries(graph)
        return load_entries(graph)


def _require_entries(graph) -> None:
    from kgx.kb.store import count_entries

    if count_entries(graph) == 0:
        raise InputError(f"the knowledge base in {graph.uri} is empty. Build it with `kgx kb "
                         f"build PROBLEMS.jsonl --store {graph.uri}` or load one with `kgx kb "
                         f"import FILE.jsonl --store {graph.uri}`.")


def _entry_text(rank: int, hit) -> str:
    entry = hit.entry
    problem = entry.problem if len(entry.problem) <= 160 else entry.problem[:159] + "…"
    return (f"{rank}. {entry.id}  score {hit.score:.3f}  concepts: "
            f"{', '.join(entry.concepts) or '-'}\n   problem: {problem}\n"
            f"   summary: {entry.summary}\n   knowledge: {entry.knowledge}")


def _answer(problem: str, entries, settings) -> None:
    from kgx.kb.problems import extract_answer
    from kgx.kb.prompts import student_request
    from kgx.llm.spec import load_llm

    with load_llm(settings.spec, settings) as llm:
        [reply] = llm.generate([student_request(problem, entries)])
    if not reply.ok:
        typer.echo(f"\nstudent ({llm.model}) gave no usable reply: {reply.error}")
        return
    typer.echo(f"\nstudent ({llm.model}), given {len(entries)} entries:\n{reply.text.strip()}\n"
               f"answer: {extract_answer(reply.text) or '(none found)'}")


def _print_failures(console: Console, role: str, failures: list[str]) -> None:
    if failures:
        console.print(f"[yellow]{len(failures)} {role} replies were unusable; first: "
                      f"{failures[0]}[/yellow]", soft_wrap=True)
