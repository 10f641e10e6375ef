"""An OpenAI-compatible HTTP backend: OpenAI, vLLM `serve`, llama.cpp servers and Ollama.

Requests go out concurrently (async httpx, bounded by `concurrency`), each with its own
timeout, and are retried with exponential backoff on 429, 5xx, timeouts and refused
connections (tenacity); a `Retry-After` header is honoured. Structured output is asked for in
the server's own dialect:

- ``openai`` (OpenAI, vLLM, Ollama): ``response_format={"type": "json_schema", ...}``;
- ``llamacpp`` (llama-cpp-python and llama.cpp servers): ``{"type": "json_object",
  "schema": ...}``; llama-cpp-python 0.3.36 answers ``json_schema`` with HTTP 500.

Next-token log-probs come from ``/completions`` with ``logprobs=k`` on every dialect: measured
on llama-cpp-python 0.3.36, its non-echo top log-probs equal llama.cpp's in process.

The dialect is detected from ``GET /models`` unless given. ``extra_body`` is merged into every
request, e.g. ``{"structured_outputs": {...}}`` for vLLM's own structured-output options.
The API key is read from the environment only (``api_key_env``) and never logged.
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, Literal

from kgx.errors import ConfigError, LLMCapabilityError, LLMError, LLMUnavailableError
from kgx.llm.types import (
    Completion,
    LLMRequest,
    ScoredText,
    ScoreRequest,
    TokenLogprobs,
    continuation_tokens,
)

Dialect = Literal["auto", "openai", "llamacpp"]
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 60.0
CHARS_PER_TOKEN = 4  # the usual estimate for English when no tokenizer is at hand
MESSAGE_OVERHEAD_TOKENS = 4  # chat-template tokens around each message, as OpenAI counts them
_OWNERS = {"vllm": "openai", "me": "llamacpp", "llamacpp": "llamacpp", "library": "openai",
           "ollama": "openai", "openai": "openai", "system": "openai"}


class _Retryable(Exception):
    """A failure worth another attempt: 429, 5xx, a timeout or a refused connection."""

    def __init__(self, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.retry_after = retry_after


class _RequestRefused(LLMError):
    """The server refused this one request (400, 413, 422): the others may still succeed."""


class OpenAICompatibleLLM:
    """An `LLMBackend` for any server speaking the OpenAI chat and completions API.

        backend = OpenAICompatibleLLM("gpt-4o-mini")                      # api.openai.com
        backend = OpenAICompatibleLLM("qwen", "http://127.0.0.1:8000/v1")  # vLLM serve
    """

    exact_token_counts = False

    def __init__(self, model: str, base_url: str = "https://api.openai.com/v1", *,
                 api_key_env: str = "OPENAI_API_KEY", dialect: Dialect = "auto",
                 concurrency: int = 8, timeout_s: float = 120.0, max_retries: int = 4,
                 backoff_s: tuple[float, float] = (0.5, 20.0),
                 extra_body: dict[str, Any] | None = None) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.name = f"openai:{model}@{_without_userinfo(self.base_url)}"
        self.api_key_env = api_key_env
        self.dialect = dialect
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.extra_body = dict(extra_body or {})
        self.shared_limit: Any = None
        """Set by `kgx.ray_workers.share_concurrency`: a limit shared with other processes,
        whose `slot()` is held around each request (retries included) on top of `concurrency`."""
        self._dialect_lock = threading.Lock()

    def __getstate__(self) -> dict:
        """Picklable (a backend travels to Ray actors inside its extractor): no lock."""
        return {key: value for key, value in self.__dict__.items() if key != "_dialect_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._dialect_lock = threading.Lock()

    # -- protocol ---------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Reach the server and settle the structured-output dialect."""
        _run(self._settle_dialect())

    def complete(self, requests: Sequence[LLMRequest]) -> list[Completion | LLMError]:
        """Chat completions for all requests, `concurrency` at a time."""
        return _run(self._complete_all(list(requests)))

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoredText]:
        """Prompt log-probs via ``/completions`` with ``echo`` and ``logprobs``."""
        return _run(self._score_all(list(requests)))

    def next_tokens(self, prefixes: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        """Top log-probs of one greedy token, via ``/completions`` with ``logprobs=k``.

        Servers cap k (OpenAI at 5, vLLM at its ``max_logprobs``), and key the answer by token
        text, so tokens that decode alike come back as one and a prefix may get fewer than k.
        """
        return _run(self._next_tokens_all(list(prefixes), k))

    def count_tokens(self, text: str) -> int:
        """An estimate (about four characters a token); servers do not all expose a tokenizer."""
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def count_prompt_tokens(self, request: LLMRequest) -> int:
        """An estimate: message tokens plus the four a chat template adds around each."""
        return sum(self.count_tokens(m.content) + MESSAGE_OVERHEAD_TOKENS
                   for m in request.messages)

    def close(self) -> None:
        """Nothing is held between calls."""

    # -- requests ---------------------------------------------------------------------------

    def _client(self):
        import httpx

        headers = {}
        key = os.environ.get(self.api_key_env) or os.environ.get("KGX_LLM_API_KEY")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        elif "api.openai.com" in self.base_url:
            raise ConfigError(f"{self.name} needs an API key: set ${self.api_key_env} (or "
                              "$KGX_LLM_API_KEY) in the environment.")
        limits = httpx.Limits(max_connections=self.concurrency)
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, limits=limits,
                                 timeout=httpx.Timeout(self.timeout_s, connect=10.0))

    async def _each(self, items: list[Any], call: Any) -> list[Any]:
        """`await call(client, item)` for every item, `concurrency` at a time, in order."""
        gate = asyncio.Semaphore(self.concurrency)
        async with self._client() as client:
            async def one(item: Any) -> Any:
                async with gate:
                    if self.shared_limit is None:
                        return await call(client, item)
                    async with self.shared_limit.slot():
                        return await call(client, item)
            return list(await asyncio.gather(*(one(item) for item in items)))

    async def _complete_all(self, requests: list[LLMRequest]) -> list[Completion | LLMError]:
        if not requests:
            return []
        await self._settle_dialect()
        return await self._each(requests, self._chat)

    async def _chat(self, client, request: LLMRequest) -> Completion | LLMError:
        try:
            data = await self._post(client, "/chat/completions", self._chat_body(request))
        except _RequestRefused as e:  # e.g. a prompt longer than the context window
            return LLMError(str(e))
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            usage = data.get("usage") or {}
        except (KeyError, IndexError, TypeError, AttributeError) as e:
            return LLMError(f"{self.name}: the server's reply has no choices[0].message "
                            f"({type(e).__name__}: {e}); it does not look OpenAI-compatible.")
        prompt_tokens = usage.get("prompt_tokens")
        if prompt_tokens is None:
            prompt_tokens = self.count_tokens(request.prompt_text())
        completion_tokens = usage.get("completion_tokens")
        if completion_tokens is None:
            completion_tokens = self.count_tokens(text)
        return Completion(text, int(prompt_tokens), int(completion_tokens),
                          choice.get("finish_reason") or "stop", _logprobs(choice))

    def _chat_body(self, request: LLMRequest) -> dict[str, Any]:
        params = request.params
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [m.model_dump() for m in request.messages],
            "temperature": params.temperature, "top_p": params.top_p,
            "max_tokens": params.max_tokens,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        if params.logprobs:  # llama-cpp-python's server sends none without top_logprobs
            body["logprobs"], body["top_logprobs"] = True, 1
        schema = request.json_schema()
        if schema is not None:
            body["response_format"] = self._response_format(request, schema)
        body.update(self.extra_body)
        return body

    def _response_format(self, request: LLMRequest, schema: dict[str, Any]) -> dict[str, Any]:
        if self.dialect == "llamacpp":
            return {"type": "json_object", "schema": schema}
        name = request.response_model.__name__ if request.response_model else "reply"
        return {"type": "json_schema",
                "json_schema": {"name": name[:64], "schema": schema, "strict": False}}

    async def _post(self, client, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with retries; `LLMUnavailableError` once they are spent, `LLMError` on 4xx."""
        from tenacity import (
            AsyncRetrying,
            RetryError,
            retry_if_exception_type,
            stop_after_attempt,
        )

        attempts = self.max_retries + 1
        retrying = AsyncRetrying(stop=stop_after_attempt(attempts), wait=self._wait,
                                 retry=retry_if_exception_type(_Retryable))
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._post_once(client, path, body)
        except RetryError as e:
            last = e.last_attempt.exception()
            raise LLMUnavailableError(
                f"{self.name}: {last} on each of {attempts} attempts. {_advice(str(last))}"
            ) from last
        raise AssertionError("unreachable")

    def _wait(self, retry_state) -> float:
        """Exponential backoff with jitter, or the server's Retry-After when it gives one."""
        import random

        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, _Retryable) and error.retry_after is not None:
            return min(error.retry_after, MAX_RETRY_AFTER_S)
        low, high = self.backoff_s
        delay = min(high, low * 2 ** (retry_state.attempt_number - 1))
        return delay * (0.5 + random.random() / 2)

    async def _post_once(self, client, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        try:
            response = await client.post(path, json=body)
        except httpx.TimeoutException as e:
            raise _Retryable(f"no answer within {self.timeout_s:g} s ({type(e).__name__})"
                             ) from e
        except httpx.TransportError as e:
            raise _Retryable(f"cannot connect ({type(e).__name__}: {e})") from e
        if response.status_code in RETRY_STATUS:
            raise _Retryable(f"HTTP {response.status_code}: {_snippet(response.text)}",
                             _retry_after(response.headers.get("retry-after")))
        if response.status_code >= 400:
            raise self._refusal(response.status_code, response.text, path)
        try:
            return response.json()
        except ValueError as e:
            raise _Retryable(f"a reply that is not JSON: {_snippet(response.text)}") from e

    def _refusal(self, status: int, text: str, path: str) -> LLMError:
        """The error for a 4xx: a bad key or model stops the run, a bad request only itself."""
        hint = {401: f"set ${self.api_key_env} (or $KGX_LLM_API_KEY) to a valid key",
                403: f"check that the key in ${self.api_key_env} may use {self.model!r}",
                404: f"check the model name {self.model!r} and the URL {self.base_url}{path}"}
        fix = hint.get(status, "check the request against the server's documentation")
        kind = _RequestRefused if status in (400, 413, 422) else LLMError
        return kind(f"{self.name}: HTTP {status} from {path}: {_snippet(text)}. To fix: {fix}.")

    # -- dialect ----------------------------------------------------------------------------

    async def _settle_dialect(self) -> None:
        if self.dialect != "auto":
            return
        found = "openai"
        if "api.openai.com" not in self.base_url:
            async with self._client() as client:
                if self.shared_limit is None:
                    found = await self._probe_dialect(client)
                else:
                    async with self.shared_limit.slot():
                        found = await self._probe_dialect(client)
        with self._dialect_lock:
            if self.dialect == "auto":
                self.dialect = found  # type: ignore[assignment]

    async def _probe_dialect(self, client) -> str:
        import httpx

        try:
            response = await client.get("/models")
            owners = {str(m.get("owned_by", "")).lower() for m in response.json()["data"]}
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
            return "openai"  # a server without /models: use the standard dialect
        for owner in owners:
            if owner in _OWNERS:
                return _OWNERS[owner]
        return "openai"

    # -- scoring ----------------------------------------------------------------------------

    async def _score_all(self, requests: list[ScoreRequest]) -> list[ScoredText]:
        if not requests:
            return []
        await self._settle_dialect()
        if self.dialect == "llamacpp":
            # Measured on llama-cpp-python 0.3.36: with echo, token i's log-prob is read from
            # the distribution *after* token i, so every prompt log-prob is wrong.
            raise LLMCapabilityError(
                f"{self.name}: log-prob scoring is not supported by llama.cpp servers: "
                "llama-cpp-python's server returns echo log-probs shifted by one token, and "
                "llama.cpp's own server has no echo. Score in process instead (`local`, "
                "`llamacpp:PATH.gguf` or `hf:`), or through vLLM.")
        return await self._each(requests, self._score_one)

    async def _score_one(self, client, request: ScoreRequest) -> ScoredText:
        text = request.prompt + request.continuation
        body = {"model": self.model, "prompt": text, "max_tokens": 1, "temperature": 0.0,
                "echo": True, "logprobs": 1, **self.extra_body}
        try:
            data = await self._post(client, "/completions", body)
            logprobs = data["choices"][0]["logprobs"]
            tokens, values = logprobs["tokens"], logprobs["token_logprobs"]
            offsets = logprobs["text_offset"]
        except (_RequestRefused, KeyError, IndexError, TypeError) as e:
            raise LLMCapabilityError(
                f"{self.name}: log-prob scoring is not supported by this server ({e}). It "
                "needs /completions with echo and logprobs, as vLLM offers. Or score in "
                "process: hf:, llamacpp: or local.") from e
        return continuation_tokens(tokens, values, offsets, len(request.prompt), len(text))

    # -- next tokens ------------------------------------------------------------------------

    async def _next_tokens_all(self, prefixes: list[str], k: int) -> list[list[tuple[str, float]]]:
        if not prefixes:
            return []
        await self._settle_dialect()
        return await self._each(prefixes, functools.partial(self._next_tokens_one, k=k))

    async def _next_tokens_one(self, client, prefix: str, k: int) -> list[tuple[str, float]]:
        body = {"model": self.model, "prompt": prefix, "max_tokens": 1, "temperature": 0.0,
                "echo": False, "logprobs": k, **self.extra_body}
        try:
            data = await self._post(client, "/completions", body)
            top = data["choices"][0]["logprobs"]["top_logprobs"][0]
            pairs = [(str(text), float(logprob)) for text, logprob in top.items()]
        except (_RequestRefused, KeyError, IndexError, TypeError, AttributeError,
                ValueError) as e:
            raise LLMCapabilityError(
                f"{self.name}: next-token log-probs are not supported by this server ({e}). "
                f"They need /completions with logprobs={k}, as vLLM and llama.cpp servers "
                "offer. Or run the model in process: hf:, llamacpp: or local.") from e
        if self.dialect == "llamacpp":
            # llama-cpp-python decodes tokens that are part of a UTF-8 character to "" and keys
            # top_logprobs by text, so "" holds whichever of them came last: not one token.
            pairs = [(text, logprob) for text, logprob in pairs if text]
        return sorted(pairs, key=lambda pair: pair[1], reverse=True)[:k]


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine from sync code, also when an event loop already runs (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coroutine)
        except BaseException as e:  # re-raised in the caller's thread
            box["error"] = e

    thread = threading.Thread(target=target, name="kgx-llm")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _without_userinfo(url: str) -> str:
    """`url` without user:password@, so that names, logs and cache keys carry no secret."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date; fall back to our own backoff


def _snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _advice(problem: str) -> str:
    if problem.startswith("cannot connect"):
        return "Is the server running at that URL? Start it, or fix the URL in --llm."
    if problem.startswith("no answer"):
        return "The server is overloaded or the requests are too long: raise the timeout or " \
               "lower the concurrency."
    if problem.startswith("HTTP 429"):
        return "The server is rate-limiting: lower the concurrency, or raise your rate limit."
    return "The server keeps failing: check its log."


def _logprobs(choice: dict[str, Any]) -> TokenLogprobs | None:
    """A chat choice's `logprobs.content` as (token, log-prob) pairs; None if it has none."""
    content = (choice.get("logprobs") or {}).get("content")
    if not isinstance(content, list):
        return None
    try:
        return tuple((str(item["token"]), float(item["logprob"])) for item in content)
    except (KeyError, TypeError, ValueError):
        return None
