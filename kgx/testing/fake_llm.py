"""A fake LLM backend with queued replies, for fast, exact orchestration tests.

It is never the only test of anything that talks to a model: the real backends pass the same
contract tests against a real llama.cpp server and in-process models.

    fake = FakeLLM(['{"name": "Ada"}', "not json", LLMError("HTTP 400: too long")])
    llm = ManagedLLM(fake, on_error="skip-and-record")
    llm.generate(requests)      # consumes the replies in order
    fake.requests               # what was asked, for assertions

    FakeLLM(next_tokens=lambda prefix, k: [(" Paris", -0.1), (" Lyon", -2.3)][:k])
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from kgx.errors import KgxError, LLMCapabilityError, LLMError
from kgx.llm.types import Completion, LLMRequest, ScoredText, ScoreRequest

Reply = str | Completion | LLMError | Callable[[LLMRequest], str]
NextTokens = Callable[[str, int], list[tuple[str, float]]]


class FakeLLM:
    """An `LLMBackend` that answers from a queue (a reply, a whole `Completion`, an error to
    return, or a function)."""

    exact_token_counts = True

    def __init__(self, replies: Iterable[Reply] = (), *, model: str = "fake",
                 scores: Callable[[ScoreRequest], list[float]] | None = None,
                 next_tokens: NextTokens | None = None,
                 fail_with: KgxError | None = None) -> None:
        self.name = f"fake:{model}"
        self.model = model
        self.replies: deque[Reply] = deque(replies)
        self.requests: list[LLMRequest] = []
        self.scored: list[ScoreRequest] = []
        self.next_token_prefixes: list[str] = []
        self._scores = scores
        self._next_tokens = next_tokens
        self.fail_with = fail_with
        """Raised by every call while set: simulates a server that stays down."""

    def queue(self, *replies: Reply) -> None:
        """Add replies to the end of the queue."""
        self.replies.extend(replies)

    def warm_up(self) -> None:
        """Nothing to load."""

    def complete(self, requests: Sequence[LLMRequest]) -> list[Completion | LLMError]:
        """Answer each request with the next queued reply."""
        if self.fail_with is not None:
            raise self.fail_with
        results: list[Completion | LLMError] = []
        for request in requests:
            if not self.replies:
                raise AssertionError(f"FakeLLM has no reply queued for request {request.key!r}")
            self.requests.append(request)
            reply = self.replies.popleft()
            if isinstance(reply, LLMError | Completion):
                results.append(reply)
                continue
            text = reply(request) if callable(reply) else reply
            results.append(Completion(text, self.count_tokens(request.prompt_text()),
                                      self.count_tokens(text)))
        return results

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoredText]:
        """Log-probs from the `scores` function; unsupported without one."""
        if self._scores is None:
            raise LLMCapabilityError("log-prob scoring is not supported by this FakeLLM; pass "
                                     "scores=... to give it some.")
        self.scored.extend(requests)
        return [ScoredText(tuple(r.continuation.split()), tuple(self._scores(r)))
                for r in requests]

    def next_tokens(self, prefixes: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        """Next tokens from the `next_tokens` function; unsupported without one."""
        if self.fail_with is not None:
            raise self.fail_with
        if self._next_tokens is None:
            raise LLMCapabilityError("next-token log-probs are not supported by this FakeLLM; "
                                     "pass next_tokens=... to give some.")
        self.next_token_prefixes.extend(prefixes)
        return [list(self._next_tokens(prefix, k)) for prefix in prefixes]

    def count_tokens(self, text: str) -> int:
        """Whitespace tokens."""
        return len(text.split())

    def count_prompt_tokens(self, request: LLMRequest) -> int:
        """Whitespace tokens of the messages, plus 4 per message."""
        return sum(self.count_tokens(m.content) + 4 for m in request.messages)

    def close(self) -> None:
        """Nothing to free."""


def json_reply(**fields: object) -> str:
    """A JSON reply text, for queueing."""
    return json.dumps(fields)
