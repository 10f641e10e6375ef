"""Keep a store current: delete documents, replace changed ones, and sync a store to a folder.

A document is known across versions by its key: its external id, else its source path. Deleting
runs one store transaction per batch of documents, so a delete killed half-way leaves whole
documents behind and running it again finishes the job.

    with open_store("./kgx-store") as store:
        report = delete_documents(store, ["doc_3f2a…"])
        plan = plan_sync(store, "docs/")           # added, changed, removed
        sync_folder(store, "docs/", ExtractConfig())
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from kgx.errors import ConfigError
from kgx.graphdb.deletion import DeletedDocuments
from kgx.models import Document, Entity

DELETE_BATCH = 500
"""Documents deleted per store transaction."""
DELETE_RUN = "kgx.delete"

Progress = Callable[[int, int], None]


@dataclass
class DeleteReport(DeletedDocuments):
    """What `delete_documents` removed over all batches; unknown ids were reported, not fatal."""

    run_id: str = ""


def delete_documents(store, doc_ids: Sequence[str], *, batch_size: int = DELETE_BATCH,
                     on_progress: Progress | None = None, record: bool = True) -> DeleteReport:
    """Delete documents and what was extracted from them, `batch_size` per transaction.

    Idempotent: ids already gone are listed as unknown. With `record`, a Run node counts them.
    """
    from kgx.graphdb import RunRecord

    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    ids = list(dict.fromkeys(doc_ids))
    store.connect()
    run = RunRecord(id=new_run_id(), extractor=DELETE_RUN, status="running", started_at=_now())
    if record:
        store.save_run(run)
    report = DeleteReport(run_id=run.id)
    for start in range(0, len(ids), batch_size):
        report.add(store.delete_documents(ids[start:start + batch_size]))
        if on_progress:
            on_progress(min(start + batch_size, len(ids)), len(ids))
    if record:
        store.save_run(dataclasses.replace(run, status="complete", finished_at=_now(),
                                           deleted=len(report.documents)))
    return report


def documents_from_sources(store, paths: Sequence[str | Path]) -> tuple[list[str], list[str]]:
    """Ids of the stored documents read from `paths` (files, folders, or `.jsonl` records),
    and the paths no stored document came from."""
    stored = store.documents()
    ids: list[str] = []
    unmatched: list[str] = []
    for path in paths:
        found = [doc.id for doc in stored
                 if source_within(doc.source, str(path))
                 or source_within(os.path.abspath(doc.source), os.path.abspath(path))]
        ids += found
        if not found:
            unmatched.append(str(path))
    return list(dict.fromkeys(ids)), unmatched


def source_within(source: str, path: str) -> bool:
    """Whether a source is `path`, a record `path:LINE` of it, or a file under folder `path`."""
    path = path.rstrip("/") or "/"
    if source == path:
        return True
    rest = source[len(path):] if source.startswith(path) else None
    if rest is None:
        return False
    return rest.startswith("/") or (rest[:1] == ":" and rest[1:].isdigit()) or path == "/"


def find_old_versions(todo: Sequence[Document], read: Sequence[Document],
                      stored) -> dict[str, list[str]]:
    """For each document to write, the stored documents with its key but other content.

    A stored document that is itself among those read is current, never an old version.
    """
    read_ids = {doc.id for doc in read}
    by_key: dict[str, list[str]] = {}
    for doc in stored:
        if doc.key and doc.id not in read_ids:
            by_key.setdefault(doc.key, []).append(doc.id)
    return {doc.id: by_key[doc.key] for doc in todo if doc.key and doc.key in by_key}


def entities_after_delete(store, old_versions: dict[str, list[str]]) -> list[Entity]:
    """The store's entities once the old versions are gone, for resolving their replacements
    exactly as a fresh extraction would."""
    old = sorted({i for ids in old_versions.values() for i in ids})
    return store.entities_after_delete(old) if old else list(store.entities())


def new_run_id() -> str:
    """A run id that sorts by time."""
    return f"run_{datetime.now(timezone.utc):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
