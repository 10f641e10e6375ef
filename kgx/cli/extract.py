"""`kgx extract`: build or extend a graph from documents, with a progress bar and a summary."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from kgx.cli.options import StoreOption
from kgx.errors import InputError
from kgx.graphdb import open_store
from kgx.pipeline import ExtractConfig, ExtractReport, extract_corpus


def extract(
    paths: Annotated[list[Path], typer.Argument(help=".txt, .md or .jsonl files, or folders")],
    store: StoreOption = None,
    extractor: Annotated[str, typer.Option(help="Extractor name, e.g. spacy")] = "spacy",
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the last unfinished run (same run id)")] = False,
    max_tokens: Annotated[int, typer.Option(help="Chunk token budget")] = 256,
    batch_documents: Annotated[int, typer.Option(help="Documents per store write")] = 128,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each batch")] = False,
) -> None:
    """Extract entities and relations from PATHS into the graph store.

    Documents already extracted with the same extractor are skipped, so a killed run can simply
    be started again; --resume also keeps the interrupted run's id on the new facts.
    """
    if verbose:
        logging.getLogger("kgx").setLevel(logging.INFO)
    config = ExtractConfig(extractor=extractor, max_tokens=max_tokens,
                           batch_documents=batch_documents)
    console = Console(stderr=True)
    with open_store(store) as graph, _progress(console) as progress:
        task = progress.add_task("extracting", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = extract_corpus(paths, graph, config, resume=resume, on_progress=advance)
    _print_summary(console, report, graph.uri)
    if report.documents_seen == 0:
        raise InputError("no readable documents in the given paths; the table above says why "
                         "each input was skipped")


def _progress(console: Console) -> Progress:
    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                    disable=not console.is_terminal)


def _print_summary(console: Console, report: ExtractReport, uri: str) -> None:
    console.print(
        f"run {report.run_id} with {report.extractor} → {uri}: "
        f"{report.documents_written} documents written, {report.documents_already_done} already "
        f"done, {report.chunks} chunks, {report.relations} relations in {report.seconds:.1f}s",
        soft_wrap=True,
    )
    if report.llm_usage:
        from kgx.llm.usage import usage_line

        console.print(usage_line(report.llm_usage), soft_wrap=True)
    if report.skipped:
        table = Table(title=f"{len(report.skipped)} inputs skipped")
        table.add_column("input", overflow="fold")
        table.add_column("why", overflow="fold")
        for item in report.skipped:
            table.add_row(item.source, item.reason)
        console.print(table)
