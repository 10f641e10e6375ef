"""What runs inside the Ray workers of `RayEngine`: the read-and-chunk task, the extractor actor,
the cluster-wide LLM concurrency gate and the ledger of LLM usage.

Ray imports this module on every worker (the classes travel by reference), so a worker without
kgx fails at once, and `RayEngine` turns that into an error naming the fix. Only kgx and the
standard library are imported here; Ray itself only inside functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from kgx.chunking import chunk_document
from kgx.ingest import Skipped, read_file
from kgx.llm.usage import UsageMeter
from kgx.models import Chunk, ChunkExtraction, Document
from kgx.tabular import InputOptions

GATE_LEASE_S = 900.0
"""A slot held longer than this is taken back: its holder died without releasing it."""


def read_and_chunk(path: str, max_bytes: int, options: InputOptions,
                   max_tokens: int) -> tuple[list[Document | Skipped], list[list[Chunk]]]:
    """The documents (or skip records, in order) of one input file and each document's chunks."""
    items = list(read_file(Path(path), max_bytes, options))
    chunks = [chunk_document(item, max_tokens=max_tokens)
              for item in items if isinstance(item, Document)]
    return items, chunks


class ExtractorWorker:
    """One extractor actor: builds its extractor (and LLM) once, warms it once, then extracts
    calls of chunks, reporting the prompt-step failures and LLM usage of each call."""

    def __init__(self, config_json: str, extractor_blob: bytes | None = None,
                 gate=None, ledger=None) -> None:
        from kgx.pipeline import ExtractConfig, make_extractor

        if extractor_blob is not None:
            self.extractor = pickle.loads(extractor_blob)
        else:
            self.extractor = make_extractor(ExtractConfig.model_validate_json(config_json))
        if gate is not None:
            share_concurrency(self.extractor, gate)
        if ledger is not None:
            report_usage(self.extractor, ledger)
        self._failures_sent = 0

    def ready(self) -> int:
        """Warm the extractor up (models, LLM engine, server dialect); the worker's pid."""
        self.extractor.warm_up()
        return os.getpid()

    def extract(self, chunks: Sequence[Chunk], run_id: str
                ) -> tuple[list[ChunkExtraction], list]:
        """One extraction per chunk, and the failures recorded since the last call (the LLM
        usage went to the ledger as it was spent)."""
        self.extractor.warm_up()
        found = self.extractor.extract(chunks, run_id)
        failures = list(getattr(self.extractor, "failures", []))
        new_failures = failures[self._failures_sent:]
        self._failures_sent = len(failures)
        return found, new_failures


def report_usage(extractor, ledger) -> None:
    """Make the extractor's metered LLM add what it spends to the `UsageLedger` actor at once."""
    llm = getattr(extractor, "llm", None)
    if getattr(llm, "meter", None) is not None:
        llm.meter = LedgerMeter(ledger)


class LedgerMeter(UsageMeter):
    """The meter of an extractor actor's LLM: each record also goes to a `UsageLedger` before
    the LLM call returns, so what a call spent is counted even if the actor dies before its
    results reach the driver (killed, out of memory, node lost)."""

    def __init__(self, ledger) -> None:
        super().__init__()
        self.ledger = ledger

    def record(self, **counts) -> None:
        import ray

        super().record(**counts)
        if any(counts.values()):  # a millisecond or so, against seconds of LLM
            ray.get(self.ledger.add.remote(counts))


class UsageLedger:
    """The LLM usage of a run's extractor actors (a Ray actor), summed as it is spent, in the
    keyword names of `UsageMeter.record`; the driver reads the totals."""

    def __init__(self) -> None:
        self.counts: dict[str, float] = {}

    def add(self, counts: dict[str, float]) -> None:
        for key, value in counts.items():
            self.counts[key] = self.counts.get(key, 0) + value

    def totals(self) -> dict[str, float]:
        return dict(self.counts)


def share_concurrency(extractor, gate) -> None:
    """Make the extractor's HTTP LLM backend take a slot of the cluster-wide `gate` (a
    `ConcurrencyGate` actor handle) around every request, retries included."""
    backend = getattr(getattr(extractor, "llm", None), "backend", None)
    if backend is not None and hasattr(backend, "shared_limit"):
        backend.shared_limit = GateSlots(gate)


class GateSlots:
    """`async with slots.slot():` holds one slot of a `ConcurrencyGate` actor."""

    def __init__(self, gate) -> None:
        self.gate = gate
        self.holder = uuid.uuid4().hex

    @contextlib.asynccontextmanager
    async def slot(self):
        lease = await self.gate.acquire.remote(self.holder)
        try:
            yield
        finally:
            await self.gate.release.remote(lease)


class ConcurrencyGate:
    """A cluster-wide limit on LLM requests in flight (an async Ray actor): every extractor
    actor's HTTP backend takes a slot per request, so `--llm-concurrency` bounds the whole
    cluster and a rate-limited server sees no more requests when workers are added."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held: dict[str, float] = {}  # lease id → when it was taken
        self.max_held = 0
        self._changed = asyncio.Condition()

    async def acquire(self, holder: str) -> str:
        async with self._changed:
            while len(self.held) >= self.limit:
                self._take_back_stale()
                if len(self.held) < self.limit:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=5.0)
            lease = f"{holder}:{uuid.uuid4().hex}"
            self.held[lease] = time.monotonic()
            self.max_held = max(self.max_held, len(self.held))
            return lease

    async def release(self, lease: str) -> None:
        async with self._changed:
            self.held.pop(lease, None)
            self._changed.notify()

    async def stats(self) -> dict[str, int]:
        """Slots held now and at most so far."""
        return {"held": len(self.held), "max_held": self.max_held, "limit": self.limit}

    def _take_back_stale(self) -> None:
        now = time.monotonic()
        for lease, taken in list(self.held.items()):
            if now - taken > GATE_LEASE_S:
                del self.held[lease]
