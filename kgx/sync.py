"""`kgx sync`: make a store match a folder, adding new files, replacing changed ones and
deleting the documents of files that are gone.

    plan = plan_sync(store, "docs/", ExtractConfig())
    print(plan.summary())                       # 2 added, 1 changed, 1 removed, 40 unchanged
    report = sync_folder(store, "docs/", ExtractConfig())
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kgx.ingest import Skipped, read_documents
from kgx.lifecycle import DeleteReport, delete_documents, source_within
from kgx.pipeline import ExtractConfig, ExtractReport, extract_corpus, make_extractor


@dataclass
class SyncPlan:
    """What a sync will do, by document source (a file, or `file.jsonl:LINE`)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    removed_ids: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """Stored documents whose file could not be read now; kept rather than deleted."""

    def summary(self) -> str:
        """One line of counts."""
        line = (f"{len(self.added)} added, {len(self.changed)} changed, "
                f"{len(self.removed)} removed, {self.unchanged} unchanged")
        if self.kept:
            line += f", {len(self.kept)} kept (unreadable now)"
        return line


@dataclass
class SyncReport:
    """The plan a sync carried out, what its deletes removed and what its extraction wrote."""

    plan: SyncPlan
    deleted: DeleteReport | None = None
    extracted: ExtractReport | None = None


def plan_sync(store, folder: str | Path, config: ExtractConfig, extractor_name: str
              ) -> SyncPlan:
    """Compare the folder's documents with the store's documents read from that folder;
    a document counts as unchanged once extracted with `extractor_name`."""
    ingested = read_documents([folder], max_bytes=config.max_bytes, options=config.input)
    name = extractor_name
    store.connect()
    stored = [doc for doc in store.documents() if source_within(doc.source, str(folder))]
    stored_ids = {doc.id: doc for doc in stored}
    stored_keys = {doc.key for doc in stored}
    plan = SyncPlan(skipped=list(ingested.skipped))
    read_keys = set()
    for doc in {d.id: d for d in ingested.documents}.values():
        read_keys.add(doc.key)
        known = stored_ids.get(doc.id)
        if known is not None and name in known.extracted_with:
            plan.unchanged += 1
        elif known is None and doc.key in stored_keys:
            plan.changed.append(doc.source)
        else:
            plan.added.append(doc.source)
    read_ids = {doc.id for doc in ingested.documents}
    for doc in stored:
        if doc.id in read_ids or doc.key in read_keys:
            continue
        if any(source_within(doc.source, item.source) for item in ingested.skipped):
            plan.kept.append(doc.source)
        else:
            plan.removed.append(doc.source)
            plan.removed_ids.append(doc.id)
    return plan


def sync_folder(store, folder: str | Path, config: ExtractConfig, *, extractor=None,
                plan: SyncPlan | None = None, on_progress=None) -> SyncReport:
    """Carry out a sync: delete what is gone, then extract what is new or changed.

    Deletes come first, so new documents resolve their entities as a fresh extraction would.
    Each step commits per batch; a sync killed part-way is finished by running it again.
    """
    extractor = extractor or make_extractor(config)
    plan = plan or plan_sync(store, folder, config, extractor.name)
    report = SyncReport(plan)
    if plan.removed_ids:
        report.deleted = delete_documents(store, plan.removed_ids, record=False)
    deleted = len(report.deleted.documents) if report.deleted else 0
    if plan.added or plan.changed or deleted:
        report.extracted = extract_corpus([folder], store, config, extractor=extractor,
                                          on_progress=on_progress, deleted=deleted)
    return report

