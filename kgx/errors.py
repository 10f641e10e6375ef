"""One root error, `KgxError`, with a subclass per kind of failure; messages say what to do next."""

from __future__ import annotations


class KgxError(Exception):
    """Root of every error kgx raises on purpose."""


class ConfigError(KgxError):
    """A setting or argument is invalid."""


class InputError(KgxError):
    """An input document cannot be read or is not usable."""


class MissingExtraError(KgxError):
    """An optional dependency is not installed; the message names the `pip install` to run."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"{module!r} is not installed. Install it with: pip install 'kgx-graph[{extra}]'"
        )
        self.module = module
        self.extra = extra


class StoreError(KgxError):
    """A graph store failed to connect, write or answer."""


class ReadOnlyQueryError(StoreError):
    """A query tried to write while the store was opened read-only."""


class QueryTimeoutError(StoreError):
    """A query ran past its time limit and was stopped."""


class ExtractionError(KgxError):
    """An extractor failed on a chunk."""


class LLMError(KgxError):
    """An LLM backend failed; the subclass says whether to wait, fix the input or switch backend."""


class LLMUnavailableError(LLMError):
    """The LLM server is down, timing out or rate-limiting, and retries did not help."""


class LLMOutputError(LLMError):
    """The LLM's reply stayed malformed (not JSON, or not the schema) after the repair attempt."""


class LLMCapabilityError(LLMError):
    """The backend cannot do what was asked (log-prob scoring, structured output)."""


def require(module: str, extra: str):
    """Import an optional dependency, or raise `MissingExtraError` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(module, extra) from e
