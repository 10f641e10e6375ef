"""What every command prints to the terminal: progress bars, spinners, LLM usage, written files.

All of it goes to stderr and hides itself when stderr is not a terminal, so logs stay clean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from kgx.errors import InputError


@contextmanager
def console_status(console: Console, label: str) -> Iterator[None]:
    """A spinner with `label` while the block runs, on a terminal only (logs stay clean)."""
    if console.is_terminal:
        with console.status(label):
            yield
    else:
        yield


@contextmanager
def progress(console: Console, label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar and its update callback `(done, total)`."""
    bar = Progress(f"[progress.description]{label}", BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=console, disable=not console.is_terminal)
    with bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@contextmanager
def stage_progress(console: Console) -> Iterator[Callable[[str, int, int], None]]:
    """One progress bar per stage and its callback `(stage, done, total)`."""
    bar = Progress("[progress.description]{task.description}", BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                   disable=not console.is_terminal)
    tasks: dict[str, int] = {}

    def advance(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    with bar:
        yield advance


@contextmanager
def open_llm(settings, console: Console, role: str = "") -> Iterator:
    """The LLM `settings` names (None without settings), closed afterwards with its usage
    printed, prefixed by `role` when there are several."""
    if settings is None:
        yield None
        return
    from kgx.llm.spec import load_llm

    with load_llm(settings.spec, settings) as client:
        yield client
        print_usage(console, client, role)


def print_usage(console: Console, client, role: str = "") -> None:
    """The calls, tokens and time an LLM spent, in one line."""
    prefix = f"{role}: " if role else ""
    console.print(prefix + client.meter.summary(client.model), soft_wrap=True)


def require_file(path: Path | None) -> Path | None:
    """`path` itself if it is a file (or None); otherwise an `InputError` naming it."""
    if path is not None and not path.is_file():
        raise InputError(f"{path} does not exist or is not a file; check the path.")
    return path


def written(console: Console, paths: list[Path]) -> None:
    """Say which report files a command wrote."""
    console.print("wrote " + ", ".join(str(p) for p in paths), soft_wrap=True)
