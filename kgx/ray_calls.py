"""How `RayEngine` cuts a run's work into actor calls and puts the results back into batches.

A call is a few whole documents. Calls never cross a batch boundary, run on the actor pool in
any order, and are taken back in input order, so the driver writes the same batches, with the
same documents, as the local engine (`kgx.batching.close_batches`).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from kgx.batching import CommitPolicy, Work
from kgx.models import Chunk, ChunkExtraction

CALLS_PER_WORKER = 2
"""Calls queued on each actor, so it starts the next one while the driver takes the last."""


@dataclass(eq=False)
class Call:
    """Whole documents sent to one actor in one `extract` call; split into one call a document
    when its actor keeps dying."""

    works: list[Work]
    found: list[ChunkExtraction] | None = None
    parts: list[Call] = field(default_factory=list)
    attempts: int = 0
    """Times the call was sent again after its actor died for good."""

    def chunks(self) -> list[Chunk]:
        return [chunk for item in self.works for chunk in item.chunks]

    def done(self) -> bool:
        if self.parts:
            return all(part.done() for part in self.parts)
        return self.found is not None

    def extractions(self) -> list[ChunkExtraction]:
        if self.parts:
            return [x for part in self.parts for x in part.extractions()]
        return list(self.found or [])

    def split(self) -> list[Call]:
        self.parts = [Call([item]) for item in self.works]
        return self.parts


def plan_calls(work: list[Work], policy: CommitPolicy, workers: int) -> list[Call]:
    """`work` cut into calls: at most `chunks_per_call` chunks for LLM extractors, a share of
    a batch for whole-batch extractors (spaCy), never across a batch boundary."""
    per_call = (policy.documents if policy.chunks_per_call is not None
                else max(1, math.ceil(policy.documents / max(1, workers * CALLS_PER_WORKER))))
    calls, group, in_batch = [], [], 0
    for item in work:
        group.append(item)
        in_batch += 1
        boundary = in_batch >= policy.documents
        full = len(group) >= per_call or (
            policy.chunks_per_call is not None
            and sum(len(w.chunks) for w in group) >= policy.chunks_per_call)
        if boundary or full:
            calls.append(Call(group))
            group = []
        if boundary:
            in_batch = 0
    if group:
        calls.append(Call(group))
    return calls


Submit = Callable[[Call], tuple[object, Callable[[], list[ChunkExtraction] | None]]]
"""Starts a call; returns its Ray object ref and a function that takes its result (None when
the call must be sent again: split into single documents, or as it is if it has one)."""


def take_batches(calls: list[Call], policy: CommitPolicy, submit: Submit,
                 wait: Callable[[list], list], in_flight: int
                 ) -> Iterator[tuple[list[Work], list[ChunkExtraction]]]:
    """Run `calls`, `in_flight` at a time, and yield batches in input order; a batch closes
    after `policy.documents` documents or `policy.seconds` seconds, as on the local engine."""
    queue: deque[Call] = deque(calls)
    running: dict[object, tuple[Call, Callable]] = {}
    batch: list[Work] = []
    found: list[ChunkExtraction] = []
    opened = time.monotonic()
    for head in calls:
        while not head.done():
            while queue and len(running) < in_flight:
                call = queue.popleft()
                ref, result = submit(call)
                running[ref] = (call, result)
            for ref in wait(list(running)):
                call, result = running.pop(ref)
                extractions = result()
                if extractions is not None:
                    call.found = extractions
                elif len(call.works) > 1:
                    queue.extendleft(reversed(call.split()))
                else:
                    queue.appendleft(call)
        batch += head.works
        found += head.extractions()
        if len(batch) >= policy.documents or (
                policy.seconds is not None and time.monotonic() - opened >= policy.seconds):
            yield batch, found
            batch, found, opened = [], [], time.monotonic()
    if batch:
        yield batch, found
