"""`RayEngine`: the extraction stages on a Ray cluster, the store writes in the driver.

Documents are read and chunked in Ray tasks. Extraction runs in a pool of actors, each of which
builds and warms its extractor (and LLM) once. Results come back to the driver in input order,
where `kgx.pipeline` resolves entities and writes each batch, with its completion marks, in one
store transaction, exactly as with the local engine. So the graph, resume after a killed driver
and idempotent re-runs are the same as on one machine.

    engine = RayEngine(address="ray://head:10001", workers=8, worker_cpus=2)
    extract_corpus(["corpus/"], store, config, engine=engine)

An actor that dies is restarted by Ray and its call retried; a call whose actor keeps dying is
split into single documents, and a document that still kills its actor is recorded under
`on_error` (as failed chunks on the run, re-attempted by `--retry-failed`) or stops the run.
The LLM usage an actor spends goes to a ledger actor as it is spent (a call as soon as it is
handed to the LLM), and comes back with each call's results; the driver keeps the latest of
both, so the run's usage counts what a dead actor spent, a call it died in the middle of (as a
failed call), and survives the ledger's own death (Ray restarts it). HTTP LLMs share one
concurrency limit over the whole cluster (`kgx.ray_workers.ConcurrencyGate`), an actor that
Ray restarts too; the slots of an actor given up on are taken back as soon as the driver
replaces it.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Sequence
from pathlib import Path

from kgx.batching import CommitPolicy, Work
from kgx.chunking import chunk_document
from kgx.engine import Batches
from kgx.errors import ConfigError, ExtractionError, KgxError, require
from kgx.ingest import IngestResult, Skipped, list_inputs
from kgx.llm.usage import UsageMeter
from kgx.models import Chunk, ChunkExtraction, Document
from kgx.ray_calls import CALLS_PER_WORKER, Call, plan_calls, take_batches
from kgx.ray_cluster import check_resources, connect, worker_error

log = logging.getLogger("kgx.ray")

DEFAULT_RESTARTS = 3
"""Times Ray restarts a dead actor and retries its call before kgx splits the call up."""


class RayEngine:
    """Runs kgx's extraction on Ray: a local Ray by default, or the cluster at `address`.

        engine = RayEngine(workers=2)                      # starts a local Ray
        engine = RayEngine(address="auto")                 # the cluster this node belongs to
        engine = RayEngine(address="ray://head:10001", worker_gpus=1)   # vLLM on each GPU

    `workers` defaults to the cluster's CPUs (or GPUs) over what one actor asks for.
    `runtime_env` is passed to every task and actor (Ray's dependency management).
    """

    def __init__(self, address: str | None = None, workers: int | None = None,
                 worker_cpus: float = 1.0, worker_gpus: float = 0.0, *,
                 runtime_env: dict | None = None, max_restarts: int = DEFAULT_RESTARTS,
                 ready_timeout_s: float = 600.0) -> None:
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        if worker_cpus < 0 or worker_gpus < 0:
            raise ConfigError("--worker-cpus and --worker-gpus cannot be negative")
        self.address = address
        self.workers = workers
        self.worker_cpus = worker_cpus
        self.worker_gpus = worker_gpus
        self.runtime_env = runtime_env
        self.max_restarts = max_restarts
        self.ready_timeout_s = ready_timeout_s
        self.worker_pids: list[int] = []
        """The pid of each extractor actor's process once the pool is up (for tests and ops)."""
        self.ledger_pid: int | None = None
        """The pid of the LLM usage ledger's process, once started (for tests and ops)."""
        self.gate_pid: int | None = None
        """The pid of the LLM concurrency gate's process, once started (for tests and ops)."""
        self.start_seconds = 0.0
        """How long connecting to Ray and warming the actor pool took."""
        self._ray = None
        self._owns_ray = False
        self._actors: list = []
        self._gate = None
        self._ledger = None
        self._usage: dict[str, tuple[int, dict]] = {}
        """The latest usage snapshot of each actor process's meter (`kgx.ray_workers`)."""
        self._settled = False
        self._chunks: dict[str, tuple[str, int, list[Chunk]]] = {}
        self._extractor: ClusterExtractor | None = None
        self._busy: dict[int, int] = {}

    # -- the Engine protocol ------------------------------------------------------------------

    def read(self, paths: Sequence[str | Path], config) -> IngestResult:
        """Read and chunk the input files in Ray tasks; documents and skips in input order."""
        import time

        from kgx.ray_workers import read_and_chunk

        started = time.perf_counter()
        ray = self._connect()
        self.start_seconds += time.perf_counter() - started
        inputs = list(list_inputs(paths, config.input))
        task = ray.remote(read_and_chunk).options(num_cpus=1, runtime_env=self.runtime_env)
        refs = [None if isinstance(item, Skipped) else
                task.remote(str(item), config.max_bytes, config.input, config.max_tokens)
                for item in inputs]
        result = IngestResult()
        for item, ref in zip(inputs, refs, strict=True):
            if ref is None:
                result.skipped.append(item)
                continue
            found, chunks = self._get(ref)
            documents = iter(chunks)
            for read in found:
                if isinstance(read, Document):
                    result.documents.append(read)
                    self._chunks[read.id] = (read.text, config.max_tokens, next(documents))
                else:
                    result.skipped.append(read)
        return result

    def chunks(self, document: Document, max_tokens: int) -> list[Chunk]:
        """The chunks a read task made, or chunked here for a document it did not read."""
        text, budget, chunks = self._chunks.get(document.id, (None, 0, []))
        if text != document.text or budget != max_tokens:
            return chunk_document(document, max_tokens=max_tokens)
        return chunks

    def extractor(self, extractor, config) -> ClusterExtractor:
        self._extractor = ClusterExtractor(self, extractor, config)
        return self._extractor

    def batches(self, work: list[Work], extractor, policy: CommitPolicy,
                run_id: str) -> Batches:
        """Each batch of `work` in input order, extracted by the actor pool."""
        calls = plan_calls(work, policy, len(self._actors))
        self._settled = False
        # two batches' worth of calls in flight: the actors extract the next batch while the
        # driver writes this one
        yield from take_batches(calls, policy, lambda call: self._run(call, run_id),
                                self._wait, 2 * len(self._actors) * CALLS_PER_WORKER)
        self._settled = True  # every call taken back: a call still in flight died with its actor

    def close(self) -> None:
        """Kill the actors; shut Ray down if this engine started it."""
        ray = self._ray
        if ray is None:
            return
        if self._ledger is not None:
            try:
                self._copy_ledger()  # the final figures, before the ledger goes
            except Exception:  # the cluster went first: keep the figures copied so far
                log.warning("could not read the LLM usage ledger", exc_info=True)
        for actor in [*self._actors, *(a for a in (self._gate, self._ledger) if a)]:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # already gone; nothing to release
                log.debug("actor already gone", exc_info=True)
        self._actors, self._gate, self._ledger = [], None, None
        if self._owns_ray:
            ray.shutdown()
            self._ray, self._owns_ray = None, False

    def dry_run_plan(self, estimate, extractor) -> str:
        """What `--dry-run` adds for this engine: the actors it would start and each one's
        share of `estimate` (None for an extractor without an LLM); Ray is not contacted."""
        from kgx.ray_cluster import dry_run_plan, planned_workers

        backend = getattr(getattr(extractor, "llm", None), "backend", None)
        shared = backend.concurrency if hasattr(backend, "shared_limit") else None
        planned = planned_workers(self.address, self.workers, self.worker_cpus,
                                  self.worker_gpus)
        return dry_run_plan(estimate, planned, self.worker_cpus, self.worker_gpus, shared)

    # -- the actor pool ----------------------------------------------------------------------

    def start(self, extractor: ClusterExtractor) -> None:
        """Start the actor pool (and the LLM gate) and wait until every actor is warm."""
        import time

        if self._actors:
            return
        started = time.perf_counter()
        ray = self._connect()
        count = check_resources(ray, self.workers, self.worker_cpus, self.worker_gpus)
        if extractor.shares_llm_limit:
            from kgx.ray_workers import ConcurrencyGate

            # restarted when it dies (empty: see ConcurrencyGate), the calls sent to it then
            # retried on the new one
            gate = ray.remote(ConcurrencyGate).options(
                num_cpus=0, max_concurrency=10_000, max_restarts=-1, max_task_retries=-1)
            self._gate = gate.remote(extractor.llm_concurrency)
            self.gate_pid = ray.get(self._gate.pid.remote())
        if extractor.llm is not None:
            from kgx.ray_workers import UsageLedger

            # restarted when it dies, and the reports sent to it then retried on the new one
            self._ledger = ray.remote(UsageLedger).options(
                num_cpus=0, max_restarts=-1, max_task_retries=-1).remote()
            self.ledger_pid = ray.get(self._ledger.pid.remote())
        self._actors = [self._new_actor() for _ in range(count)]
        self.worker_pids = self._wait_ready(self._actors)
        self.start_seconds += time.perf_counter() - started
        log.info("%d extractor actors ready in %.1f s", count, self.start_seconds)

    def usage_totals(self) -> dict[str, int | float]:
        """What the actors' LLMs spent so far (`UsageMeter.as_dict()` figures), dead actors
        included, and the calls they died in the middle of, as failed calls."""
        from kgx.ray_workers import usage_totals

        self._copy_ledger()
        return usage_totals(self._usage, self._settled)

    def _copy_ledger(self) -> None:
        """Keep the ledger's latest snapshots here, where they outlive it."""
        from kgx.ray_workers import merge_snapshots

        if self._ledger is not None:
            merge_snapshots(self._usage, self._ray.get(self._ledger.snapshots.remote()))

    def gate_stats(self) -> dict[str, int] | None:
        """Slots of the cluster-wide LLM limit held now and at most (None without a gate)."""
        return None if self._gate is None else self._ray.get(self._gate.stats.remote())

    def _new_actor(self):
        from kgx.ray_workers import ExtractorWorker

        ray, extractor = self._ray, self._extractor
        actor = ray.remote(ExtractorWorker).options(
            num_cpus=self.worker_cpus, num_gpus=self.worker_gpus,
            max_restarts=self.max_restarts, max_task_retries=self.max_restarts,
            runtime_env=self.runtime_env)
        return actor.remote(extractor.config_json, extractor.blob, self._gate, self._ledger)

    def _wait_ready(self, actors: list) -> list[int]:
        ray = self._ray
        refs = [actor.ready.remote() for actor in actors]
        try:
            return ray.get(refs, timeout=self.ready_timeout_s)
        except ray.exceptions.GetTimeoutError as e:
            raise ConfigError(
                f"the {len(actors)} extractor actors were not ready within "
                f"{self.ready_timeout_s:.0f} s: the cluster has no room for them "
                f"({self.worker_cpus:g} CPUs and {self.worker_gpus:g} GPUs each); lower "
                "--workers, --worker-cpus or --worker-gpus, or add nodes") from e
        except Exception as e:
            raise worker_error(e) from e

    def _run(self, call: Call, run_id: str):
        """Submit `call` to the least busy actor; a function that waits for its result."""
        from kgx.ray_workers import merge_snapshots

        ray = self._ray
        index = min(range(len(self._actors)), key=lambda i: self._busy.get(i, 0))
        self._busy[index] = self._busy.get(index, 0) + 1
        actor = self._actors[index]
        ref = actor.extract.remote(call.chunks(), run_id)

        def result() -> list[ChunkExtraction] | None:
            self._busy[index] -= 1
            try:
                found, failures, usage = ray.get(ref)
            except ray.exceptions.RayActorError as e:
                self._replace(index, actor)
                self._copy_ledger()
                return self._lost(call, e)
            except ray.exceptions.RayTaskError as e:
                cause = getattr(e, "cause", None)
                if isinstance(cause, KgxError):
                    raise cause from e
                raise ExtractionError(f"the extractor failed in a Ray worker: {e}") from e
            if usage is not None:
                merge_snapshots(self._usage, [usage])
            self._copy_ledger()  # what an actor that died (and was restarted) meanwhile spent
            self._extractor.failures += failures
            return found

        return ref, result

    def _wait(self, refs: list) -> list:
        ready, _ = self._ray.wait(refs, num_returns=1)
        return ready

    def _replace(self, index: int, actor) -> None:
        """Put a new actor in the place of `actor`, dead for good (once, however many of its
        calls report it)."""
        if self._actors[index] is not actor:
            return
        try:
            self._ray.kill(actor, no_restart=True)
        except Exception:
            log.debug("dead actor already gone", exc_info=True)
        self._forget_slots(actor)
        self._actors[index] = self._new_actor()
        self._busy[index] = 0

    def _forget_slots(self, actor) -> None:
        """Have the gate take back the LLM slots of `actor`, dead for good: it never releases
        them, and until `GATE_LEASE_S` ran out they would hold up the cluster's requests (all
        of them at --llm-concurrency 1)."""
        if self._gate is None:
            return
        # the identity its slots carry: `share_concurrency` names them by the actor's id
        actor_id = actor._actor_id.hex()
        try:
            taken = self._ray.get(self._gate.forget_actor.remote(actor_id))
        except Exception:  # the run goes on; the slots come back after GATE_LEASE_S
            log.warning("could not take back the LLM slots of a dead actor", exc_info=True)
            return
        if taken:
            log.info("took back %d LLM slots of dead actor %s", taken, actor_id)

    def _lost(self, call: Call, error: Exception) -> list[ChunkExtraction] | None:
        """A call whose actor died on every retry: split it, send its one document to a new
        actor once more (it may only have queued behind the culprit), or record it."""
        if len(call.works) > 1:
            log.warning("an extractor actor died %d times on %d documents; retrying them one "
                        "by one", self.max_restarts + 1, len(call.works))
            return None  # take_batches splits the call
        if call.attempts < 1:
            call.attempts += 1
            return None  # take_batches sends it again
        doc = call.works[0].document
        reason = (f"its Ray worker died on each of {2 * (self.max_restarts + 1)} attempts on "
                  f"two actors ({type(error).__name__})")
        if self._extractor.on_error == "raise":
            raise ExtractionError(f"document {doc.id} ({doc.source or doc.title}): {reason}. "
                                  "Check the workers' memory, or run with --on-error "
                                  "skip-and-record to record it and go on.") from error
        log.warning("document %s: %s; recorded as failed", doc.id, reason)
        self._extractor.record_lost(call.chunks(), reason)
        return [ChunkExtraction(chunk_id=chunk.id) for chunk in call.chunks()]

    # -- connecting --------------------------------------------------------------------------

    def _connect(self):
        if self._ray is None:
            ray = require("ray", "ray")
            self._owns_ray = connect(ray, self.address)
            self._ray = ray
        return self._ray

    def _get(self, ref):
        ray = self._ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as e:
            raise worker_error(e) from e


class ClusterExtractor:
    """The driver's view of an extractor that runs in Ray actors: its name and version, and
    the prompt-step failures and LLM usage the actors report, summed for the run record."""

    def __init__(self, engine: RayEngine, extractor, config) -> None:
        from kgx.pipeline import make_extractor

        local = extractor or make_extractor(config)  # not warmed up: no model loads here
        self.engine = engine
        self.local = local
        self.name: str = local.name
        self.model = getattr(local, "model", None)
        self.failures: list = []
        self.config_json = config.model_dump_json()
        self.blob = pickle.dumps(extractor) if extractor is not None else None
        self.on_error = config.llm.on_error
        self.llm_concurrency = config.llm.concurrency
        llm = getattr(local, "llm", None)
        self.llm = None if llm is None else _ClusterLLM(llm, _LedgerTotals(engine))

    @property
    def version(self) -> str:
        return self.local.version

    @property
    def shares_llm_limit(self) -> bool:
        """Whether the LLM is an HTTP server whose limit the whole cluster shares."""
        return self.llm is not None and hasattr(self.llm.backend, "shared_limit")

    def warm_up(self) -> None:
        """Start the actor pool; each actor warms its own extractor."""
        self.engine.start(self)

    def extract(self, chunks: Sequence[Chunk], run_id: str) -> list[ChunkExtraction]:
        """One call on the pool (the pipeline sends whole batches through `RayEngine.batches`)."""
        self.warm_up()
        [(_, found)] = list(self.engine.batches(
            [Work(Document(text=" "), list(chunks))], self,
            CommitPolicy(documents=1, seconds=None, chunks_per_call=None), run_id))
        return found

    def record_lost(self, chunks: list[Chunk], reason: str) -> None:
        from kgx.extractors.llm_facts import StepFailure

        self.failures += [StepFailure(chunk.id, "ray.worker", reason) for chunk in chunks]


class _ClusterLLM:
    """What the driver reads of the actors' LLM (a `Metered` LLM): its backend (batch sizes),
    the meter summing what every actor spent, and its plan estimates."""

    def __init__(self, llm, meter) -> None:
        self.local = llm
        self.backend = getattr(llm, "backend", llm)
        self.meter = meter
        self.model = getattr(llm, "model", None)
        self.on_error = getattr(llm, "on_error", "raise")

    def estimate(self, requests, prices=None):
        return self.local.estimate(requests, prices)


class _LedgerTotals(UsageMeter):
    """The driver's meter of the actors' LLM usage: `RayEngine.usage_totals`, read when asked."""

    def __init__(self, engine: RayEngine) -> None:
        super().__init__()
        self.engine = engine

    def as_dict(self) -> dict[str, int | float]:
        return self.engine.usage_totals()
