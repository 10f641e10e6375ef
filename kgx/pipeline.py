"""The extraction pipeline: ingest → chunk → extract → resolve entities → write, batch by batch.

Each batch of documents is written in one store transaction together with the mark that says
those documents are done, so a run killed at any point resumes where it stopped and never writes
a fact twice.

    report = extract_corpus(["docs/"], open_store("./kgx-store"), ExtractConfig())
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from kgx.batching import Work, commit_policy
from kgx.chunking import chunk_document
from kgx.engine import Engine, get_engine
from kgx.extractors.protocol import Extractor, Plannable
from kgx.graphdb.protocol import GraphStore
from kgx.ingest import Skipped, read_documents
from kgx.lifecycle import entities_after_delete, find_old_versions, new_run_id
from kgx.llm.protocol import Metered, RecordsFailures, UsesLLM
from kgx.llm.spec import LLMSettings
from kgx.models import ChunkExtraction, Document, Entity, GraphBatch, Proposition, Relation
from kgx.resolution import EntityResolver
from kgx.run_failures import failure_record, retry_work
from kgx.tabular import InputOptions

log = logging.getLogger("kgx.pipeline")


class ExtractConfig(BaseModel):
    """Settings of one `kgx extract` run."""

    model_config = ConfigDict(extra="forbid")

    extractor: str = "spacy"
    max_tokens: int = Field(default=256, ge=16, description="chunk token budget (SynthKG: 256)")
    batch_documents: int | None = Field(
        default=None, ge=1, description="a batch is written after this many documents "
        "(default: 128 for spaCy, 16 for LLM extractors)")
    batch_seconds: float | None = Field(
        default=None, gt=0, description="... or after this many seconds of extraction "
        "(default: none for spaCy, 60 for LLM extractors)")
    max_bytes: int = Field(default=20_000_000, ge=1, description="larger input files are skipped")
    input: InputOptions = Field(default_factory=InputOptions,
                                description="table columns and --include/--exclude globs")
    resolution_threshold: float = Field(default=90.0, ge=0, le=100)
    llm: LLMSettings = Field(default_factory=lambda: LLMSettings(on_error="skip-and-record"),
                             description="the LLM of LLM extractors (synthkg, direct, ...); a "
                                         "chunk whose reply stays malformed is recorded and "
                                         "skipped unless on_error is raise")


@dataclass
class ExtractReport:
    """What a run did: documents written, skipped inputs and why, and the run id."""

    run_id: str
    extractor: str
    documents_seen: int = 0
    documents_already_done: int = 0
    documents_written: int = 0
    chunks: int = 0
    relations: int = 0
    seconds: float = 0.0
    skipped: list[Skipped] = field(default_factory=list)
    failures: list = field(default_factory=list)
    """Prompt steps skipped under on_error="skip-and-record" (`StepFailure` records)."""
    retried: list[str] = field(default_factory=list)
    """Chunks re-extracted by a `retry_failed` run."""
    llm_usage: dict[str, int | float] = field(default_factory=dict)
    """LLM calls and tokens this run spent, summed over resumed parts; empty without an LLM."""
    run_documents: int = 0
    """Documents the run wrote, over all its resumed parts (what `llm_usage` was spent on)."""
    documents_replaced: int = 0
    """Documents written in place of an older version (same source or external id)."""
    documents_deleted: int = 0
    """Documents a sync deleted before this run (files that disappeared)."""


ProgressCallback = Callable[[int, int], None]


def extract_corpus(paths: Sequence[str | Path], store: GraphStore, config: ExtractConfig, *,
                   resume: bool = False, extractor: Extractor | None = None,
                   on_progress: ProgressCallback | None = None,
                   deleted: int = 0, retry_failed: bool = False,
                   engine: str | Engine = "local") -> ExtractReport:
    """Extract a knowledge graph from `paths` into `store`; safe to interrupt and run again.

    A document whose source or external id is stored with other content replaces that older
    version. `deleted` counts documents a sync removed before, for the run record. With
    `retry_failed`, only the chunks whose prompt steps failed in earlier runs of this extractor
    (and were recorded on their `Run`) are extracted again. `engine` runs the read, chunk and
    extract stages in this process ("local") or on a Ray cluster ("ray", or a `RayEngine`);
    the graph is the same either way.
    """
    engine = get_engine(engine)
    try:
        return _extract_corpus(paths, store, config, engine, resume, extractor, on_progress,
                               deleted, retry_failed)
    finally:
        engine.close()


def _extract_corpus(paths, store, config: ExtractConfig, engine: Engine, resume: bool,
                    extractor, on_progress, deleted: int, retry_failed: bool) -> ExtractReport:
    started = time.perf_counter()
    ingested = engine.read(paths, config)
    extractor = engine.extractor(extractor, config)
    store.connect()
    run = _start_run(store, extractor.name, config, resume and not retry_failed)
    report = ExtractReport(run.id, extractor.name, skipped=list(ingested.skipped))
    work = _work(ingested.documents, store, extractor, config, report, retry_failed, engine)
    report.documents_deleted = deleted
    if work:
        extractor.warm_up()
        todo = [item.document for item in work if item.completes]
        old_versions = find_old_versions(todo, ingested.documents, store.documents())
        resolver = EntityResolver(threshold=config.resolution_threshold)
        resolver.add_known(entities_after_delete(store, old_versions))
        _extract_batches(work, store, extractor, resolver, config, report, on_progress, run,
                         old_versions, engine)
    _save_run(store, run, extractor, report, status="complete")
    report.failures = _failures(extractor)
    report.seconds = time.perf_counter() - started
    return report


def _work(documents: list[Document], store, extractor, config: ExtractConfig,
          report: ExtractReport, retry_failed: bool, engine: Engine) -> list[Work]:
    """What to extract: the documents not yet done, or the chunks that failed before."""
    if retry_failed:
        return retry_work(documents, store, extractor.name, config.max_tokens, report)
    todo = _pending(documents, store.completed_documents(extractor.name), report)
    return [Work(doc, engine.chunks(doc, config.max_tokens)) for doc in todo]


def make_extractor(config: ExtractConfig):
    """The extractor `config` names, with its LLM when it takes one."""
    from kgx.extractors import default_llm, get_extractor, takes_llm

    if takes_llm(config.extractor):
        from kgx.llm.spec import load_llm

        settings = config.llm
        own = default_llm(config.extractor)
        if own and settings.spec == "local":  # "local" is the CLI default: the extractor's own
            settings = settings.model_copy(update={"spec": own})
        return get_extractor(config.extractor, llm=load_llm(settings.spec, settings))
    return get_extractor(config.extractor)


def estimate_corpus(paths: Sequence[str | Path], store, config: ExtractConfig, extractor,
                    prices=None):
    """What extracting `paths` would cost in LLM calls and tokens, skipping finished documents.

    Returns None for extractors without an LLM (nothing to estimate). `store` may be None for a
    store that does not exist yet.
    """
    if not isinstance(extractor, Plannable):
        return None
    ingested = read_documents(paths, max_bytes=config.max_bytes, options=config.input)
    done = set()
    if store is not None:
        store.connect()
        done = store.completed_documents(extractor.name)
    todo = _pending(ingested.documents, done, ExtractReport("dry-run", extractor.name))
    chunks = [c for doc in todo for c in chunk_document(doc, max_tokens=config.max_tokens)]
    return extractor.llm.estimate(extractor.plan(chunks), prices)


def _pending(documents: list[Document], done: set[str], report: ExtractReport) -> list[Document]:
    """Documents not yet extracted with this extractor, each id once, in input order."""
    unique = list({doc.id: doc for doc in documents}.values())
    report.documents_seen = len(unique)
    todo = [doc for doc in unique if doc.id not in done]
    report.documents_already_done = len(unique) - len(todo)
    if report.documents_already_done:
        log.info("%d of %d documents were already extracted with %s; skipping them",
                 report.documents_already_done, len(unique), report.extractor)
    return todo


def _extract_batches(work: list[Work], store, extractor, resolver, config, report,
                     on_progress, run, old_versions: dict[str, list[str]],
                     engine: Engine) -> None:
    """Extract and write batch by batch; each batch closes after N documents or T seconds."""
    policy = commit_policy(extractor, config.batch_documents, config.batch_seconds)
    log.info("writing every %d documents or %s seconds", policy.documents, policy.seconds)
    batches = engine.batches(work, extractor, policy, report.run_id)
    for items, extractions in batches:
        docs = [item.document for item in items]
        batch = build_batch(items, extractions, extractor, resolver, report.run_id)
        batch.replaces = [old for doc in docs for old in old_versions.get(doc.id, ())]
        store.upsert(batch)
        report.documents_written += len(docs)
        report.documents_replaced += sum(doc.id in old_versions for doc in docs)
        report.chunks += len(batch.chunks)
        report.relations += len(batch.relations)
        report.retried += [c.id for item in items if not item.completes for c in item.chunks]
        if _llm_usage(extractor) or _failures(extractor) or report.retried:
            _save_run(store, run, extractor, report, status="running")  # a crash loses no record
        log.info("committed %d/%d documents", report.documents_written, len(work))
        if on_progress:
            on_progress(report.documents_written, len(work))


def build_batch(items: Sequence[Work], extractions: list[ChunkExtraction], extractor,
                resolver: EntityResolver, run_id: str) -> GraphBatch:
    """Resolve the extractions of a group of documents into one store batch."""
    docs = [item.document for item in items]
    extractions, surfaces = _resolve(_with_pages(extractions, docs), resolver)
    return GraphBatch(
        documents=docs,
        chunks=[chunk for item in items for chunk in item.chunks],
        entities=resolver.pop_changed() + [e for x in extractions for e in x.entities],
        mentions=[(x.chunk_id, e.id) for x in extractions for e in x.entities],
        relations=[r for x in extractions for r in x.relations],
        propositions=[p for x in extractions for p in x.propositions],
        completed_key=extractor.name,
        completed=[item.document.id for item in items if item.completes],
        surfaces=surfaces,
        run_id=run_id,
    )


def _resolve(extractions: list[ChunkExtraction], resolver: EntityResolver
             ) -> tuple[list[ChunkExtraction], list[tuple[str, str, str]]]:
    """Replace every entity mention with its canonical entity, in one resolver call.

    Also returns (chunk id, entity id, surface form) of every mention, which lets a later
    delete drop the aliases only the deleted documents used.
    """
    mentions: list[Entity] = []
    for x in extractions:
        mentions += x.entities
        mentions += [e for r in x.relations for e in (r.subject, r.object)]
        mentions += [e for p in x.propositions for e in p.entities]
    resolved_mentions = resolver.resolve(mentions)
    canonical = iter(resolved_mentions)
    owners = iter(x.chunk_id for x in extractions for _ in range(_mention_count(x)))
    surfaces = sorted({(next(owners), entity.id, " ".join(mention.name.split()))
                       for mention, entity in zip(mentions, resolved_mentions, strict=True)})
    resolved = []
    for x in extractions:
        entities = [next(canonical) for _ in x.entities]
        relations = [_resolved_relation(r, next(canonical), next(canonical)) for r in x.relations]
        propositions = [_resolved_proposition(p, canonical) for p in x.propositions]
        unique = list({e.id: e for e in entities + [e for r in relations
                                                    for e in (r.subject, r.object)]}.values())
        resolved.append(ChunkExtraction(chunk_id=x.chunk_id, entities=unique,
                                        relations=relations, propositions=propositions))
    return resolved, surfaces


def _mention_count(x: ChunkExtraction) -> int:
    return (len(x.entities) + 2 * len(x.relations)
            + sum(len(p.entities) for p in x.propositions))


def _with_pages(extractions: list[ChunkExtraction],
                docs: Sequence[Document]) -> list[ChunkExtraction]:
    """Set `page` in the provenance of facts from documents with pages (PDFs)."""
    paged = {doc.id: doc for doc in docs if doc.page_starts}
    if not paged:
        return extractions

    def paginate(fact):
        doc = paged.get(fact.provenance.doc_id)
        if doc is None:
            return fact
        page = doc.page_at(fact.provenance.start)
        return fact.model_copy(update={"provenance": fact.provenance.model_copy(
            update={"page": page})})

    return [x.model_copy(update={"relations": [paginate(r) for r in x.relations],
                                 "propositions": [paginate(p) for p in x.propositions]})
            for x in extractions]


def _resolved_relation(relation: Relation, subject: Entity, obj: Entity) -> Relation:
    return relation.model_copy(update={"subject": subject, "object": obj})


def _resolved_proposition(proposition: Proposition, canonical) -> Proposition:
    entities = tuple(next(canonical) for _ in proposition.entities)
    return proposition.model_copy(update={"entities": entities})


def _start_run(store, extractor: str, config: ExtractConfig, resume: bool):
    """The run record: the newest unfinished one when resuming, else a new one."""
    from kgx.graphdb import RunRecord

    if resume:
        unfinished = [r for r in store.runs(extractor) if r.status != "complete"]
        if unfinished:
            log.info("resuming run %s", unfinished[0].id)
            return unfinished[0]
    run = RunRecord(id=new_run_id(), extractor=extractor, status="running", started_at=_now(),
                    config=config.model_dump_json())
    store.save_run(run)
    return run


def _save_run(store, run, extractor, report: ExtractReport, *, status: str) -> None:
    """Record the run's progress: documents and LLM usage, added to what a resumed run had."""
    report.llm_usage = _sum_usage(json.loads(run.llm_usage or "{}"), _llm_usage(extractor))
    report.run_documents = run.documents + report.documents_written
    retry = bool(report.retried)  # a retry run re-extracts chunks of stored documents
    added = 0 if retry else report.documents_written - report.documents_replaced
    failures = json.loads(run.failures or "[]") + [
        failure_record(f) for f in _failures(extractor)]
    store.save_run(dataclasses.replace(
        run, status=status, finished_at=_now() if status == "complete" else None,
        documents=run.documents + report.documents_written,
        llm_usage=json.dumps(report.llm_usage), added=run.added + added,
        replaced=run.replaced + report.documents_replaced,
        deleted=run.deleted + report.documents_deleted, failures=json.dumps(failures),
        retried=json.dumps(json.loads(run.retried or "[]") + report.retried)))


def _llm_usage(extractor: Extractor) -> dict[str, int | float]:
    """What the extractor's LLM spent, if it has a metered one (LLM extractors: `.llm`)."""
    if isinstance(extractor, UsesLLM) and isinstance(extractor.llm, Metered):
        return extractor.llm.meter.as_dict()
    return {}


def _failures(extractor: Extractor) -> list:
    """The prompt steps the extractor skipped and recorded (LLM extractors), oldest first."""
    return list(extractor.failures) if isinstance(extractor, RecordsFailures) else []


def _sum_usage(before: dict, now: dict) -> dict[str, int | float]:
    """Counters of a resumed run: what earlier parts spent plus what this part spent."""
    return {key: round(before.get(key, 0) + now.get(key, 0), 3)
            for key in sorted(set(before) | set(now))}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")  # orders retries
