"""Background extraction of uploaded documents, one job at a time, with progress to poll."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from . import models as m
from .graph import NotFoundError

log = logging.getLogger("kgx.serve")
MAX_JOBS_KEPT = 1000


class JobRunner:
    """Runs `extract_corpus` over uploaded files in a worker thread; jobs are kept in memory.

        runner = JobRunner(store, ExtractConfig(extractor="spacy"))
        job = runner.submit({"notes.md": b"# Notes ..."})
        runner.get(job.id).status   # queued, running, complete or failed
    """

    def __init__(self, store, config, *, on_complete: Callable[[], None] | None = None) -> None:
        self.store = store
        self.config = config
        self.on_complete = on_complete
        self._jobs: dict[str, m.Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kgx-job")

    def submit(self, files: dict[str, bytes]) -> m.Job:
        """Save `files` (name → content) to a temporary folder and queue their extraction."""
        folder = Path(tempfile.mkdtemp(prefix="kgx-upload-"))
        for index, (name, content) in enumerate(files.items()):
            (folder / f"{index:04d}").mkdir()  # one folder per file keeps its own name
            (folder / f"{index:04d}" / (Path(name).name or "upload.txt")).write_bytes(content)
        job = m.Job(id=f"job_{uuid.uuid4().hex[:16]}", status="queued", files=list(files),
                    extractor=self.config.extractor, created_at=_now())
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS_KEPT:
                self._jobs.pop(next(iter(self._jobs)))
        self._pool.submit(self._run, job.id, folder)
        return job

    def busy(self) -> bool:
        """Whether a job is queued or running."""
        with self._lock:
            return any(job.status in ("queued", "running") for job in self._jobs.values())

    def delete_document(self, doc_id: str) -> m.DeletedDocument:
        """Delete a document and what was extracted from it (`kgx delete`), in the job thread."""
        from kgx.lifecycle import delete_documents

        report = self._pool.submit(delete_documents, self.store, [doc_id]).result()
        if report.unknown:
            raise NotFoundError(f"no document with id {doc_id!r}; GET /documents lists them")
        if self.on_complete is not None:
            self.on_complete()
        return m.DeletedDocument(id=doc_id, run_id=report.run_id, chunks=report.chunks,
                                 relations=report.relations, propositions=report.propositions,
                                 entities=report.entities, aliases=report.aliases)

    def get(self, job_id: str) -> m.Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id!r}; POST /documents returns the id of a new one")
        return job.model_copy()

    def _update(self, job_id: str, **fields) -> None:
        with self._lock:
            self._jobs[job_id] = self._jobs[job_id].model_copy(update=fields)

    def _run(self, job_id: str, folder: Path) -> None:
        from kgx.pipeline import extract_corpus

        self._update(job_id, status="running")
        try:
            report = extract_corpus(
                [folder], self.store, self.config,
                on_progress=lambda done, total: self._update(
                    job_id, documents_done=done, documents_total=total))
        except Exception as e:  # a failed job reports why; the server goes on
            log.exception("extraction job %s failed", job_id)
            self._update(job_id, status="failed", error=f"{type(e).__name__}: {e}",
                         finished_at=_now())
            return
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        skipped = [m.SkippedInput(source=_upload_name(s.source, folder), reason=s.reason)
                   for s in report.skipped]
        self._update(job_id, status="complete", run_id=report.run_id,
                     documents_written=report.documents_written,
                     documents_already_done=report.documents_already_done,
                     chunks=report.chunks, relations=report.relations, skipped=skipped,
                     finished_at=_now())
        if self.on_complete is not None:
            self.on_complete()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _upload_name(source: str, folder: Path) -> str:
    """The uploaded file's name in a skipped-input row, without the server's temporary path."""
    name = source.replace(str(folder) + "/", "")
    head, sep, rest = name.partition("/")
    return rest if sep and head.isdigit() else name


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
