"""`kgx extract`'s engine options: run locally, or on a Ray cluster (`--engine ray`)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from kgx.errors import ConfigError


class EngineName(str, Enum):
    """Where `kgx extract` reads, chunks and extracts."""

    local = "local"
    ray = "ray"


EngineOption = Annotated[EngineName, typer.Option(
    "--engine", help="local (this process) or ray (read, chunk and extract on a Ray cluster; "
                     "the graph is written here, the same as with local)")]
RayAddressOption = Annotated[str | None, typer.Option(
    "--ray-address", envvar="RAY_ADDRESS",
    help="The Ray cluster: HOST:6379, ray://HOST:10001 or auto (default: start a local Ray)")]
WorkersOption = Annotated[int | None, typer.Option(
    "--workers", min=1, help="Extractor actors (default: the cluster's CPUs, or GPUs with "
                             "--worker-gpus, over what one actor asks for)")]
WorkerCpusOption = Annotated[float, typer.Option(
    "--worker-cpus", min=0, help="CPUs each extractor actor reserves")]
WorkerGpusOption = Annotated[float, typer.Option(
    "--worker-gpus", min=0, help="GPUs each extractor actor reserves (e.g. 1 with "
                                 "--llm vllm:MODEL: one vLLM engine per GPU)")]


def make_engine(engine: str, address: str | None, workers: int | None, worker_cpus: float,
                worker_gpus: float):
    """The engine the options name; Ray options without --engine ray are an error."""
    if engine == "local":
        if address or workers or worker_gpus:
            raise ConfigError("--ray-address, --workers and --worker-gpus need --engine ray")
        return "local"
    if engine != "ray":
        raise ConfigError(f"unknown --engine {engine!r}; choose local or ray")
    from kgx.ray_engine import RayEngine

    return RayEngine(address=address, workers=workers, worker_cpus=worker_cpus,
                     worker_gpus=worker_gpus)
