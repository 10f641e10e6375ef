"""`ManagedLLM`: a backend plus the cache, validated output, one repair, `on_error`, accounting."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Literal

from kgx.errors import ConfigError, LLMError, LLMOutputError
from kgx.llm.cache import LLMCache, generation_key, next_tokens_key, score_key
from kgx.llm.protocol import LLMBackend
from kgx.llm.structured import parse_reply, repair_request
from kgx.llm.types import Completion, LLMRequest, LLMResponse, ScoredText, ScoreRequest
from kgx.llm.usage import Estimate, Price, UsageMeter, price_for

OnError = Literal["raise", "skip-and-record"]


class ManagedLLM:
    """The `LLM` every kgx component calls; wraps one `LLMBackend`.

        llm = ManagedLLM(LlamaCppBackend(bundled_gguf()), cache=LLMCache(), on_error="raise")
        replies = llm.generate(requests)        # cached, validated, repaired once, metered
        print(llm.meter.summary(llm.model))

    `on_error` decides what happens to one request whose reply stays malformed, or that the
    server refuses: "raise" stops with `LLMOutputError`/`LLMError`; "skip-and-record" returns
    the response with `error` set. A server that stays unreachable always raises
    (`LLMUnavailableError`), since every later request would fail the same way.
    """

    def __init__(self, backend: LLMBackend, *, cache: LLMCache | None = None,
                 on_error: OnError = "raise", repair: bool = True,
                 meter: UsageMeter | None = None, max_tokens: int | None = None) -> None:
        self.backend = backend
        self.max_tokens = max_tokens
        """A cap on every request's max_tokens (cost control, and small models that loop)."""
        self.cache = cache
        self.on_error: OnError = on_error
        self.repair = repair
        self.meter = meter or UsageMeter()

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def model(self) -> str:
        return self.backend.model

    def warm_up(self) -> None:
        """Load the model or reach the server now."""
        self.backend.warm_up()

    def close(self) -> None:
        """Release the backend and the cache file."""
        self.backend.close()
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> ManagedLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- generation -----------------------------------------------------------------------

    def generate(self, requests: Sequence[LLMRequest], *,
                 on_error: OnError | None = None) -> list[LLMResponse]:
        """One response per request, in order; see the class docstring for `on_error`."""
        policy = on_error or self.on_error
        requests = [self._capped(r) for r in requests]
        outcomes = self._complete(requests)
        responses = [self._read(request, outcome) for request, outcome in zip(
            requests, outcomes, strict=True)]
        retry = [i for i, r in enumerate(responses) if self._repairable(requests[i], r)]
        if retry:
            repaired = self._complete([repair_request(requests[i], responses[i].text,
                                                      responses[i].error or "")
                                       for i in retry])
            self.meter.record(repairs=len(retry))
            for i, outcome in zip(retry, repaired, strict=True):
                responses[i] = self._read(requests[i], outcome, previous=responses[i])
        return [self._apply_policy(response, policy) for response in responses]

    def _capped(self, request: LLMRequest) -> LLMRequest:
        if self.max_tokens is None or request.params.max_tokens <= self.max_tokens:
            return request
        params = request.params.model_copy(update={"max_tokens": self.max_tokens})
        return request.model_copy(update={"params": params})

    def _repairable(self, request: LLMRequest, response: LLMResponse) -> bool:
        """A reply came back but does not fit the schema. A refused request is not repaired,
        nor a reply cut off at max_tokens: under the same cap the repair is cut off too (and a
        small model that looped to the cap loops again), at twice the cost."""
        return (self.repair and request.response_model is not None
                and response.error is not None
                and response.finish_reason not in ("error", "length"))

    def _complete(self, requests: list[LLMRequest]) -> list[tuple[Completion | LLMError, bool]]:
        """(completion or per-request error, from cache?) for each request."""
        keys = [generation_key(self.name, self.model, r) for r in requests]
        hits = self.cache.get_many(keys) if self.cache is not None else {}
        misses = [i for i, key in enumerate(keys) if key not in hits]
        fresh = self._call_backend([requests[i] for i in misses])
        if self.cache is not None:
            self.cache.put_many([(keys[i], c.to_json()) for i, c in zip(misses, fresh, strict=True)
                                 if isinstance(c, Completion)])
        outcomes = {i: (Completion.from_json(hits[key]), True)
                    for i, key in enumerate(keys) if key in hits}
        outcomes.update({i: (completion, False)
                         for i, completion in zip(misses, fresh, strict=True)})
        self.meter.record(cached=len(hits))
        return [outcomes[i] for i in range(len(keys))]

    def _call_backend(self, requests: list[LLMRequest]) -> list[Completion | LLMError]:
        if not requests:
            return []
        # in flight from here until the replies are in: a meter that reports elsewhere
        # (a Ray actor's) then shows calls its process did not live to count
        self.meter.record(in_flight=len(requests))
        started = time.perf_counter()
        try:
            results = self.backend.complete(requests)
        except BaseException:
            self.meter.record(wall_s=time.perf_counter() - started, in_flight=-len(requests))
            raise
        done = [r for r in results if isinstance(r, Completion)]
        self.meter.record(calls=len(requests),
                          prompt_tokens=sum(c.prompt_tokens for c in done),
                          completion_tokens=sum(c.completion_tokens for c in done),
                          wall_s=time.perf_counter() - started, in_flight=-len(requests))
        return results

    def _read(self, request: LLMRequest, outcome: tuple[Completion | LLMError, bool],
              previous: LLMResponse | None = None) -> LLMResponse:
        """Turn a completion into a response, validating it against the schema."""
        completion, cached = outcome
        attempts = 1 if previous is None else previous.attempts + 1
        if isinstance(completion, LLMError):
            return LLMResponse(request.key, "", finish_reason="error", attempts=attempts,
                               error=str(completion))
        parsed, problem = None, None
        if request.response_model is not None:
            parsed, problem = parse_reply(completion.text, request.response_model)
        elif not completion.text.strip():
            problem = "the reply was empty"
        if problem and completion.finish_reason == "length":
            problem += (f" (the reply was cut off at max_tokens={request.params.max_tokens}; "
                        "raise max_tokens)")
        return LLMResponse(request.key, completion.text, parsed, completion.prompt_tokens,
                           completion.completion_tokens, completion.finish_reason, cached,
                           attempts, problem, completion.logprobs)

    def _apply_policy(self, response: LLMResponse, policy: OnError) -> LLMResponse:
        if response.ok:
            return response
        self.meter.record(failures=1)
        if policy == "skip-and-record":
            return response
        where = f"request {response.key!r}" if response.key else "a request"
        tries = "after one repair attempt" if response.attempts > 1 else ""
        begins = f" The reply began: {response.text[:200]!r}." if response.text else ""
        raise LLMOutputError(f"{self.name}: {where} failed {tries}: {response.error}.{begins} "
                             "Use a larger model, raise max_tokens, or run with "
                             "on_error='skip-and-record' to record it and go on.")

    # -- scoring --------------------------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoredText]:
        """Per-token log-probs of each continuation; cached like generations."""
        requests = list(requests)
        keys = [score_key(self.name, self.model, r) for r in requests]
        hits = self.cache.get_many(keys) if self.cache is not None else {}
        misses = [i for i, key in enumerate(keys) if key not in hits]
        started = time.perf_counter()
        fresh = self.backend.score([requests[i] for i in misses]) if misses else []
        self.meter.record(calls=len(misses), cached=len(hits),
                          prompt_tokens=sum(len(s.tokens) for s in fresh),
                          wall_s=time.perf_counter() - started if misses else 0.0)
        if self.cache is not None:
            self.cache.put_many([(keys[i], s.to_json()) for i, s in zip(misses, fresh,
                                                                        strict=True)])
        scored = {i: ScoredText.from_json(hits[key]) for i, key in enumerate(keys) if key in hits}
        scored.update(zip(misses, fresh, strict=True))
        return [scored[i] for i in range(len(keys))]

    def next_tokens(self, prefixes: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        """For each prefix, the k likeliest next tokens as (text, log-prob); cached like scores.

        A prefix that comes twice in one call costs one backend call (the second counts as cached).
        """
        if k < 1 or isinstance(prefixes, str):
            raise ConfigError(f"next_tokens takes a list of prefixes and k >= 1 (got "
                              f"{type(prefixes).__name__} and k={k}).")
        keys = [next_tokens_key(self.name, self.model, prefix, k) for prefix in prefixes]
        hits = self.cache.get_many(keys) if self.cache is not None else {}
        todo = {key: prefix for key, prefix in zip(keys, prefixes, strict=True)
                if key not in hits}
        started = time.perf_counter()
        fresh = self.backend.next_tokens(list(todo.values()), k) if todo else []
        self.meter.record(calls=len(todo), cached=len(keys) - len(todo),
                          wall_s=time.perf_counter() - started if todo else 0.0)
        answers = {key: [(str(text), float(logprob)) for text, logprob in pairs]
                   for key, pairs in zip(todo, fresh, strict=True)}
        if self.cache is not None:
            self.cache.put_many([(key, json.dumps(pairs)) for key, pairs in answers.items()])
        answers.update({key: [(text, logprob) for text, logprob in json.loads(value)]
                        for key, value in hits.items()})
        return [answers[key] for key in keys]

    # -- estimates ------------------------------------------------------------------------

    def estimate(self, requests: Sequence[LLMRequest],
                 prices: dict[str, Price] | None = None) -> Estimate:
        """Calls and tokens `generate(requests)` would spend, counting cache hits as free."""
        requests = [self._capped(r) for r in requests]
        keys = [generation_key(self.name, self.model, r) for r in requests]
        hits = self.cache.get_many(keys) if self.cache is not None else {}
        todo = [r for r, key in zip(requests, keys, strict=True) if key not in hits]
        prompt = sum(self.backend.count_prompt_tokens(r) for r in todo)
        completion = sum(r.params.max_tokens for r in todo)
        # Worst case: every structured reply is malformed and gets its repair turn, which
        # resends the conversation plus the bad reply (at most max_tokens) and the schema.
        repairs = [repair_request(r, "", "the reply is not valid JSON") for r in todo
                   if self.repair and r.response_model is not None]
        repair_prompt = sum(self.backend.count_prompt_tokens(r) + r.params.max_tokens
                            for r in repairs)
        repair_completion = sum(r.params.max_tokens for r in repairs)
        price = price_for(self.model, prices or {})
        exact = bool(getattr(self.backend, "exact_token_counts", False))
        return Estimate(len(todo), len(hits), prompt, completion, exact,
                        None if price is None else price.dollars(prompt, completion),
                        len(repairs), repair_prompt, repair_completion,
                        None if price is None else price.dollars(prompt + repair_prompt,
                                                                 completion + repair_completion))

