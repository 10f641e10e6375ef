"""The two shapes of an LLM in kgx: a raw backend, and the managed `LLM` everything else calls.

A backend (HTTP client, llama.cpp, transformers, vLLM, a fake) only turns requests into text
and log-probs. `ManagedLLM` wraps any backend with what every caller needs and no backend
should re-implement: the disk cache, JSON parsing with one repair, the `on_error` policy and
token accounting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from kgx.llm.types import Completion, LLMRequest, LLMResponse, ScoredText, ScoreRequest

if TYPE_CHECKING:
    from kgx.llm.managed import OnError
    from kgx.llm.usage import Estimate, UsageMeter


@runtime_checkable
class LLMBackend(Protocol):
    """Turns requests into completions; constrained to `response_model`'s JSON schema if given.

    Constructors do no I/O; models load or servers are contacted on first use (`warm_up`).
    """

    name: str
    """A spec-like name without secrets, e.g. ``openai:gpt-4o-mini@https://api.openai.com/v1``."""

    model: str

    def warm_up(self) -> None:
        """Load the model or contact the server now instead of on the first request."""

    def complete(self, requests: Sequence[LLMRequest]) -> list[Completion]:
        """One completion per request, in order; raises `LLMError` subclasses on failure."""

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoredText]:
        """Per-token log-probs of each continuation; `LLMCapabilityError` where unsupported."""

    def next_tokens(self, prefixes: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        """For each prefix, the k likeliest next tokens as (text, log-prob), likeliest first."""

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` under this model's tokenizer (an estimate where none is at hand)."""

    def count_prompt_tokens(self, request: LLMRequest) -> int:
        """Prompt tokens `request` will cost, chat template included (estimated where unknown)."""

    def close(self) -> None:
        """Free the model or connections; safe to call twice."""


@runtime_checkable
class LLM(Protocol):
    """What extractors, harvesters and QA call: validated generation, scoring, next tokens.

        llm = load_llm("local")
        [reply] = llm.generate([LLMRequest.from_prompt("Say hi", response_model=Greeting)])
        reply.parsed  # a Greeting, or an error under on_error="skip-and-record"
    """

    name: str
    model: str

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        """One response per request, in order."""

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoredText]:
        """Per-token log-probs of each continuation given its prompt."""

    def next_tokens(self, prefixes: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        """For each prefix, the k likeliest next tokens as (text, log-prob), likeliest first.

        A token's text is what it adds to the prefix, e.g. " Paris" with its leading space.
        """


# -- capabilities some LLMs and their users have, declared instead of probed with getattr ---------


@runtime_checkable
class Metered(Protocol):
    """An LLM that counts what it spends and can estimate a plan's cost (`ManagedLLM`)."""

    model: str
    meter: UsageMeter
    on_error: OnError
    """What a reply still malformed after one repair does: raise, or skip-and-record."""

    def estimate(self, requests: Sequence[LLMRequest], prices=None) -> Estimate:
        """Calls and tokens `requests` would cost, without sending them."""


@runtime_checkable
class UsesLLM(Protocol):
    """A component (an extractor, a judge, a retriever) that calls an LLM."""

    llm: LLM


@runtime_checkable
class RecordsFailures(Protocol):
    """A component that skips and records the LLM replies it could not use (on_error=
    "skip-and-record") instead of stopping; `failures` lists them, oldest first."""

    failures: list
