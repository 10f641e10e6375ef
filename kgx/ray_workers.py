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
import threading
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
"""A slot held longer than this is taken back: its holder died without releasing it, and
nobody said so. (The slots of an actor's process that died are taken back at once when Ray
restarts the actor, and all of an actor's slots as soon as the driver finds Ray gave up on it.)"""


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
        self.meter = report_usage(self.extractor, ledger) if ledger is not None else None
        self._failures_sent = 0

    def ready(self) -> int:
        """Warm the extractor up (models, LLM engine, server dialect); the worker's pid."""
        self.extractor.warm_up()
        return os.getpid()

    def extract(self, chunks: Sequence[Chunk], run_id: str
                ) -> tuple[list[ChunkExtraction], list, Snapshot | None]:
        """One extraction per chunk, the failures recorded since the last call, and this
        process's LLM usage so far (which also went to the ledger as it was spent)."""
        self.extractor.warm_up()
        found = self.extractor.extract(chunks, run_id)
        failures = list(getattr(self.extractor, "failures", []))
        new_failures = failures[self._failures_sent:]
        self._failures_sent = len(failures)
        return found, new_failures, None if self.meter is None else self.meter.snapshot()


Snapshot = tuple[str, int, dict]
"""(meter id, sequence number, counters): the whole usage of one actor process so far, in the
keyword names of `UsageMeter.record`; a higher sequence number of the same meter holds all of
a lower one."""


def report_usage(extractor, ledger) -> LedgerMeter | None:
    """Make the extractor's metered LLM report what it spends to the `UsageLedger` actor."""
    llm = getattr(extractor, "llm", None)
    if getattr(llm, "meter", None) is None:
        return None
    llm.meter = LedgerMeter(ledger)
    return llm.meter


class LedgerMeter(UsageMeter):
    """The meter of an extractor actor's LLM. After every change it sends the ledger its whole
    usage so far (a `Snapshot`, not the change), and waits for the ledger to have it: calls
    when they are handed to the LLM (`in_flight`), their tokens when the replies are in. So
    what a call spent is counted even if the actor dies before its results reach the driver
    (killed, out of memory, node lost), and a call in flight when it died still counts. As the
    snapshots are whole, a restarted ledger has this meter's full usage again on its next
    report, and a report sent twice (retried across a ledger restart) counts once."""

    def __init__(self, ledger) -> None:
        super().__init__()
        self.ledger = ledger
        self.id = uuid.uuid4().hex  # one per actor process: a restarted actor is a new meter
        self.seq = 0
        self._snapshot_lock = threading.Lock()

    def record(self, **counts) -> None:
        import ray

        super().record(**counts)
        if any(counts.values()):  # a millisecond or so, against seconds of LLM
            ray.get(self.ledger.report.remote(*self.snapshot()))

    def snapshot(self) -> Snapshot:
        """This meter's usage so far, numbered: a later snapshot holds all of an earlier one."""
        with self._snapshot_lock:
            self.seq += 1
            return self.id, self.seq, self.counts()


class UsageLedger:
    """The LLM usage of a run's extractor actors (a Ray actor that Ray restarts when it dies):
    the latest `Snapshot` of each actor process's meter. The driver copies them after every
    call it takes back, so what it copied outlives this actor; a restarted ledger starts empty
    and gets each live meter's whole usage again on that meter's next report."""

    def __init__(self) -> None:
        self.meters: dict[str, tuple[int, dict]] = {}

    def report(self, meter: str, seq: int, counts: dict) -> None:
        if seq > self.meters.get(meter, (0, {}))[0]:
            self.meters[meter] = (seq, counts)

    def snapshots(self) -> dict[str, tuple[int, dict]]:
        return dict(self.meters)

    def pid(self) -> int:
        return os.getpid()


def merge_snapshots(into: dict[str, tuple[int, dict]], snapshots) -> None:
    """Keep the latest snapshot of each meter (`snapshots`: a ledger's, or `Snapshot`s)."""
    items = snapshots.items() if isinstance(snapshots, dict) else (
        (meter, (seq, counts)) for meter, seq, counts in snapshots)
    for meter, (seq, counts) in items:
        if seq > into.get(meter, (0, {}))[0]:
            into[meter] = (seq, counts)


def usage_totals(meters: dict[str, tuple[int, dict]], settled: bool) -> dict[str, int | float]:
    """The usage of all `meters` (`UsageMeter.as_dict()` figures). A call still in flight is a
    call; once the run has taken every result back (`settled`), one still in flight was lost
    with its actor: a call that failed, tokens unknown."""
    total = UsageMeter()
    for _, counts in meters.values():
        total.record(**counts)
    lost = total.in_flight
    total.record(calls=lost, failures=lost if settled else 0, in_flight=-lost)
    return total.as_dict()


