"""What goes into and comes out of an LLM: requests, sampling params, completions and scores."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    """One chat turn."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str


class SamplingParams(BaseModel):
    """How to sample; greedy with a fixed seed by default, so that runs repeat and cache."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(512, ge=1)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = 0
    stop: tuple[str, ...] = ()
    logprobs: bool = False
    """Ask for each reply token's log-prob (`Completion.logprobs`), from backends that can give
    them: llama.cpp's batched decoder (which also takes a lone request that asks), transformers,
    vLLM and OpenAI-compatible servers (vLLM's, llama-cpp-python's)."""


class LLMRequest(BaseModel):
    """One generation: chat messages, an optional pydantic schema the reply must follow, params.

        LLMRequest.from_prompt("Name three rivers.", response_model=Rivers, key="chunk-7")
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    messages: tuple[Message, ...] = Field(min_length=1)
    response_model: type[BaseModel] | None = None
    params: SamplingParams = SamplingParams()
    key: str = ""
    """The caller's name for this request (a chunk id, say); carried to the response and errors."""

    @classmethod
    def from_prompt(cls, prompt: str, *, system: str | None = None, **kwargs: Any) -> LLMRequest:
        """A request with one user message, after an optional system message."""
        turns = [Message(role="system", content=system)] if system else []
        turns.append(Message(role="user", content=prompt))
        return cls(messages=tuple(turns), **kwargs)

    def json_schema(self) -> dict[str, Any] | None:
        """The JSON schema of `response_model`, or None for free text."""
        return None if self.response_model is None else self.response_model.model_json_schema()

    def prompt_text(self) -> str:
        """All message contents joined, for token estimates."""
        return "\n".join(message.content for message in self.messages)


TokenLogprobs = tuple[tuple[str, float], ...]
"""A reply's tokens, each as (text, log-prob)."""


@dataclass(frozen=True)
class Completion:
    """A backend's raw answer to one request: text and the tokens it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"
    logprobs: TokenLogprobs | None = None
    """Each reply token's text and log-prob under the model (before any guard), where the
    backend reports them."""

    def to_json(self) -> str:
        """Serialized for the cache."""
        fields = dict(self.__dict__)
        if fields["logprobs"] is None:
            del fields["logprobs"]
        return json.dumps(fields)

    @classmethod
    def from_json(cls, text: str) -> Completion:
        """Inverse of `to_json`."""
        fields = json.loads(text)
        if fields.get("logprobs") is not None:
            fields["logprobs"] = tuple((token, float(lp)) for token, lp in fields["logprobs"])
        return cls(**fields)


@dataclass(frozen=True)
class LLMResponse:
    """The answer to one `LLMRequest`: text, the validated object if a schema was given, costs.

    With `on_error="skip-and-record"` a failed request comes back with `error` set and
    `parsed` None, never as a silent empty result.
    """

    key: str
    text: str
    parsed: BaseModel | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    cached: bool = False
    attempts: int = 1
    error: str | None = None
    logprobs: TokenLogprobs | None = None
    """The reply's tokens with their log-probs, where the backend reports them."""

    @property
    def ok(self) -> bool:
        """Whether the request succeeded."""
        return self.error is None


class ScoreRequest(BaseModel):
    """Log-probs of `continuation` given `prompt` (an empty prompt scores the whole text)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    continuation: str = Field(min_length=1)
    prompt: str = ""


@dataclass(frozen=True)
class ScoredText:
    """Per-token log-probs of a scored continuation."""

    tokens: tuple[str, ...]
    logprobs: tuple[float, ...]
    cached: bool = field(default=False, compare=False)

    @property
    def total(self) -> float:
        """Sum of the token log-probs: log P(continuation | prompt)."""
        return math.fsum(self.logprobs)

    @property
    def mean(self) -> float:
        """Average token log-prob."""
        return self.total / len(self.logprobs) if self.logprobs else 0.0

    @property
    def minimum(self) -> float:
        """The least likely token's log-prob."""
        return min(self.logprobs) if self.logprobs else 0.0

    def to_json(self) -> str:
        """Serialized for the cache."""
        return json.dumps({"tokens": self.tokens, "logprobs": self.logprobs})

    @classmethod
    def from_json(cls, text: str) -> ScoredText:
        """Inverse of `to_json`; marks the result as cached."""
        data = json.loads(text)
        return cls(tuple(data["tokens"]), tuple(data["logprobs"]), cached=True)


def continuation_tokens(tokens: Sequence[str], logprobs: Sequence[float | None],
                        offsets: Sequence[int], prompt_chars: int,
                        text_chars: int) -> ScoredText:
    """Keep the tokens that end inside the continuation, `text[prompt_chars:text_chars]`.

    A token that straddles the prompt/continuation boundary belongs to the continuation: its
    probability depends on the continuation's first characters.
    """
    kept_tokens, kept_logprobs = [], []
    for token, logprob, start in zip(tokens, logprobs, offsets, strict=True):
        if start + len(token) <= prompt_chars or start >= text_chars:
            continue
        if logprob is None:  # the very first token of a text has no conditional probability
            continue
        kept_tokens.append(token)
        kept_logprobs.append(float(logprob))
    return ScoredText(tuple(kept_tokens), tuple(kept_logprobs))
