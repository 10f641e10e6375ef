"""`kgx extract`: build or extend a graph from documents, with a progress bar and a summary."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from kgx.cli.engine_options import (
    EngineName,
    EngineOption,
    RayAddressOption,
    WorkerCpusOption,
    WorkerGpusOption,
    WorkersOption,
    make_engine,
)
from kgx.cli.options import (
    BatchDocumentsOption,
    BatchSecondsOption,
    ChunkTokensOption,
    DryRunOption,
    ExcludeOption,
    ExtractorOption,
    IdColumnOption,
    IncludeOption,
    OnError,
    PricesOption,
    StoreOption,
    TextColumnOption,
    TitleColumnOption,
    input_options,
    llm_options,
)
from kgx.errors import ConfigError, ExtractionError, InputError, StoreError
from kgx.graphdb import open_store
from kgx.pipeline import (
    ExtractConfig,
    ExtractReport,
    estimate_corpus,
    extract_corpus,
    make_extractor,
)

if TYPE_CHECKING:
    from kgx.llm.spec import LLMSettings


@llm_options(on_error=OnError.skip_and_record)
def extract(
    paths: Annotated[list[Path], typer.Argument(
        help=".txt, .md, .jsonl, .pdf, .html, .docx, .csv or .parquet files, or folders")],
    store: StoreOption = None,
    extractor: ExtractorOption = "spacy",
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the last unfinished run (same run id)")] = False,
    max_tokens: ChunkTokensOption = 256,
    batch_documents: BatchDocumentsOption = None,
    batch_seconds: BatchSecondsOption = None,
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed", help="Extract again only the chunks whose LLM replies failed in "
                               "earlier runs of this extractor (recorded on their Run), e.g. "
                               "with another --llm")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each batch")] = False,
    dry_run: DryRunOption = False,
    prices: PricesOption = None,
    include: IncludeOption = None,
    exclude: ExcludeOption = None,
    text_column: TextColumnOption = "text",
    id_column: IdColumnOption = None,
    title_column: TitleColumnOption = None,
    engine: EngineOption = EngineName.local,
    ray_address: RayAddressOption = None,
    workers: WorkersOption = None,
    worker_cpus: WorkerCpusOption = 1.0,
    worker_gpus: WorkerGpusOption = 0.0,
    *,
    settings: LLMSettings,
) -> None:
    """Extract entities and relations from PATHS into the graph store.

    Documents already extracted with the same extractor are skipped, so a killed run can simply
    be started again; --resume also keeps the interrupted run's id on the new facts. A batch is
    written after --batch-documents documents or --batch-seconds seconds, whichever comes first.
    LLM extractors (synthkg, direct, propositions, student) use --llm, skip and record a chunk
    whose reply stays malformed (--on-error raise stops instead), and print their LLM usage.

    --engine ray reads, chunks and extracts on a Ray cluster (--ray-address, or a local Ray),
    one extractor actor per --worker-cpus CPUs (or --worker-gpus GPUs); this process resolves
    entities and writes the same batches as --engine local, so the graph, --resume and re-runs
    are the same. HTTP LLMs keep one --llm-concurrency limit over the whole cluster.
    """
    if verbose:
        logging.getLogger("kgx").setLevel(logging.INFO)
    config = extract_config(extractor, max_tokens, batch_documents, settings,
                            input_options(include, exclude, text_column, id_column,
                                          title_column), batch_seconds)
    console = Console(stderr=True)
    chosen = make_engine(engine, ray_address, workers, worker_cpus, worker_gpus)
    if dry_run:  # an estimate reads the inputs and counts tokens: no worker is needed
        dry_run_estimate(paths, store, config, prices, chosen)
        return
    report, uri = run_extraction(paths, store, config, resume, console,
                                 retry_failed=retry_failed, engine=chosen)
    print_summary(console, report, uri)
    check_outcome(report, retry_failed)


def check_outcome(report: ExtractReport, retry_failed: bool = False) -> None:
    """Exit non-zero when nothing was read, or every chunk's extraction failed."""
    if retry_failed and report.documents_seen == 0:
        typer.echo("No recorded failed chunks in the given paths; nothing to retry.", err=True)
        return
    if report.documents_seen == 0:
        raise InputError("no readable documents in the given paths; the table above says why "
                         "each input was skipped")
    failed = {f.chunk_id for f in report.failures}
    if report.chunks and len(failed) >= report.chunks:
        raise ExtractionError(
            f"every one of the {report.chunks} chunks failed ({report.failures[0].error}); "
            "nothing could be extracted. Check the --llm, raise --llm-max-tokens, or try "
            "another model; `kgx extract ... --retry-failed` re-attempts just these chunks.")


