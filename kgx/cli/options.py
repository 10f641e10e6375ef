"""Options several commands share."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

StoreOption = Annotated[
    str | None,
    typer.Option("--store", "-s", envvar="KGX_STORE",
                 help="Folder of the embedded store, or a neo4j:// / bolt:// URI. "
                      "Default: ./kgx-store"),
]

EXTRACTOR_METAVAR = "[spacy|synthkg|direct|propositions|student|PLUGIN]"


def extractor_name(value: str) -> str:
    """An --extractor value that names a registered extractor (built-in or plugin)."""
    from kgx.extractors import known_extractors

    known = known_extractors()
    if value not in known:
        raise typer.BadParameter(f"{value!r} is not an extractor; choose one of "
                                 f"{', '.join(known)} (or install a plugin that registers it)")
    return value


ExtractorOption = Annotated[str, typer.Option(
    parser=extractor_name, metavar=EXTRACTOR_METAVAR,
    help="spacy, synthkg, direct, propositions, student, or a plugin's name")]
ChunkTokensOption = Annotated[int, typer.Option(help="Chunk token budget")]


IncludeOption = Annotated[list[str] | None, typer.Option(
    "--include", help="Read only the files of a folder matching this glob, e.g. '*.pdf' or "
                      "'reports/**' (repeatable)")]
ExcludeOption = Annotated[list[str] | None, typer.Option(
    "--exclude", help="Leave out the files of a folder matching this glob (repeatable)")]
TextColumnOption = Annotated[str, typer.Option(
    "--text-column", help="CSV/Parquet column holding the document text")]
IdColumnOption = Annotated[str | None, typer.Option(
    "--id-column", help="CSV/Parquet column with a stable document id (finds changed rows)")]
TitleColumnOption = Annotated[str | None, typer.Option(
    "--title-column", help="CSV/Parquet column with the document title")]


def input_options(include: list[str] | None, exclude: list[str] | None, text_column: str,
                  id_column: str | None, title_column: str | None):
    """`InputOptions` from the command line's input options."""
    from kgx.tabular import InputOptions

    return InputOptions(include=tuple(include or ()), exclude=tuple(exclude or ()),
                        text_column=text_column, id_column=id_column,
                        title_column=title_column)


def llm_settings(spec: str, *, concurrency: int = 8, timeout: float = 120.0, retries: int = 4,
                 on_error: str = "raise", max_tokens: int | None = None, no_cache: bool = False):
    """`LLMSettings` from the command line's LLM options; a bad value is a `ConfigError`."""
    from pydantic import ValidationError

    from kgx.errors import ConfigError
    from kgx.llm.spec import LLMSettings

    try:
        return LLMSettings(spec=spec, concurrency=concurrency, timeout_s=timeout,
                           max_retries=retries, on_error=on_error, max_tokens=max_tokens,
                           cache=not no_cache)
    except ValidationError as e:
        first = e.errors()[0]
        raise ConfigError(f"bad LLM option: {first['msg']} "
                          f"({'.'.join(map(str, first['loc']))})") from e


LLMOption = Annotated[
    str,
    typer.Option("--llm", envvar="KGX_LLM",
                 help="LLM spec: local (bundled SmolLM2, llama.cpp), llamacpp:PATH.gguf, "
                      "hf:PATH_OR_ID, hf:local, vllm:PATH_OR_ID, openai:MODEL[@URL], "
                      "ollama:MODEL[@URL], student[:PATH] (the distilled student; what "
                      "--extractor student uses when --llm is left at local). API keys come "
                      "from OPENAI_API_KEY or KGX_LLM_API_KEY."),
]
ConcurrencyOption = Annotated[int, typer.Option(
    "--llm-concurrency", min=1, help="Requests in flight at once (HTTP backends)")]
TimeoutOption = Annotated[float, typer.Option(
    "--llm-timeout", min=0.1, help="Seconds to wait for one reply before retrying")]
RetriesOption = Annotated[int, typer.Option(
    "--llm-retries", min=0, help="Retries on 429, 5xx, timeouts and refused connections")]


