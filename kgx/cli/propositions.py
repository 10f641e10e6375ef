"""`kgx propositions`: abstractive proposition segmentation of a corpus, to JSONL and the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from kgx.cli.extract import (
    check_outcome,
    dry_run_estimate,
    extract_config,
    print_summary,
    run_extraction,
)
from kgx.cli.options import (
    BatchDocumentsOption,
    BatchSecondsOption,
    DryRunOption,
    OnError,
    PricesOption,
    StoreOption,
    llm_options,
)
from kgx.errors import ConfigError

if TYPE_CHECKING:
    from kgx.llm.spec import LLMSettings


@llm_options(on_error=OnError.skip_and_record)
def propositions(
    paths: Annotated[list[Path], typer.Argument(help=".txt, .md or .jsonl files, or folders")],
    out: Annotated[Path, typer.Option("--out", "-o", help="JSONL: one line per sentence")],
    store: StoreOption = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue an interrupted run, appending to --out")] = False,
    max_tokens: Annotated[int, typer.Option(help="Chunk token budget")] = 256,
    batch_documents: BatchDocumentsOption = None,
    batch_seconds: BatchSecondsOption = None,
    dry_run: DryRunOption = False,
    prices: PricesOption = None,
    *,
    settings: LLMSettings,
) -> None:
    """Split PATHS into propositions, sentence by sentence (the grouped APS format).

    Each line of --out holds one sentence: doc_id, chunk_id, sentence_index, sentence, its
    character span and its propositions. The propositions are also stored in the graph as
    Proposition nodes linked to their chunk (FROM_CHUNK) and the entities they name (ABOUT).
    Lines are written once their batch is committed to the store, so the two agree after a crash.
    """
    config = extract_config("propositions", max_tokens, batch_documents, settings,
                            batch_seconds=batch_seconds)
    if dry_run:
        dry_run_estimate(paths, store, config, prices)
        return
    if out.exists() and not resume:
        raise ConfigError(f"{out} already exists; pass --resume to continue it, or choose "
                          "another --out (nothing was overwritten).")
    from kgx.extractors.propositions import PropositionSegmenter
    from kgx.llm.spec import load_llm

    pending: list = []
    segmenter = PropositionSegmenter(load_llm(config.llm.spec, config.llm),
                                     on_record=pending.append)
    out.parent.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True)
    with out.open("a", encoding="utf-8") as sink:
        def flush() -> None:
            sink.writelines(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in pending)
            sink.flush()
            pending.clear()

        report, uri = run_extraction(paths, store, config, resume, console,
                                     extractor=segmenter, after_batch=flush)
    print_summary(console, report, uri)
    console.print(f"propositions of {report.documents_written} documents appended to {out}")
    check_outcome(report)