def extract_config(extractor: str, max_tokens: int, batch_documents: int | None,
                   llm, inputs=None, batch_seconds: float | None = None) -> ExtractConfig:
    """The run's settings from the command line; bad values are a ConfigError naming them."""
    from pydantic import ValidationError

    try:
        return ExtractConfig(extractor=extractor, max_tokens=max_tokens,
                             batch_documents=batch_documents, batch_seconds=batch_seconds,
                             llm=llm,
                             **({"input": inputs} if inputs is not None else {}))
    except ValidationError as e:
        first = e.errors()[0]
        raise ConfigError(f"bad option {'.'.join(map(str, first['loc']))}: {first['msg']}"
                          ) from e


def run_extraction(paths, store, config: ExtractConfig, resume: bool, console: Console,
                   extractor=None, after_batch=None, retry_failed: bool = False,
                   engine="local") -> tuple[ExtractReport, str]:
    """`extract_corpus` with a progress bar; the report and the store's URI.

    `after_batch()` runs after each batch is committed to the store.
    """
    with open_store(store) as graph, progress_bar(console) as progress:
        task = progress.add_task("extracting", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)
            if after_batch is not None:
                after_batch()

        report = extract_corpus(paths, graph, config, resume=resume, on_progress=advance,
                                extractor=extractor, retry_failed=retry_failed, engine=engine)
    return report, graph.uri


def dry_run_estimate(paths, store, config: ExtractConfig, prices, engine="local") -> None:
    """Print what the run would spend on the LLM, for the documents not yet extracted, and
    with a Ray engine the actors it would start and each one's share."""
    from kgx.llm.usage import load_prices

    extractor = make_extractor(config)
    try:
        graph = open_store(store, read_only=True)
        graph.connect()
    except StoreError:  # no store yet: every document is still to do
        graph = None
    try:
        estimate = estimate_corpus(paths, graph, config, extractor, load_prices(prices))
    finally:
        if graph is not None:
            graph.close()
    if estimate is None:
        typer.echo(f"Dry run: {extractor.name} calls no LLM; nothing to estimate.")
    else:
        typer.echo(estimate.summary())
    if not isinstance(engine, str):
        typer.echo(engine.dry_run_plan(estimate, extractor))


def progress_bar(console: Console) -> Progress:
    """A progress bar on stderr, shown on a terminal only."""
    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                    disable=not console.is_terminal)


def print_summary(console: Console, report: ExtractReport, uri: str) -> None:
    console.print(
        f"run {report.run_id} with {report.extractor} → {uri}: "
        f"{report.documents_written} documents written, {report.documents_already_done} already "
        f"done, {report.chunks} chunks, {report.relations} relations in {report.seconds:.1f}s",
        soft_wrap=True,
    )
    if report.llm_usage:
        from kgx.llm.usage import usage_line

        console.print(usage_line(report.llm_usage), soft_wrap=True)
        if report.run_documents:
            usage, docs = report.llm_usage, report.run_documents
            console.print(f"per document: {usage['llm_calls'] / docs:.1f} LLM calls, "
                          f"{usage['prompt_tokens'] / docs:,.0f} prompt + "
                          f"{usage['completion_tokens'] / docs:,.0f} completion tokens",
                          soft_wrap=True)
    if report.failures:
        table = Table(title=f"{len(report.failures)} prompt steps failed and were skipped "
                            "(recorded on the run; --retry-failed re-attempts them)")
        for column in ("chunk", "step", "error"):
            table.add_column(column, overflow="fold")
        for failure in report.failures:
            table.add_row(failure.chunk_id, failure.step, failure.error)
        console.print(table)
    if report.skipped:
        table = Table(title=f"{len(report.skipped)} inputs skipped")
        table.add_column("input", overflow="fold")
        table.add_column("why", overflow="fold")
        for item in report.skipped:
            table.add_row(item.source, item.reason)
        console.print(table)
