"""Chunks whose LLM replies failed: recorded on their `Run`, re-extracted by `--retry-failed`.

An LLM extraction run skips a chunk whose reply stays malformed after the repair turn and records
(chunk, step, error) on its Run node. A later run with `retry_failed` extracts just those chunks
again, perhaps with another LLM; a chunk stays open until a retry extracts it without failure.

    open_failures(store.runs("direct.v1"))   # {chunk id: [{"chunk_id", "step", "error"}, ...]}
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from kgx.batching import Work
from kgx.chunking import chunk_document
from kgx.models import Document

log = logging.getLogger("kgx.pipeline")


def failure_record(failure) -> dict[str, str]:
    """The JSON kept on the Run node for one failed prompt step."""
    return {"chunk_id": failure.chunk_id, "step": failure.step, "error": failure.error}


def open_failures(runs: Sequence) -> dict[str, list[dict[str, str]]]:
    """Failed prompt steps by chunk id, over `runs` (any order), less the chunks a later run
    retried without failure."""
    failed: dict[str, list[dict[str, str]]] = {}
    for run in sorted(runs, key=lambda r: (r.started_at, r.id)):
        for chunk_id in json.loads(run.retried or "[]"):
            failed.pop(chunk_id, None)
        for record in json.loads(run.failures or "[]"):
            failed.setdefault(record["chunk_id"], []).append(record)
    return failed


def retry_work(documents: Sequence[Document], store, extractor: str, max_tokens: int,
               report) -> list[Work]:
    """The failed chunks of `documents` to extract again, grouped by document."""
    failed = open_failures(store.runs(extractor))
    work = []
    for doc in {d.id: d for d in documents}.values():
        chunks = [c for c in chunk_document(doc, max_tokens=max_tokens) if c.id in failed]
        if chunks:
            work.append(Work(doc, chunks, completes=False))
    found = sum(len(w.chunks) for w in work)
    report.documents_seen = len(work)
    if found < len(failed):
        log.warning("%d of %d failed chunks are not in the given paths (or were cut with "
                    "another --max-tokens); they stay recorded", len(failed) - found, len(failed))
    return work