class OnError(str, Enum):
    """What a command does with a reply still malformed after one repair."""

    raise_ = "raise"
    skip_and_record = "skip-and-record"


OnErrorOption = Annotated[OnError, typer.Option(
    "--on-error", help="A reply still malformed after one repair: raise (stop) or "
                       "skip-and-record (record the error and go on; extraction's default)")]
MaxTokensOption = Annotated[int | None, typer.Option(
    "--llm-max-tokens", min=1, help="Cap on the tokens of every LLM reply (cost control; small "
                                    "models that repeat themselves)")]
NoCacheOption = Annotated[bool, typer.Option(
    "--no-cache", help="Do not read or write the LLM cache ($KGX_CACHE_DIR, ~/.cache/kgx)")]
BatchDocumentsOption = Annotated[int | None, typer.Option(
    "--batch-documents", min=1, help="Write a batch after this many documents (default: 128 "
                                     "for spacy, 16 for LLM extractors)")]
BatchSecondsOption = Annotated[float | None, typer.Option(
    "--batch-seconds", min=0.1, help="... or after this many seconds of extraction, whichever "
                                     "comes first (default: none for spacy, 60 for LLM "
                                     "extractors)")]
DryRunOption = Annotated[bool, typer.Option(
    "--dry-run", help="Print the calls and tokens the run would spend, and stop")]
PricesOption = Annotated[Path | None, typer.Option(
    "--prices", envvar="KGX_PRICES",
    help='JSON price table for dollar estimates: {"MODEL": {"prompt": $/1M, '
         '"completion": $/1M}}')]


# -- the LLM options, as one bundle ---------------------------------------------------------------

_LLM_OPTIONS: dict[str, tuple[Any, Any]] = {  # parameter: (annotation, default)
    "llm": (LLMOption, "local"),
    "llm_concurrency": (ConcurrencyOption, 8),
    "llm_timeout": (TimeoutOption, 120.0),
    "llm_retries": (RetriesOption, 4),
    "on_error": (OnErrorOption, OnError.raise_),
    "llm_max_tokens": (MaxTokensOption, None),
    "no_cache": (NoCacheOption, False),
}


def llm_options(*, on_error: OnError = OnError.raise_, omit: Sequence[str] = ()) -> Callable:
    """Give a command the LLM options (--llm, --llm-concurrency, --llm-timeout, --llm-retries,
    --on-error, --llm-max-tokens, --no-cache, less those in `omit`), handed to it as one
    `LLMSettings` in its `settings` parameter.

        @llm_options(on_error=OnError.skip_and_record)
        def extract(paths: ..., settings: LLMSettings) -> None: ...
    """
    names = [name for name in _LLM_OPTIONS if name not in omit]

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command)
        own = [p.replace(annotation=_resolved(command, p.annotation))
               for p in signature.parameters.values() if p.name != "settings"]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                   annotation=_LLM_OPTIONS[name][0],
                                   default=on_error if name == "on_error"
                                   else _LLM_OPTIONS[name][1])
                 for name in names]

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in names}
            return command(**kwargs, settings=llm_settings(
                given.get("llm", "local"), concurrency=given.get("llm_concurrency", 8),
                timeout=given.get("llm_timeout", 120.0), retries=given.get("llm_retries", 4),
                on_error=OnError(given.get("on_error", on_error)).value,
                max_tokens=given.get("llm_max_tokens"), no_cache=given.get("no_cache", False)))

        del run.__wrapped__  # typer must read the signature below, not the command's
        run.__signature__ = signature.replace(parameters=[*own, *added])
        run.__annotations__ = {p.name: p.annotation for p in [*own, *added]}
        return run

    return decorate


def _resolved(command: Callable, annotation: Any) -> Any:
    """An annotation written as a string (`from __future__ import annotations`) as its object,
    read in the command's module; `settings` is left out, so it may be a TYPE_CHECKING name."""
    if isinstance(annotation, str):
        return eval(annotation, command.__globals__)  # what typing.get_type_hints does
    return annotation
