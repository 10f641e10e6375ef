"""Token accounting and cost estimates: what a run spent, and what a run would spend.

Every command that calls an LLM prints `UsageMeter.summary()` at the end and stores
`UsageMeter.as_dict()` with its run; `--dry-run` prints an `Estimate` before spending anything.
Prices are never built in (they change); users give a JSON price table:

    {"gpt-4o-mini": {"prompt": 0.15, "completion": 0.60}}     # dollars per million tokens
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kgx.errors import ConfigError


class Price(BaseModel):
    """Dollars per million prompt and completion tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: float = Field(ge=0)
    completion: float = Field(ge=0)

    def dollars(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Cost of the given tokens."""
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / 1e6


def load_prices(path: str | Path | None = None) -> dict[str, Price]:
    """A price table from `path`, else `$KGX_PRICES`, else empty (no dollar figures)."""
    path = path or os.environ.get("KGX_PRICES")
    if not path:
        return {}
    try:
        raw = json.loads(Path(path).read_text())
        return {model: Price.model_validate(price) for model, price in raw.items()}
    except (OSError, ValueError, AttributeError, ValidationError) as e:
        raise ConfigError(f"Cannot read the price table {path}: {e}. It must be a JSON object "
                          'like {"gpt-4o-mini": {"prompt": 0.15, "completion": 0.60}} '
                          "(dollars per million tokens).") from e


def price_for(model: str, prices: dict[str, Price]) -> Price | None:
    """The price of `model`: an exact entry, else the longest entry that prefixes it."""
    if model in prices:
        return prices[model]
    matches = [name for name in prices if model.startswith(name)]
    return prices[max(matches, key=len)] if matches else None


class UsageMeter:
    """Thread-safe counters of calls, cache hits, tokens, failures and wall time, and the calls
    handed to the LLM whose replies are not in yet (`in_flight`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.cached_calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.failures = 0
        self.repairs = 0
        self.wall_s = 0.0
        self.in_flight = 0
        self._started = time.perf_counter()

    def __getstate__(self) -> dict:
        """Picklable (an extractor and its LLM travel to Ray actors): the lock stays behind."""
        return {key: value for key, value in self.__dict__.items() if key != "_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def record(self, *, calls: int = 0, cached: int = 0, prompt_tokens: int = 0,
               completion_tokens: int = 0, failures: int = 0, repairs: int = 0,
               wall_s: float = 0.0, in_flight: int = 0) -> None:
        """Add to the counters."""
        with self._lock:
            self.in_flight += in_flight
            self.calls += calls
            self.cached_calls += cached
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.failures += failures
            self.repairs += repairs
            self.wall_s += wall_s

    def counts(self) -> dict[str, int | float]:
        """Every counter, in the keyword names of `record` (what `record(**counts)` adds)."""
        with self._lock:
            return {"calls": self.calls, "cached": self.cached_calls,
                    "prompt_tokens": self.prompt_tokens,
                    "completion_tokens": self.completion_tokens, "failures": self.failures,
                    "repairs": self.repairs, "wall_s": self.wall_s, "in_flight": self.in_flight}

    def as_dict(self) -> dict[str, int | float]:
        """The counters, for JSON and for the run record."""
        with self._lock:
            return {"llm_calls": self.calls, "cached_calls": self.cached_calls,
                    "prompt_tokens": self.prompt_tokens,
                    "completion_tokens": self.completion_tokens, "failures": self.failures,
                    "repairs": self.repairs, "llm_wall_s": round(self.wall_s, 3)}

    def summary(self, model: str = "", prices: dict[str, Price] | None = None) -> str:
        """One line for the end of a command."""
        return usage_line(self.as_dict(), price_for(model, prices or {}))


def usage_line(data: dict[str, int | float], price: Price | None = None) -> str:
    """`UsageMeter.as_dict()` figures as one line, with dollars when a price is known."""
    line = (f"LLM usage: {data['llm_calls']} calls ({data['cached_calls']} from cache), "
            f"{data['prompt_tokens']:,} prompt + {data['completion_tokens']:,} completion "
            f"tokens, {data['failures']} failed, {data['llm_wall_s']:.1f} s in the LLM")
    if price is not None:
        dollars = price.dollars(int(data["prompt_tokens"]), int(data["completion_tokens"]))
        line += f", ${dollars:.4f}"
    return line


@dataclass(frozen=True)
class Estimate:
    """What a run would cost, before it starts."""

    calls: int
    cached_calls: int
    prompt_tokens: int
    max_completion_tokens: int
    tokens_exact: bool
    dollars: float | None = None
    repair_calls: int = 0
    """Structured requests that may need one repair turn each (the worst case)."""
    repair_prompt_tokens: int = 0
    repair_completion_tokens: int = 0
    dollars_with_repairs: float | None = None

    def summary(self) -> str:
        """`--dry-run`'s lines: the first pass, then the worst case with every repair turn."""
        approx = "" if self.tokens_exact else "~"
        line = (f"Dry run: {self.calls} LLM calls ({self.cached_calls} already cached, free), "
                f"{approx}{self.prompt_tokens:,} prompt tokens, at most "
                f"{self.max_completion_tokens:,} completion tokens")
        if self.dollars is not None:
            line += f", at most ${self.dollars:.4f}"
        line += ". Nothing was sent."
        if self.repair_calls:
            line += (f"\nIf every structured reply needed its repair turn: up to "
                     f"{self.calls + self.repair_calls} calls, {approx}"
                     f"{self.prompt_tokens + self.repair_prompt_tokens:,} prompt and "
                     f"{self.max_completion_tokens + self.repair_completion_tokens:,} "
                     "completion tokens")
            if self.dollars_with_repairs is not None:
                line += f", ${self.dollars_with_repairs:.4f}"
            line += "."
        return line

    def as_dict(self) -> dict[str, int | float | bool | None]:
        """The figures, for JSON output."""
        return dict(self.__dict__)
