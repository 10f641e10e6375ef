"""Connecting `RayEngine` to Ray and checking the cluster, with errors that name the fix."""

from __future__ import annotations

import logging
import math
import os
import socket
from urllib.parse import urlsplit

from kgx.errors import ConfigError, ExtractionError, KgxError

log = logging.getLogger("kgx.ray")
CONNECT_TIMEOUT_S = 5.0


def connect(ray, address: str | None) -> bool:
    """Start a local Ray (no `address`) or join the cluster at `address`, unless this process
    is already connected; True when this call connected (and so should disconnect)."""
    if address:
        check_reachable(address)
    if ray.is_initialized():
        return False
    options = {"logging_level": logging.WARNING, "log_to_driver": False}
    if not address:
        ray.init(include_dashboard=False, **options)
        return True
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:
        raise ConfigError(f"cannot join the Ray cluster at {address!r}: {e}. Check "
                          "--ray-address (HOST:6379 on the cluster's network, "
                          "ray://HOST:10001 for Ray Client, or auto on a cluster node) and "
                          "that the cluster is up (`ray status`).") from e
    return True


def check_reachable(address: str) -> None:
    """A quick TCP connect to the head of `address`, so a typo fails in seconds, not after
    Ray's own minute of retries."""
    if address in ("auto", "local"):
        return
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as e:
        raise ConfigError(f"--ray-address {address!r} is not HOST:PORT or ray://HOST:PORT"
                          ) from e
    if not host or not port:
        raise ConfigError(f"--ray-address {address!r} names no port; give HOST:6379 (the "
                          "head's GCS) or ray://HOST:10001 (Ray Client)")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise ConfigError(f"no Ray cluster answers at {address!r} ({e.strerror or e}); check "
                          "--ray-address and that the head node is up (`ray status` on it), "
                          "or leave --ray-address out to start a local Ray") from e


def check_resources(ray, workers: int | None, worker_cpus: float, worker_gpus: float) -> int:
    """How many extractor actors to start; an error when the cluster has no GPU for them."""
    resources = ray.cluster_resources()
    cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
    if worker_gpus > 0 and gpus < worker_gpus:
        raise ConfigError(f"--worker-gpus {worker_gpus:g} asks for a GPU per extractor actor, "
                          f"and the Ray cluster has {gpus:g} GPUs; add GPU nodes (a KubeRay "
                          "worker group with nvidia.com/gpu), or leave --worker-gpus out to "
                          "extract on CPUs")
    if workers is None:
        if worker_gpus > 0:
            workers = math.floor(gpus / worker_gpus)
        else:
            workers = math.floor(cpus / worker_cpus) if worker_cpus > 0 else 1
        workers = max(1, workers)
    if workers * worker_cpus > cpus or workers * worker_gpus > gpus:
        log.warning("%d actors ask for %g CPUs and %g GPUs; the cluster has %g and %g, so "
                    "some wait until it grows", workers, workers * worker_cpus,
                    workers * worker_gpus, cpus, gpus)
    return workers


def planned_workers(address: str | None, workers: int | None, worker_cpus: float,
                    worker_gpus: float) -> tuple[int | None, str]:
    """The actors a run would start, and why, without contacting Ray (for --dry-run); None
    when only the cluster knows (its CPUs or GPUs)."""
    if workers is not None:
        return workers, f"--workers {workers}"
    if address or worker_gpus > 0 or worker_cpus <= 0:
        return None, ""
    cpus = os.cpu_count() or 1  # what a local ray.init() finds
    return max(1, math.floor(cpus / worker_cpus)), (
        f"a local Ray on this machine's {cpus} CPUs, {worker_cpus:g} per actor")


def dry_run_plan(estimate, planned: tuple[int | None, str], worker_cpus: float,
                 worker_gpus: float, shared_limit: int | None) -> str:
    """`--dry-run --engine ray`'s lines: the actors, and each one's even share of `estimate`
    (None: an extractor without an LLM). `shared_limit`: the cluster-wide --llm-concurrency."""
    workers, why = planned
    if workers is None:
        return ("With --engine ray: one extractor actor per "
                + (f"{worker_gpus:g} GPUs" if worker_gpus > 0 else f"{worker_cpus:g} CPUs")
                + " of the cluster, which a dry run does not contact; give --workers N to see "
                "each actor's share.")
    text = (f"With --engine ray: {workers} extractor actors ({why}), each reserving "
            f"--worker-cpus {worker_cpus:g} and --worker-gpus {worker_gpus:g}.")
    if estimate is None:
        return text + " The extractor calls no LLM."

    def share(n: int) -> str:
        return f"{math.ceil(n / workers):,}"

    approx = "" if estimate.tokens_exact else "~"
    text += (f"\nEach actor's even share (an estimate: documents go to whichever actor is free, "
             f"so shares vary): {share(estimate.calls)} LLM calls, {approx}"
             f"{share(estimate.prompt_tokens)} prompt tokens, at most "
             f"{share(estimate.max_completion_tokens)} completion tokens.")
    if shared_limit is not None:
        text += (f"\nThe HTTP LLM gets at most {shared_limit} requests in flight from the whole "
                 "cluster (--llm-concurrency is shared by the actors, not per actor).")
    return text


def worker_error(error: Exception) -> KgxError:
    """The kgx error for an actor or task that failed: a worker without kgx, or the kgx
    error the worker raised (a missing spaCy model, a bad --llm)."""
    text = str(error)
    if "No module named 'kgx" in text or ("kgx" in text and "ImportError" in text):
        last = next((line for line in reversed(text.splitlines())
                     if "Error" in line), text[:200])
        return ConfigError(
            f"the Ray workers cannot import kgx ({last.strip()}); install the same kgx-graph "
            "on every node (pip install 'kgx-graph[ray]' with the extras your extractor "
            "needs, e.g. [ray,spacy]), or give the engine a runtime_env that installs it")
    cause = getattr(error, "cause", None)
    if isinstance(cause, KgxError):
        return cause
    return ExtractionError(f"a Ray worker failed: {text[:2000]}")
