"""`kgx delete` and `kgx sync`: take documents out of a store, or make it match a folder."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kgx.cli.extract import extract_config, print_summary, progress_bar
from kgx.cli.options import (
    BatchDocumentsOption,
    ChunkTokensOption,
    ExcludeOption,
    ExtractorOption,
    IdColumnOption,
    IncludeOption,
    LLMOption,
    OnError,
    OnErrorOption,
    StoreOption,
    TextColumnOption,
    TitleColumnOption,
    input_options,
    llm_settings,
)
from kgx.errors import InputError, StoreError
from kgx.graphdb import NEO4J_SCHEMES, open_store

log = logging.getLogger("kgx.lifecycle")
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Log each batch")]


def delete(
    doc_ids: Annotated[list[str] | None, typer.Argument(
        help="Document ids (as in Document.id) to delete")] = None,
    source: Annotated[list[Path] | None, typer.Option(
        "--source", help="Delete the documents read from this file or folder (repeatable)")
    ] = None,
    store: StoreOption = None,
    batch_size: Annotated[int, typer.Option(
        min=1, help="Documents deleted per store transaction")] = 500,
    verbose: VerboseOption = False,
) -> None:
    """Delete documents and everything extracted from them.

    Chunks, propositions, RELATION and MENTIONS edges go with their document; entities nothing
    mentions any more are removed, and aliases only the deleted documents used are dropped.
    Knowledge-base entries (`kgx kb`) stay. Ids not in the store are reported and skipped. One
    transaction per batch: a delete that is killed is finished by running it again.
    """
    from kgx.lifecycle import delete_documents, documents_from_sources

    if verbose:
        logging.getLogger("kgx").setLevel(logging.INFO)
    if not doc_ids and not source:
        raise InputError("nothing to delete: pass document ids, or --source PATH")
    console = Console(stderr=True)
    _existing_store(store)
    with open_store(store) as graph, progress_bar(console) as progress:
        ids = list(doc_ids or [])
        unmatched: list[str] = []
        if source:
            found, unmatched = documents_from_sources(graph, source)
            ids += found
        task = progress.add_task("deleting", total=len(ids))

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done)
            log.info("deleted batch: %d/%d documents", done, total)

        report = delete_documents(graph, ids, batch_size=batch_size, on_progress=advance)
    console.print(f"deleted {len(report.documents)} documents from {graph.uri}: "
                  f"{report.chunks} chunks, {report.relations} relations, "
                  f"{report.propositions} propositions, {report.entities} orphan entities, "
                  f"{report.aliases} aliases (run {report.run_id})", soft_wrap=True)
    for doc_id in report.unknown:
        console.print(f"not in the store (skipped): {doc_id}", soft_wrap=True)
    for path in unmatched:
        console.print(f"no stored document was read from {path} (skipped)", soft_wrap=True)


def sync(
    folder: Annotated[Path, typer.Argument(help="Folder (or file) the store should match")],
    store: StoreOption = None,
    extractor: ExtractorOption = "spacy",
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the plan (added, changed, removed) and stop")] = False,
    max_tokens: ChunkTokensOption = 256,
    batch_documents: BatchDocumentsOption = None,
    llm: LLMOption = "local",
    on_error: OnErrorOption = OnError.skip_and_record,
    verbose: VerboseOption = False,
    include: IncludeOption = None,
    exclude: ExcludeOption = None,
    text_column: TextColumnOption = "text",
    id_column: IdColumnOption = None,
    title_column: TitleColumnOption = None,
) -> None:
    """Make the store match FOLDER: add new files, replace changed ones, delete removed ones.

    Files --include/--exclude leave out count as removed.

    A file is changed when its path (or a record's "id") is stored with other content; its old
    facts are deleted and the new ones written in the same transaction. The plan is printed
    first. Files that cannot be read now keep their stored documents.
    """
    from kgx.pipeline import make_extractor
    from kgx.sync import plan_sync, sync_folder

    if verbose:
        logging.getLogger("kgx").setLevel(logging.INFO)
    config = extract_config(extractor, max_tokens, batch_documents,
                            llm_settings(llm, on_error=on_error),
                            input_options(include, exclude, text_column, id_column, title_column))
    console = Console(stderr=True)
    extractor_ = make_extractor(config)
    if dry_run:  # a plan changes nothing, not even by creating a store
        with _store_or_none(store) as graph:
            _print_plan(console, plan_sync(graph, folder, config, extractor_.name))
        return
    with open_store(store) as graph:
        plan = plan_sync(graph, folder, config, extractor_.name)
        _print_plan(console, plan)
        with progress_bar(console) as progress:
            task = progress.add_task("syncing", total=None)
            report = sync_folder(graph, folder, config, extractor=extractor_, plan=plan,
                                 on_progress=lambda done, total: progress.update(
                                     task, completed=done, total=total))
    if report.extracted is not None:
        print_summary(console, report.extracted, graph.uri)
    console.print(f"sync of {folder} → {graph.uri} done: {plan.summary()}", soft_wrap=True)


def _existing_store(uri: str | None) -> None:
    """Raise the store's own "no kgx store here" error rather than create an empty one."""
    with open_store(uri, read_only=True) as graph:
        graph.connect()


@contextmanager
def _store_or_none(uri: str | None) -> Iterator:
    """The store opened read-only, or an empty stand-in where there is none yet."""
    try:
        graph = open_store(uri, read_only=True)
        graph.connect()
    except StoreError:
        if str(uri or "").startswith(NEO4J_SCHEMES):
            raise  # a server that does not answer is an error, not an empty store
        yield _NoStore()
        return
    try:
        yield graph
    finally:
        graph.close()


class _NoStore:
    """A store that does not exist yet: no documents."""

    def connect(self) -> None:
        pass

    def documents(self) -> list:
        return []


def _print_plan(console: Console, plan) -> None:
    console.print(f"plan: {plan.summary()}", soft_wrap=True)
    for label, sources in (("add", plan.added), ("replace", plan.changed),
                           ("delete", plan.removed), ("keep (unreadable)", plan.kept)):
        for source in sources:
            console.print(f"  {label}: {source}", soft_wrap=True)
    for item in plan.skipped:
        console.print(f"  skipped: {item.source}: {item.reason}", soft_wrap=True)