def share_concurrency(extractor, gate) -> None:
    """Make the extractor's HTTP LLM backend take a slot of the cluster-wide `gate` (a
    `ConcurrencyGate` actor handle) around every request, retries included. Slots an earlier
    process of this actor held (it died, and Ray restarted the actor) are given back."""
    import ray

    backend = getattr(getattr(extractor, "llm", None), "backend", None)
    if backend is not None and hasattr(backend, "shared_limit"):
        slots = GateSlots(gate, ray.get_runtime_context().get_actor_id() or "")
        ray.get(gate.forget_earlier.remote(slots.actor, slots.holder))
        backend.shared_limit = slots


class GateSlots:
    """`async with slots.slot():` holds one slot of a `ConcurrencyGate` actor."""

    def __init__(self, gate, actor: str = "") -> None:
        self.gate = gate
        self.actor = actor
        self.holder = f"{actor}/{uuid.uuid4().hex}"  # one per process of the actor

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
    cluster and a rate-limited server sees no more requests when workers are added.

    A lease (`holder:uuid`) names its holder, `actor-id/uuid`, one per process of an actor, so
    the slots of processes that died can be taken back: when Ray restarts an actor
    (`forget_earlier`), or when the driver finds Ray gave up on it (`forget_actor`). Either
    way, an acquire that such a process left waiting here is refused rather than granted.

    Ray restarts the gate itself when its process dies (`RayEngine.start`), and retries on the
    new one the calls that were sent to the old. A restarted gate starts empty: the requests
    already in flight are not counted, so for as long as they last (retries included) up to
    `limit` more are let in, at most twice the limit in all; their releases then come with
    leases this gate never gave out, and do nothing. Its `stats` start again from zero too.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held: dict[str, float] = {}  # lease id → when it was taken
        self.max_held = 0
        self.current: dict[str, str] = {}  # actor → its live process's holder ("" when gone)
        self._changed = asyncio.Condition()

    async def acquire(self, holder: str) -> str:
        async with self._changed:
            while len(self.held) >= self.limit and not self._dead(holder):
                self._take_back_stale()
                if len(self.held) < self.limit:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=5.0)
            if self._dead(holder):
                self._changed.notify()  # pass on a wake-up meant for a live holder
                raise RuntimeError(f"no LLM slot for {holder}: that actor process is dead")
            lease = f"{holder}:{uuid.uuid4().hex}"
            self.held[lease] = time.monotonic()
            self.max_held = max(self.max_held, len(self.held))
            return lease

    async def release(self, lease: str) -> None:
        """Give a slot back; a lease this gate does not hold (taken back, or given out before
        the gate restarted) is nothing to give back."""
        async with self._changed:
            if self.held.pop(lease, None) is not None:
                self._changed.notify()

    async def forget_earlier(self, actor: str, holder: str) -> int:
        """Take back the slots that earlier processes of `actor` held when they died (a
        killed actor never releases them); `holder` is its new process. How many."""
        if not actor:
            return 0
        async with self._changed:
            self.current[actor] = holder
            return self._drop(actor, keep=holder)

    async def forget_actor(self, actor: str) -> int:
        """Take back every slot of `actor`, which Ray gave up on (dead for good: the driver
        kills it and starts another), and refuse it any more. How many."""
        if not actor:
            return 0
        async with self._changed:
            self.current[actor] = ""
            return self._drop(actor, keep=None)

    async def stats(self) -> dict[str, int]:
        """Slots held now and at most so far (since this gate's process started)."""
        return {"held": len(self.held), "max_held": self.max_held, "limit": self.limit}

    def pid(self) -> int:
        return os.getpid()

    def _dead(self, holder: str) -> bool:
        """Whether `holder` is a process of an actor that has since restarted or is gone."""
        actor = holder.partition("/")[0]
        return self.current.get(actor, holder) != holder

    def _drop(self, actor: str, keep: str | None) -> int:
        """Drop the leases of `actor`'s processes but `keep`'s and wake as many waiters."""
        stale = [lease for lease in self.held if lease.startswith(f"{actor}/")
                 and (keep is None or not lease.startswith(f"{keep}:"))]
        for lease in stale:
            del self.held[lease]
        self._changed.notify(len(stale))
        return len(stale)

    def _take_back_stale(self) -> None:
        now = time.monotonic()
        for lease, taken in list(self.held.items()):
            if now - taken > GATE_LEASE_S:
                del self.held[lease]
