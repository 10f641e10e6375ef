"""`kgx llm generate|score|check`: batch generation and scoring through any backend, and a probe.

Every command prints its LLM usage at the end; `generate` and `score` also store it beside
their output (`OUT.usage.json`, one entry per run) and can `--dry-run` first.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from kgx.cli.options import (
    DryRunOption,
    LLMOption,
    PricesOption,
    TimeoutOption,
    llm_options,
    llm_settings,
)
from kgx.errors import ConfigError, InputError, LLMCapabilityError
from kgx.jsonfiles import read_jsonl
from kgx.llm.types import LLMRequest, Message, SamplingParams, ScoreRequest

if TYPE_CHECKING:
    from kgx.llm.spec import LLMSettings

llm_app = typer.Typer(help="Run LLM backends directly: batch generation, log-prob scoring and "
                           "a health check.", no_args_is_help=True)
OutOption = Annotated[Path, typer.Option("--out", "-o", help="Output JSONL file")]
ResumeOption = Annotated[bool, typer.Option(
    "--resume", help="Continue into an existing --out, skipping the ids it already has")]
BatchOption = Annotated[int, typer.Option(help="Requests sent per batch (progress step)", min=1)]


def _open_llm(settings):
    from kgx.llm.spec import load_llm

    return load_llm(settings.spec, settings)


@llm_app.command("generate")
@llm_options(omit=("llm_max_tokens",))
def generate(
    requests_file: Annotated[Path, typer.Argument(
        help='JSONL: {"id": ..., "prompt": "..."} or {"id": ..., "messages": [...]} per line')],
    out: OutOption,
    schema: Annotated[str | None, typer.Option(
        help="Pydantic model the replies must follow, as module:Class")] = None,
    system: Annotated[str | None, typer.Option(help="System message for prompt lines")] = None,
    max_tokens: Annotated[int, typer.Option(min=1)] = 512,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0)] = 0.0,
    dry_run: DryRunOption = False,
    prices: PricesOption = None,
    resume: ResumeOption = False,
    batch_size: BatchOption = 32,
    *,
    settings: LLMSettings,
) -> None:
    """Answer every request in REQUESTS_FILE and write one JSON line per answer to --out."""
    from kgx.llm.usage import load_prices

    params = SamplingParams(max_tokens=max_tokens, temperature=temperature)
    model = _import_schema(schema) if schema else None
    done = _done_ids(out, resume)
    requests = [r for r in _read_requests(requests_file, system, model, params)
                if r.key not in done]
    price_table = load_prices(prices)
    console = Console(stderr=True)
    with _open_llm(settings) as client:
        if dry_run:
            typer.echo(client.estimate(requests, price_table).summary())
            return
        started = _now()
        _run_batches(console, requests, batch_size, out, "generating",
                     lambda batch: [_response_line(r) for r in client.generate(batch)])
        _finish(console, client, out, price_table, started, len(requests))


@llm_app.command("score")
@llm_options(omit=("on_error", "llm_max_tokens"))
def score(
    requests_file: Annotated[Path, typer.Argument(
        help='JSONL: {"id": ..., "prompt": "...", "continuation": "..."} per line')],
    out: OutOption,
    dry_run: DryRunOption = False,
    resume: ResumeOption = False,
    batch_size: BatchOption = 64,
    *,
    settings: LLMSettings,
) -> None:
    """Log-probs of each continuation given its prompt, one JSON line each, to --out."""
    done = _done_ids(out, resume)
    items = [(key, r) for key, r in _read_scores(requests_file) if key not in done]
    console = Console(stderr=True)
    with _open_llm(settings) as client:
        if dry_run:
            tokens = sum(client.backend.count_tokens(r.prompt + r.continuation) for _, r in items)
            typer.echo(f"Dry run: {len(items)} scoring calls over {tokens:,} tokens. "
                       "Nothing was sent.")
            return
        started = _now()

        def run(batch: Sequence[tuple[str, ScoreRequest]]) -> list[dict[str, Any]]:
            scored = client.score([r for _, r in batch])
            return [_score_line(key, s) for (key, _), s in zip(batch, scored, strict=True)]

        _run_batches(console, items, batch_size, out, "scoring", run)
        _finish(console, client, out, {}, started, len(items))


@llm_app.command("check")
def check(llm: LLMOption = "local", timeout: TimeoutOption = 120.0) -> None:
    """Load the model or reach the server, then try one structured reply and one score."""
    from kgx.llm.probe import City, city_request

    settings = llm_settings(llm, concurrency=1, timeout=timeout, retries=1,
                            on_error="skip-and-record", no_cache=True)
    with _open_llm(settings) as client:
        started = time.perf_counter()
        client.warm_up()
        typer.echo(f"backend: {client.name} (model {client.model}); ready in "
                   f"{time.perf_counter() - started:.1f} s")
        dialect = getattr(client.backend, "dialect", None)
        if dialect:
            typer.echo(f"structured-output dialect: {dialect}")
        started = time.perf_counter()
        [reply] = client.generate([city_request("France")])
        seconds = time.perf_counter() - started
        verdict = "valid City JSON" if isinstance(reply.parsed, City) else f"FAILED: {reply.error}"
        typer.echo(f"structured reply: {verdict} in {seconds:.2f} s "
                   f"({reply.completion_tokens / seconds:.0f} tokens/s): {reply.text.strip()}")
        try:
            [scored] = client.score([ScoreRequest(prompt="The capital of France is",
                                                  continuation=" Paris")])
            typer.echo(f"log-prob scoring: yes (log P(' Paris' | ...) = {scored.total:.2f})")
        except LLMCapabilityError as e:
            typer.echo(f"log-prob scoring: no ({e})")
        typer.echo(client.meter.summary(client.model))


# -- input -------------------------------------------------------------------------------------

def _read_requests(path: Path, system: str | None, model: type[BaseModel] | None,
                   params: SamplingParams) -> list[LLMRequest]:
    requests, seen = [], set()
    for number, record in read_jsonl(path):
        key = str(record.get("id", f"line-{number}"))
        if key in seen:
            raise InputError(f"{path}:{number}: id {key!r} appears twice; ids must be unique.")
        seen.add(key)
        try:
            messages = _messages(record, system)
        except (ValueError, ValidationError) as e:
            raise InputError(f"{path}:{number}: {e}") from e
        requests.append(LLMRequest(messages=messages, response_model=model, params=params,
                                   key=key))
    return requests


def _messages(record: dict[str, Any], system: str | None) -> tuple[Message, ...]:
    if "messages" in record:
        return tuple(Message.model_validate(m) for m in record["messages"])
    if not isinstance(record.get("prompt"), str) or not record["prompt"].strip():
        raise ValueError('give a non-empty "prompt" string or a "messages" list')
    head = (Message(role="system", content=system),) if system else ()
    return (*head, Message(role="user", content=record["prompt"]))


def _read_scores(path: Path) -> list[tuple[str, ScoreRequest]]:
    items = []
    for number, record in read_jsonl(path):
        try:
            request = ScoreRequest(prompt=record.get("prompt", ""),
                                   continuation=record.get("continuation", ""))
        except ValidationError as e:
            raise InputError(f'{path}:{number}: needs a non-empty "continuation" string '
                             f"({e.errors()[0]['msg']}).") from e
        items.append((str(record.get("id", f"line-{number}")), request))
    return items


def _import_schema(target: str) -> type[BaseModel]:
    module_name, _, class_name = target.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(f"Cannot import the schema {target!r} ({e}); write it as "
                          "package.module:ClassName, importable from here.") from e
    if not (isinstance(found, type) and issubclass(found, BaseModel)):
        raise ConfigError(f"{target!r} is not a pydantic model class.")
    return found


def _done_ids(out: Path, resume: bool) -> set[str]:
    if not out.exists():
        return set()
    if not resume:
        raise ConfigError(f"{out} already exists; pass --resume to continue it, or choose "
                          "another --out (nothing was overwritten).")
    return {str(record.get("id")) for _, record in read_jsonl(out)}


# -- output ------------------------------------------------------------------------------------

def _run_batches(console: Console, items: Sequence[Any], batch_size: int, out: Path,
                 label: str, run: Callable[[Sequence[Any]], list[dict[str, Any]]]) -> None:
    """Run `items` in batches, appending each batch's lines to `out` as soon as it is done."""
    out.parent.mkdir(parents=True, exist_ok=True)
    progress = Progress(f"[progress.description]{label}", BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, disable=not console.is_terminal)
    with progress, out.open("a", encoding="utf-8") as sink:
        task = progress.add_task(label, total=len(items))
        for start in range(0, len(items), batch_size):
            batch = items[start:start + batch_size]
            for line in run(batch):
                sink.write(json.dumps(line, ensure_ascii=False) + "\n")
            sink.flush()
            progress.advance(task, len(batch))


def _response_line(response) -> dict[str, Any]:
    return {"id": response.key, "text": response.text,
            "parsed": response.parsed.model_dump(mode="json") if response.parsed else None,
            "error": response.error, "finish_reason": response.finish_reason,
            "prompt_tokens": response.prompt_tokens,
            "completion_tokens": response.completion_tokens, "cached": response.cached,
            "attempts": response.attempts}


def _score_line(key: str, scored) -> dict[str, Any]:
    return {"id": key, "total": scored.total, "mean": scored.mean, "min": scored.minimum,
            "tokens": list(scored.tokens), "logprobs": list(scored.logprobs)}


def _finish(console: Console, client, out: Path, prices, started: str, requests: int) -> None:
    """Print the usage line and append this run's usage to OUT.usage.json."""
    console.print(client.meter.summary(client.model, prices), soft_wrap=True)
    path = out.with_name(out.name + ".usage.json")
    runs = json.loads(path.read_text())["runs"] if path.exists() else []
    runs.append({"llm": client.name, "model": client.model, "started_at": started,
                 "finished_at": _now(), "requests": requests, **client.meter.as_dict()})
    path.write_text(json.dumps({"runs": runs}, indent=2) + "\n")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
