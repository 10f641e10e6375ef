"""vLLM's offline engine in process (`vllm.LLM`): batched GPU generation, structured output, LoRA.

Kept thin on purpose: vLLM batches and schedules by itself, so kgx hands it every request at
once. Needs `pip install 'kgx-graph[vllm]'` and a GPU; nothing is imported until first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kgx.errors import LLMCapabilityError, LLMError, require
from kgx.llm.types import Completion, LLMRequest, ScoredText, ScoreRequest, TokenLogprobs


class VLLMEngine:
    """An `LLMBackend` over `vllm.LLM`.

        backend = VLLMEngine("Qwen/Qwen2.5-7B-Instruct", lora_path="adapters/student")
    """

    exact_token_counts = True

    def __init__(self, model: str, *, lora_path: str | None = None,
                 engine_args: dict[str, Any] | None = None) -> None:
        self.model = model
        self.name = f"vllm:{model}" + (f"+lora:{lora_path}" if lora_path else "")
        self.lora_path = lora_path
        self.engine_args = dict(engine_args or {})
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        """The `vllm.LLM`, created on first use."""
        if self._engine is None:
            vllm = require("vllm", "vllm")
            args = {"enable_lora": self.lora_path is not None, **self.engine_args}
            self._engine = vllm.LLM(model=self.model, **args)
        return self._engine

    def warm_up(self) -> None:
        """Start the engine (loads weights onto the GPU)."""
        _ = self.engine

    def _sampling(self, request: LLMRequest) -> Any:
        from vllm import SamplingParams

        params = request.params
        kwargs: dict[str, Any] = {"temperature": params.temperature, "top_p": params.top_p,
                                  "max_tokens": params.max_tokens, "seed": params.seed,
                                  "stop": list(params.stop) or None}
        if params.logprobs:  # the chosen token's own log-prob (vLLM's raw logprobs)
            kwargs["logprobs"] = 0
        schema = request.json_schema()
        if schema is not None:
            kwargs.update(_structured(schema))
        return SamplingParams(**kwargs)

    def _lora(self) -> Any:
        if self.lora_path is None:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest("kgx-adapter", 1, self.lora_path)

    def complete(self, requests: Sequence[LLMRequest]) -> list[Completion | LLMError]:
        """All requests in one `LLM.chat` call; vLLM batches them on the GPU."""
        if not requests:
            return []
        conversations = [[m.model_dump() for m in r.messages] for r in requests]
        outputs = self.engine.chat(conversations, [self._sampling(r) for r in requests],
                                   lora_request=self._lora(), use_tqdm=False)
        results: list[Completion | LLMError] = []
        for output in outputs:
            best = output.outputs[0]
            results.append(Completion(best.text, len(output.prompt_token_ids),
                                      len(best.token_ids), best.finish_reason or "stop",
                                      _logprobs(best)))
        return results

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoredText]:
        """Prompt log-probs (`prompt_logprobs=0`) of each full text."""
        from vllm import SamplingParams

        tokenizer = self.engine.get_tokenizer()
        texts = [r.prompt + r.continuation for r in requests]
        params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        outputs = self.engine.generate(texts, params, lora_request=self._lora(), use_tqdm=False)
        scored = []
        for request, output in zip(requests, outputs, strict=True):
            ids = output.prompt_token_ids
            prompt_len = len(tokenizer(request.prompt, add_special_tokens=True)["input_ids"])
            if output.prompt_logprobs is None:
                raise LLMCapabilityError(f"{self.name}: vLLM returned no prompt log-probs.")
            rows = output.prompt_logprobs[max(prompt_len, 1):]
            chosen = ids[max(prompt_len, 1):]
            scored.append(ScoredText(
                tuple(tokenizer.convert_ids_to_tokens(chosen)),
                tuple(row[token].logprob for row, token in zip(rows, chosen, strict=True))))
        return scored

    def next_tokens(self, prefixes: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        """Top log-probs (`logprobs=k`) of one greedy token after each prefix, in one call."""
        from vllm import SamplingParams

        if not prefixes:
            return []
        params = SamplingParams(max_tokens=1, logprobs=k, temperature=0.0)
        outputs = self.engine.generate(list(prefixes), params, lora_request=self._lora(),
                                       use_tqdm=False)
        results = []
        for output in outputs:
            steps = output.outputs[0].logprobs
            if not steps:
                raise LLMCapabilityError(f"{self.name}: vLLM returned no next-token log-probs.")
            # The sampled token is added to the top k; greedy, it is already among them.
            ranked = sorted(steps[0].values(), key=lambda lp: lp.logprob, reverse=True)[:k]
            results.append([(lp.decoded_token or "", float(lp.logprob)) for lp in ranked])
        return results

    def count_tokens(self, text: str) -> int:
        """Exact, with the engine's tokenizer."""
        return len(self.engine.get_tokenizer()(text, add_special_tokens=False)["input_ids"])

    def count_prompt_tokens(self, request: LLMRequest) -> int:
        """Exact: the messages through the model's chat template."""
        tokenizer = self.engine.get_tokenizer()
        return len(tokenizer.apply_chat_template([m.model_dump() for m in request.messages],
                                                 add_generation_prompt=True, tokenize=True))

    def close(self) -> None:
        """Drop the engine (vLLM frees GPU memory when it is garbage-collected)."""
        self._engine = None


def _structured(schema: dict[str, Any]) -> dict[str, Any]:
    """Structured-output sampling kwargs across vLLM versions (`structured_outputs` from 0.10.2)."""
    try:
        from vllm.sampling_params import StructuredOutputsParams

        return {"structured_outputs": StructuredOutputsParams(json=schema)}
    except ImportError:
        from vllm.sampling_params import GuidedDecodingParams

        return {"guided_decoding": GuidedDecodingParams(json=schema)}


def _logprobs(output: Any) -> TokenLogprobs | None:
    """A vLLM completion's chosen tokens as (text, log-prob), or None without logprobs: each
    step's dict holds the sampled token's `Logprob` (with `logprobs=0`, only that one)."""
    steps = getattr(output, "logprobs", None)
    if not steps:
        return None
    return tuple((step[token].decoded_token or "", float(step[token].logprob))
                 for token, step in zip(output.token_ids, steps, strict=True))

